import { rateLimiterContract } from '../../ports/rate-limiter.contract.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';

rateLimiterContract('memory', async () => ({ rateLimiter: new MemoryRateLimiter(), cleanup: async () => {} }));
