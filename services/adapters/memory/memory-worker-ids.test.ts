import { workerIdsContract } from '../../ports/worker-ids.contract.js';
import { MemoryWorkerIds } from './memory-worker-ids.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
workerIdsContract('memory', async () => {
  let now = Date.now();
  return {
    workerIds: new MemoryWorkerIds(() => now),
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
