// The overload figures shared by bench/overload.ts (embedded) and the overload phase of
// bench/dist-chat.ts (distributed): what a run offered at a multiple of the measured capacity
// delivered, what it refused, how fast, and what the accepted sends saw (ADR 0021).
import type { WorkerResult } from './chat-worker.js';
import { Histogram, median, round } from './common.js';

/** Targets at 2× capacity offered, open loop. */
export const OVERLOAD_TARGETS = {
  /** Delivered per second over the capacity measured closed-loop just before. */
  goodputOfCapacity: 0.8,
  /** The refusals come back at once: p99 from the send to its refusal. */
  refuseP99Ms: 100,
};

export interface OverloadFigures {
  capacityPerSec: number;
  offeredPerSec: number;
  deliveredPerSec: number;
  /** deliveredPerSec / capacityPerSec */
  goodputOfCapacity: number;
  /** Sends of the window answered with an error, per second, and every error by code (whole run). */
  refusedPerSec: number;
  errors: Record<string, number>;
  /** Share of the refusals (whole run) that carried a retry hint. */
  refusedWithRetryHint: number;
  refuse: ReturnType<Histogram['summaryMs']>;
  ack: ReturnType<Histogram['summaryMs']>;
  deliver: ReturnType<Histogram['summaryMs']>;
  /** Sends neither acked nor refused once the run drained (timed out or lost in a queue). */
  unanswered: number;
  lost: number;
  duplicates: number;
}

/** The overload figures of one run from its workers' results. */
export function overloadFigures(results: WorkerResult[], capacityPerSec: number, durationMs: number): OverloadFigures {
  const ack = new Histogram();
  const deliver = new Histogram();
  const refuse = new Histogram();
  const errors: Record<string, number> = {};
  for (const r of results) {
    ack.merge(r.ackLatency);
    deliver.merge(r.deliverLatency);
    refuse.merge(r.refuseLatency);
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  const sum = (k: keyof WorkerResult) => results.reduce((s, r) => s + (r[k] as number), 0);
  const secs = durationMs / 1000;
  const deliveredPerSec = round(sum('deliveredInWindow') / secs, 0);
  const refused = sum('refused');
  return {
    capacityPerSec: round(capacityPerSec, 0),
    offeredPerSec: round(sum('sentInWindow') / secs, 0),
    deliveredPerSec,
    goodputOfCapacity: round(deliveredPerSec / Math.max(1, capacityPerSec), 3),
    refusedPerSec: round(sum('refusedInWindow') / secs, 0),
    errors,
    refusedWithRetryHint: refused > 0 ? round(sum('refusedWithRetryHint') / refused, 3) : NaN,
    refuse: refuse.summaryMs(),
    ack: ack.summaryMs(),
    deliver: deliver.summaryMs(),
    // 'unacked' counts refused sends too: the unanswered ones are the rest.
    unanswered: sum('unacked') - refused,
    lost: sum('lost'),
    duplicates: sum('duplicates'),
  };
}

/**
 * The share of capacity a server keeps at `factor` × capacity offered with the CPU it had for the
 * capacity, when a delivered message costs it `s` and a refusal `r` (µs): it spends
 * A·s + (f·C − A)·r = C·s, so A / C = (s − f·r) / (s − r).
 */
export function modelledGoodput(s: number, r: number, factor: number): number {
  if (!Number.isFinite(s) || !Number.isFinite(r)) return NaN;
  // Refusals at f × capacity would take all the CPU the capacity had: nothing gets through.
  if (factor * r >= s) return 0;
  return round((s - factor * r) / (s - r), 3);
}

/** Medians over runs (correctness summed). */
export function summarizeOverload(runs: OverloadFigures[]) {
  const m = (f: (r: OverloadFigures) => number) => median(runs.map(f));
  const range = (f: (r: OverloadFigures) => number) => {
    const v = runs.map(f).filter(Number.isFinite);
    return v.length ? [Math.min(...v), Math.max(...v)] : [NaN, NaN];
  };
  return {
    runs: runs.length,
    capacityPerSec: m((r) => r.capacityPerSec),
    offeredPerSec: m((r) => r.offeredPerSec),
    deliveredPerSec: m((r) => r.deliveredPerSec),
    goodputOfCapacity: m((r) => r.goodputOfCapacity),
    goodputOfCapacityRange: range((r) => r.goodputOfCapacity),
    refusedPerSec: m((r) => r.refusedPerSec),
    refusedWithRetryHint: m((r) => r.refusedWithRetryHint),
    refuseP50Ms: m((r) => r.refuse.p50),
    refuseP99Ms: m((r) => r.refuse.p99),
    ackP50Ms: m((r) => r.ack.p50),
    ackP99Ms: m((r) => r.ack.p99),
    ackP99MsRange: range((r) => r.ack.p99),
    deliverP50Ms: m((r) => r.deliver.p50),
    deliverP99Ms: m((r) => r.deliver.p99),
    deliverP99MsRange: range((r) => r.deliver.p99),
    errorCodes: [...new Set(runs.flatMap((r) => Object.keys(r.errors)))],
    unanswered: runs.reduce((s, r) => s + r.unanswered, 0),
    lost: runs.reduce((s, r) => s + r.lost, 0),
    duplicates: runs.reduce((s, r) => s + r.duplicates, 0),
  };
}

export type OverloadSummary = ReturnType<typeof summarizeOverload>;

/** Whether the summary meets the overload targets: goodput, refusals at once, each with a retry hint, only IM_UNAVAILABLE. */
export function overloadVerdict(s: OverloadSummary) {
  return {
    goodputOfCapacity: {
      target: OVERLOAD_TARGETS.goodputOfCapacity,
      actual: s.goodputOfCapacity,
      met: s.goodputOfCapacity >= OVERLOAD_TARGETS.goodputOfCapacity,
    },
    refuseP99Ms: { target: OVERLOAD_TARGETS.refuseP99Ms, actual: s.refuseP99Ms, met: s.refuseP99Ms <= OVERLOAD_TARGETS.refuseP99Ms },
    refusedWithRetryHint: { target: 1, actual: s.refusedWithRetryHint, met: s.refusedWithRetryHint === 1 },
    // The senders' refusals (receivers' push acks refused under overload count apart, as receiver:CODE).
    refusedCode: {
      target: 'IM_UNAVAILABLE',
      actual: s.errorCodes.join(', '),
      met: s.errorCodes.every((c) => c === 'IM_UNAVAILABLE' || c === 'receiver:IM_UNAVAILABLE'),
    },
    exactlyOnce: { target: 0, actual: s.lost + s.duplicates, met: s.lost === 0 && s.duplicates === 0 },
  };
}
