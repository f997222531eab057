import type { RateDecision, RateLimiter } from '../../ports/rate-limiter.js';
import { TokenBucket } from '../../shared/token-bucket.js';

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly now: () => number = Date.now) {}

  async take(key: string, ratePerSec: number, burst: number, cost = 1): Promise<RateDecision> {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(ratePerSec, burst, this.now)));
    return bucket.take(cost);
  }
}
