// Where a send's latency goes: imcloud_logic_send_stage_seconds{stage}, one observation per step
// of the accept path, each the time since the previous step.
import type { Metrics } from '../shared/metrics.js';

/** The steps of the accept path, in order (bus_in: from the gate through the upstream queue). */
export const SEND_STAGES = ['bus_in', 'claim', 'allocate', 'window', 'store_confirm', 'complete'] as const;
export type SendStage = (typeof SEND_STAGES)[number];
export type StageObservers = Record<SendStage, { observe(seconds: number): void }>;

/** The per-stage histogram children, resolved once (no label lookup per send). */
export function stageObservers(metrics: Metrics): StageObservers {
  return Object.fromEntries(SEND_STAGES.map((stage) => [stage, metrics.sendStages.labels({ stage })])) as unknown as StageObservers;
}

/** Observes, per stage, the time since the previous mark. */
export function stageClock(stages: StageObservers): (stage: SendStage) => void {
  let last = performance.now();
  return (stage) => {
    const t = performance.now();
    stages[stage].observe((t - last) / 1000);
    last = t;
  };
}
