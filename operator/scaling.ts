// Autoscaling decisions. Pure: recommend() turns a metric into a replica count; Stabilizer keeps
// per-component history so that scale-up is immediate but bounded by maxStepUp, and scale-down
// goes only to the highest recommendation seen during the stabilisation window and by at most
// maxStepDown per decision (the HorizontalPodAutoscaler's behaviour, with steps in pods).

export interface ScalePolicy {
  minReplicas: number;
  maxReplicas: number;
  /** Metric units one pod should carry (connections per pod, messages of backlog per pod). */
  target: number;
  stabilizationWindowSeconds: number;
  maxStepUp: number;
  maxStepDown: number;
}

export interface ScaleDecision {
  /** Replicas to run now. */
  replicas: number;
  /** The raw recommendation before stabilisation and step bounds. */
  recommended: number;
  reason: string;
}

export function clamp(n: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, n));
}

/** Pods needed for `total` units at `target` per pod, within bounds. */
export function recommend(total: number, policy: ScalePolicy): number {
  return clamp(Math.ceil(Math.max(0, total) / policy.target), policy.minReplicas, policy.maxReplicas);
}

export class Stabilizer {
  private readonly history = new Map<string, Array<{ at: number; value: number }>>();
  /** When each key was first seen: no scale-down before a whole window has been observed. */
  private readonly since = new Map<string, number>();

  /**
   * The next replica count for `key` given the current count and the metric total.
   * `now` is injectable for tests.
   */
  decide(key: string, current: number, total: number, policy: ScalePolicy, now = Date.now()): ScaleDecision {
    const recommended = recommend(total, policy);
    const windowMs = policy.stabilizationWindowSeconds * 1000;
    const list = (this.history.get(key) ?? []).filter((h) => h.at > now - windowMs);
    list.push({ at: now, value: recommended });
    this.history.set(key, list);
    if (!this.since.has(key)) this.since.set(key, now);
    const observedWholeWindow = now - this.since.get(key)! >= windowMs;

    // Bounds changed under us (spec edit): go straight to them.
    if (current < policy.minReplicas) return { replicas: policy.minReplicas, recommended, reason: `below minReplicas ${policy.minReplicas}` };
    if (current > policy.maxReplicas) return { replicas: policy.maxReplicas, recommended, reason: `above maxReplicas ${policy.maxReplicas}` };

    if (recommended > current) {
      const replicas = Math.min(recommended, current + policy.maxStepUp);
      return { replicas, recommended, reason: `load ${total} needs ${recommended} pods at ${policy.target} per pod${replicas < recommended ? ` (step limited to +${policy.maxStepUp})` : ''}` };
    }
    // Scale down only as far as the highest recommendation within the window allows.
    const stabilized = Math.max(...list.map((h) => h.value));
    if (!observedWholeWindow && recommended < current) {
      return { replicas: current, recommended, reason: `holding: load observed for less than the stabilisation window (${policy.stabilizationWindowSeconds}s)` };
    }
    if (stabilized >= current) {
      return { replicas: current, recommended, reason: recommended < current ? `holding: the stabilisation window (${policy.stabilizationWindowSeconds}s) saw a need for ${stabilized}` : 'at target' };
    }
    const replicas = Math.max(stabilized, current - policy.maxStepDown);
    return { replicas, recommended, reason: `load ${total} needs ${stabilized} pods over the last ${policy.stabilizationWindowSeconds}s${replicas > stabilized ? ` (step limited to -${policy.maxStepDown})` : ''}` };
  }

  forget(prefix: string): void {
    for (const key of [...this.history.keys()]) if (key.startsWith(prefix)) this.history.delete(key);
    for (const key of [...this.since.keys()]) if (key.startsWith(prefix)) this.since.delete(key);
  }
}
