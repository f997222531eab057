import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter } from '../adapters/memory/memory-rate-limiter.js';
import type { RateDecision, RateLimiter } from '../ports/rate-limiter.js';
import { AppQuotas, leaseBlock } from './app-quotas.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('AppQuotas', () => {
  it('lets two gates together through about the app rate, with a burst of 100 ms of it, not each its own', async () => {
    let now = 1_000_000;
    const shared = new MemoryRateLimiter(() => now);
    const gates = [
      new AppQuotas(
        shared,
        () => undefined,
        () => now,
      ),
      new AppQuotas(
        shared,
        () => undefined,
        () => now,
      ),
    ];
    const rate = 200;
    const burst = Math.max(2 * leaseBlock(rate), rate / 10);
    const flood = async () => {
      let allowed = 0;
      for (let round = 0; round < 100; round++) {
        for (const g of gates) for (let i = 0; i < 10; i++) if (g.take('acme', rate, 1).allowed) allowed++;
        await turn();
      }
      return allowed;
    };
    // In one instant: the shared burst and each gate's first block on credit, no more.
    const first = await flood();
    expect(first).toBeGreaterThanOrEqual(burst);
    expect(first).toBeLessThanOrEqual(burst + 2 * leaseBlock(rate));
    // Over the next second, step by step: about the rate (a block of slack per gate), not twice it.
    let later = 0;
    for (let step = 0; step < 20; step++) {
      now += 50;
      later += await flood();
    }
    expect(later).toBeGreaterThanOrEqual(rate * 0.8);
    expect(later).toBeLessThanOrEqual(rate + burst + 2 * leaseBlock(rate));
  });

  it('keeps apps apart and says when to retry', async () => {
    const now = 5_000;
    const quotas = new AppQuotas(
      new MemoryRateLimiter(() => now),
      () => undefined,
      () => now,
    );
    let refused: RateDecision | undefined;
    for (let i = 0; i < 1_000 && !refused; i++) {
      const d = quotas.take('noisy', 100, 1);
      if (!d.allowed) refused = d;
      await turn();
    }
    expect(refused?.retryAfterMs).toBeGreaterThan(0);
    expect(quotas.take('quiet', 100, 1).allowed).toBe(true);
  });

  it('lets frames through when the shared limiter fails, and reports the failure', async () => {
    const failing: RateLimiter = { take: () => Promise.reject(new Error('redis down')) };
    const errors: unknown[] = [];
    const quotas = new AppQuotas(failing, (e) => errors.push(e));
    let allowed = 0;
    for (let i = 0; i < 50; i++) {
      if (quotas.take('acme', 20, 1).allowed) allowed++;
      await turn();
    }
    expect(allowed).toBe(50);
    expect(errors.length).toBeGreaterThan(0);
  });
});
