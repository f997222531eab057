import { rateLimiterContract } from '../../ports/rate-limiter.contract.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';

// A fresh instance per test, on a manual clock: TTLs lapse at once instead of in real time.
rateLimiterContract('memory', async () => {
  let now = Date.now();
  return {
    rateLimiter: new MemoryRateLimiter(() => now),
    elapse: async (ms: number) => {
      now += ms;
    },
    cleanup: async () => {},
  };
});
