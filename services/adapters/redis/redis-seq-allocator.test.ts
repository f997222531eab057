import { describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/topology.js';
import { reserveAt } from './redis-seq-allocator.js';

describe('reserveAt: where in a block the next one is reserved', () => {
  const keys = Array.from({ length: 200 }, (_, i) => redisKeys.seq('bench', `s:p${i}a:p${i}b`));

  it('is a share between 0.5 and 0.8 of the block, the same every time for a conversation', () => {
    for (const key of keys) {
      expect(reserveAt(key)).toBeGreaterThanOrEqual(0.5);
      expect(reserveAt(key)).toBeLessThan(0.8);
      expect(reserveAt(key)).toBe(reserveAt(key));
    }
  });

  it('spreads conversations with similar keys over the whole range', () => {
    const tenths = new Array<number>(10).fill(0);
    for (const key of keys) tenths[Math.floor(((reserveAt(key) - 0.5) / 0.3) * 10)]! += 1;
    // 200 keys over ten equal slices: none empty, none with more than a fifth of them.
    expect(Math.min(...tenths)).toBeGreaterThan(0);
    expect(Math.max(...tenths)).toBeLessThanOrEqual(40);
  });
});
