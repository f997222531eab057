import { describe, expect, it } from 'vitest';
import { withinBytes } from './reply-size.js';

const sizes = (xs: number[]) => withinBytes(xs, 100, (x) => x);

describe('withinBytes', () => {
  it('keeps the first items that fit, or the last ones from the end', () => {
    expect(sizes([40, 40, 40, 40])).toEqual([40, 40]);
    expect(withinBytes([10, 20, 30, 60], 100, (x) => x, true)).toEqual([30, 60]);
    expect(sizes([50, 50])).toEqual([50, 50]);
  });

  it('always keeps one item, however large, so that a reader moves on', () => {
    expect(sizes([500, 1])).toEqual([500]);
    expect(withinBytes([1, 500], 100, (x) => x, true)).toEqual([500]);
    expect(sizes([])).toEqual([]);
  });
});
