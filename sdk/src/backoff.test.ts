import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff (full jitter)', () => {
  it('doubles the ceiling per attempt up to the max, and draws uniformly below it', () => {
    const draws: number[] = [];
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999 });
    for (let i = 0; i < 6; i++) draws.push(b.next());
    expect(draws).toEqual([99, 199, 399, 799, 999, 999]);
    expect(b.attempts).toBe(6);
  });

  it('can return zero: the jitter is full, not half', () => {
    const b = new Backoff({ baseMs: 500, maxMs: 5000, random: () => 0 });
    expect(b.next()).toBe(0);
    expect(b.next()).toBe(0);
  });

  it('stays within [0, ceiling) with the real random source', () => {
    const b = new Backoff({ baseMs: 50, maxMs: 400 });
    for (let i = 0; i < 200; i++) {
      const ceiling = b.ceiling;
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceiling);
    }
    expect(b.ceiling).toBe(400);
  });

  it('reset starts over; setLimits follows the dispatch hint', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.5 });
    b.next();
    b.next();
    b.next();
    expect(b.ceiling).toBe(800);
    b.reset();
    expect(b.next()).toBe(50);
    b.setLimits(1000, 2000);
    expect(b.ceiling).toBe(2000);
  });

  it('never waits less than the server asked for', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.1 });
    expect(b.nextAtLeast(750)).toBe(750);
    expect(b.nextAtLeast(0)).toBe(20);
  });

  it('rejects impossible limits', () => {
    expect(() => new Backoff({ baseMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 100, maxMs: 10 })).toThrow(RangeError);
  });
});
