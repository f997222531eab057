import { describe, expect, it } from 'vitest';
import { tailConcentration } from './tail-concentration.js';

/** One send every `everyMs` over `windowMs`; latency from `latency(t)`. */
function run(windowMs: number, everyMs: number, latency: (t: number) => number): number[] {
  const out: number[] = [];
  for (let t = 0; t < windowMs; t += everyMs) out.push(t, latency(t));
  return out;
}

describe('tailConcentration', () => {
  it('finds a stall: every slow send within one second, and where it starts', () => {
    const samples = run(15_000, 1, (t) => (t >= 7_000 && t < 7_400 ? 300 : 15));
    const tail = tailConcentration(samples, 100);
    expect(tail.slower).toBe(400);
    expect(tail.shareInWorstSpan).toBe(1);
    expect(tail.worstSpanFromMs).toBe(7_000);
  });

  it('a tail spread over the run puts only its share of the time in the busiest second', () => {
    // Every 50th send is slow, evenly through 15 s.
    const samples = run(15_000, 1, (t) => (t % 50 === 0 ? 300 : 15));
    const tail = tailConcentration(samples, 100);
    expect(tail.slower).toBe(300);
    expect(tail.shareInWorstSpan).toBeCloseTo(20 / 300, 5);
  });

  it('nothing slower than the threshold: share 0', () => {
    expect(
      tailConcentration(
        run(1_000, 10, () => 5),
        100,
      ),
    ).toEqual({ slower: 0, shareInWorstSpan: 0, worstSpanFromMs: 0 });
  });
});
