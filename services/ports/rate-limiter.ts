// Token buckets shared by every process of a role (per-app limits).

export interface RateDecision {
  allowed: boolean;
  /** When not allowed: how long until one token is back. */
  retryAfterMs: number;
}

export interface RateLimiter {
  take(key: string, ratePerSec: number, burst: number, cost?: number): Promise<RateDecision>;
}
