// The RateLimiter contract (services/ports/rate-limiter.ts, docs/architecture.md §4 and §5),
// written once and run against every adapter: the in-memory one in the `unit` project, Redis in the
// integration suites. Every test uses fresh keys. Rates are chosen so that the time between two
// calls to a real server, even on a busy machine, refills far less than one token (a token takes
// 500 ms or more).
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RateLimiter } from './rate-limiter.js';

export interface RateLimiterFixture {
  rateLimiter: RateLimiter;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function rateLimiterContract(name: string, make: () => Promise<RateLimiterFixture>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let fx: RateLimiterFixture;
    const elapse = (ms: number): Promise<void> => (fx.elapse ? fx.elapse(ms) : sleep(ms));
    let rl: RateLimiter;
    const key = (): string => `rl:${randomUUID()}`;

    beforeEach(async () => {
      fx = await make();
      rl = fx.rateLimiter;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('allows a burst, then refuses with a positive retryAfterMs', async () => {
      const k = key();
      for (let i = 0; i < 5; i++) expect(await rl.take(k, 1, 5)).toEqual({ allowed: true, retryAfterMs: 0 });
      const refused = await rl.take(k, 1, 5);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
      expect((await rl.take(k, 1, 5)).allowed).toBe(false);
    });

    it('tokens come back over time, as retryAfterMs says, but never beyond the burst', async () => {
      const k = key();
      expect((await rl.take(k, 2, 2)).allowed).toBe(true);
      expect((await rl.take(k, 2, 2)).allowed).toBe(true);
      const refused = await rl.take(k, 2, 2);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(500);

      await elapse(refused.retryAfterMs + 40);
      expect((await rl.take(k, 2, 2)).allowed).toBe(true);

      // 2.5 s at 2/s would be 5 tokens; the bucket holds 2.
      await elapse(2500);
      expect((await rl.take(k, 2, 2)).allowed).toBe(true);
      expect((await rl.take(k, 2, 2)).allowed).toBe(true);
      expect((await rl.take(k, 2, 2)).allowed).toBe(false);
    });

    it('cost takes several tokens at once', async () => {
      const k = key();
      expect((await rl.take(k, 1, 5, 3)).allowed).toBe(true);
      const refused = await rl.take(k, 1, 5, 3);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect((await rl.take(k, 1, 5, 2)).allowed).toBe(true);
      expect((await rl.take(k, 1, 5, 1)).allowed).toBe(false);
    });

    it('keys are independent', async () => {
      const [a, b] = [key(), key()];
      expect((await rl.take(a, 1, 2)).allowed).toBe(true);
      expect((await rl.take(a, 1, 2)).allowed).toBe(true);
      expect((await rl.take(a, 1, 2)).allowed).toBe(false);
      expect((await rl.take(b, 1, 2)).allowed).toBe(true);
      expect((await rl.take(b, 1, 2)).allowed).toBe(true);
      expect((await rl.take(b, 1, 2)).allowed).toBe(false);
      expect((await rl.take(a, 1, 2)).allowed).toBe(false);
    });

    it('concurrent takes never hand out more than the burst', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 20 }, () => rl.take(k, 1, 5)));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
    });
  });
}
