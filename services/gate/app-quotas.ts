// Per-app frame limits that hold across every gate. Asking the shared rate limiter (Redis in the
// distributed mode) for every frame would cost a round trip per frame; instead each gate spends
// a local allowance that it leases from the shared limiter in blocks of ~50 ms of the app's
// rate, and asks for the next block while half of the current one is left. A tenant's frames
// beyond its rate are refused at the gate, before they reach the bus, logic or the store, so
// they cannot take another tenant's share of them.
import { LRUCache } from 'lru-cache';
import type { RateDecision, RateLimiter } from '../ports/rate-limiter.js';

interface Allowance {
  tokens: number;
  leasing: boolean;
  /** The shared limiter refused a block: no new lease before then. */
  deniedUntil: number;
}

/** Tokens per lease: 50 ms of the rate, within [1, 500]. */
export function leaseBlock(ratePerSec: number): number {
  return Math.max(1, Math.min(500, Math.ceil(ratePerSec / 20)));
}

export class AppQuotas {
  // Keyed by authenticated AppIds only; bounded all the same.
  private readonly apps = new LRUCache<string, Allowance>({ max: 50_000 });

  constructor(
    private readonly limiter: RateLimiter,
    /** Called when the shared limiter fails; the gate then lets the frames through (fail open). */
    private readonly onLimiterError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  take(appId: string, ratePerSec: number, cost: number): RateDecision {
    let a = this.apps.get(appId);
    if (!a) {
      // A first block on credit, so that an app's first frames on a gate do not wait for a lease.
      a = { tokens: leaseBlock(ratePerSec), leasing: false, deniedUntil: 0 };
      this.apps.set(appId, a);
    }
    if (a.tokens >= cost) {
      a.tokens -= cost;
      if (a.tokens < leaseBlock(ratePerSec) / 2) this.lease(appId, a, ratePerSec);
      return { allowed: true, retryAfterMs: 0 };
    }
    this.lease(appId, a, ratePerSec);
    const wait = Math.max(a.deniedUntil - this.now(), Math.ceil((cost * 1000) / ratePerSec));
    return { allowed: false, retryAfterMs: wait };
  }

  private lease(appId: string, a: Allowance, ratePerSec: number): void {
    if (a.leasing || a.deniedUntil > this.now()) return;
    a.leasing = true;
    const block = leaseBlock(ratePerSec);
    // A burst of 100 ms of the rate at most: an app whose clients come back all at once after a
    // pause is let in at its rate, not with a second's worth in one instant.
    this.limiter.take(`gate-app:${appId}`, ratePerSec, Math.max(2 * block, Math.ceil(ratePerSec / 10)), block).then(
      (d) => {
        a.leasing = false;
        if (d.allowed) a.tokens += block;
        else a.deniedUntil = this.now() + d.retryAfterMs;
      },
      (err: unknown) => {
        a.leasing = false;
        a.tokens += block;
        this.onLimiterError(err);
      },
    );
  }
}
