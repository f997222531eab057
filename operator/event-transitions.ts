// Which Events a cluster's changes call for: one when it is paused or resumed, when its spec
// becomes one the roles would refuse, when its canary changes state, when its phase becomes
// Ready or Degraded, when a new version starts rolling out — not one per reconcile. What was
// last announced is kept in memory per cluster, so a restarted operator announces the current
// phase and canary once more. No I/O: the caller records what these return.
import type { ImCluster, ImClusterStatus } from './api/imcluster.js';
import type { CanaryTransition } from './canary.js';
import type { EventType } from './events.js';

export interface TransitionEvent {
  type: EventType;
  reason: string;
  message: string;
}

interface Announced {
  paused?: boolean;
  invalidSpec?: string;
  /** The last CanaryTransition's marker. */
  canary?: string;
  phase?: string;
  version?: string;
}

export class EventTransitions {
  private readonly announced = new Map<string, Announced>();

  paused(key: string, paused: boolean): TransitionEvent[] {
    if (paused === Boolean(this.get(key).paused)) return [];
    this.update(key, { paused });
    return [
      paused
        ? {
            type: 'Normal',
            reason: 'Paused',
            message: 'reconciliation paused by the imcloud.dev/paused annotation: the operator changes nothing until it is removed',
          }
        : { type: 'Normal', reason: 'Resumed', message: 'reconciliation resumed' },
    ];
  }

  /** `invalidSpec`: why the spec cannot be rolled out, or undefined once it can. */
  invalidSpec(key: string, invalidSpec: string | undefined): TransitionEvent[] {
    if (invalidSpec === this.get(key).invalidSpec) return [];
    this.update(key, { invalidSpec });
    return invalidSpec
      ? [{ type: 'Warning', reason: 'InvalidSpec', message: `${invalidSpec}; nothing is rolled out until it is fixed` }]
      : [];
  }

  canary(key: string, transition: CanaryTransition | undefined): TransitionEvent[] {
    if (!transition || transition.marker === this.get(key).canary) return [];
    this.update(key, { canary: transition.marker });
    return [{ type: 'Normal', reason: transition.reason, message: transition.message }];
  }

  /** The status about to be written: Ready or Degraded when the phase becomes one, RollingOut when spec.version moves on. */
  status(key: string, c: ImCluster, status: ImClusterStatus, paused: boolean): TransitionEvent[] {
    const out: TransitionEvent[] = [];
    if (status.phase !== this.get(key).phase) {
      if (status.phase === 'Ready')
        out.push({ type: 'Normal', reason: 'Ready', message: `every component is ready (version ${status.version ?? c.spec.version})` });
      if (status.phase === 'Degraded')
        out.push({
          type: 'Warning',
          reason: 'Degraded',
          message: status.conditions?.find((x) => x.type === 'Degraded')?.message ?? 'degraded',
        });
      this.update(key, { phase: status.phase });
    }
    // Against what the status said last when this process has not seen the cluster yet: a restart announces no rollout.
    if (c.spec.version !== (this.get(key).version ?? c.status?.version) && !paused) {
      if (c.status?.version && c.status.version !== c.spec.version)
        out.push({ type: 'Normal', reason: 'RollingOut', message: `rolling out version ${c.spec.version} (from ${c.status.version})` });
      this.update(key, { version: c.spec.version });
    }
    return out;
  }

  forget(key: string): void {
    this.announced.delete(key);
  }

  private get(key: string): Announced {
    return this.announced.get(key) ?? {};
  }

  private update(key: string, change: Announced): void {
    this.announced.set(key, { ...this.get(key), ...change });
  }
}
