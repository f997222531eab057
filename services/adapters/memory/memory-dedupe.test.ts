import { dedupeContract } from '../../ports/dedupe.contract.js';
import { MemoryDedupe } from './memory-dedupe.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
dedupeContract('memory', async () => {
  let now = Date.now();
  return {
    dedupe: new MemoryDedupe(() => now),
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
