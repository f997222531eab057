import { fileCatalogContract } from '../../ports/file-catalog.contract.js';
import { MemoryFileCatalog } from './memory-file-catalog.js';

fileCatalogContract('memory', async () => ({ catalog: new MemoryFileCatalog(), cleanup: async () => {} }));
