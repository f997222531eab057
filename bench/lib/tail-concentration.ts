// Whether the slow end of a latency distribution is one stall or spread over the run. A p99
// that comes from a stall (everything sent in one second waits) calls for finding what stalls;
// one spread evenly is queueing for a core. ADR 0018 found its bursts this way.

export interface TailConcentration {
  /** Sends slower than the threshold. */
  slower: number;
  /** The share of them sent within the busiest `spanMs` (sliding), 0–1. */
  shareInWorstSpan: number;
  /** Where that span starts, in ms into the window. */
  worstSpanFromMs: number;
}

/** `samples`: send time (ms into the window) and latency (ms), alternating, as the bench workers return them. */
export function tailConcentration(samples: number[], thresholdMs: number, spanMs = 1_000): TailConcentration {
  const times: number[] = [];
  for (let i = 0; i + 1 < samples.length; i += 2) if (samples[i + 1]! > thresholdMs) times.push(samples[i]!);
  times.sort((a, b) => a - b);
  let best = 0;
  let bestFrom = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= spanMs) lo++;
    if (hi - lo + 1 > best) {
      best = hi - lo + 1;
      bestFrom = times[lo]!;
    }
  }
  return { slower: times.length, shareInWorstSpan: times.length ? best / times.length : 0, worstSpanFromMs: bestFrom };
}
