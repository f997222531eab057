import { workerIdsContract } from '../../ports/worker-ids.contract.js';
import { MemoryWorkerIds } from './memory-worker-ids.js';

// A fresh instance per test: its id space is its own.
workerIdsContract('memory', async () => ({ workerIds: new MemoryWorkerIds(), cleanup: async () => {} }));
