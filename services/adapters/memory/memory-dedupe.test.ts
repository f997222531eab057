import { dedupeContract } from '../../ports/dedupe.contract.js';
import { MemoryDedupe } from './memory-dedupe.js';
import { MemorySeqAllocator } from './memory-seq-allocator.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
dedupeContract('memory', async () => {
  let now = Date.now();
  const seq = new MemorySeqAllocator();
  return {
    dedupe: new MemoryDedupe(() => now, seq),
    seq,
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
