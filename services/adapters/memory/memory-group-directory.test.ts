import { groupDirectoryContract } from '../../ports/group-directory.contract.js';
import { MemoryGroupDirectory } from './memory-group-directory.js';

groupDirectoryContract('memory', async () => ({ groups: new MemoryGroupDirectory(), cleanup: async () => {} }));
