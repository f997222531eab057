import { appRegistryContract } from '../../ports/app-registry.contract.js';
import { MemoryAppRegistry } from './memory-app-registry.js';

appRegistryContract('memory', async () => ({ apps: new MemoryAppRegistry(), cleanup: async () => {} }));
