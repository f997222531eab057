import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './retry-delay.js';

describe('retryDelayMs', () => {
  it('doubles from the base, stays within [ceiling/2, ceiling] and never passes the cap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, base, r) => {
          const max = base * 50;
          const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
          const d = retryDelayMs(attempt, base, max, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(d).toBeLessThanOrEqual(Math.ceil(ceiling));
          expect(d).toBeLessThanOrEqual(max);
        },
      ),
    );
  });

  it('grows with the attempt until the cap', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => retryDelayMs(a, 100, 2_000, top))).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });
});
