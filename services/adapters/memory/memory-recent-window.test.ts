import { recentWindowContract } from '../../ports/recent-window.contract.js';
import { MemoryRecentWindow } from './memory-recent-window.js';

recentWindowContract('memory', async () => ({ window: new MemoryRecentWindow(), cleanup: async () => {} }));
