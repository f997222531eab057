// Autoscaling decisions. Pure: recommend() turns a metric into a replica count; Stabilizer keeps
// per-component history so that scale-up is immediate but bounded by maxStepUp, and scale-down
// goes only to the highest recommendation seen during the stabilisation window and by at most
// maxStepDown per decision (the HorizontalPodAutoscaler's behaviour, with steps in pods). Below
// them, what autoscales and the load that drives it: each Deployment's policy, gate load per
// pool, the replicas a plan applies, the deletion costs before a gate pool shrinks.
import type { GateInfo } from '../services/ports/routes.js';
import type { BacklogAutoscale, CpuAutoscale, GateAutoscale, ImCluster } from './api/imcluster.js';
import type { KubeObject } from './kube/client.js';
import { A, fileDeployed, names } from './objects/common.js';

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
    if (current < policy.minReplicas)
      return { replicas: policy.minReplicas, recommended, reason: `below minReplicas ${policy.minReplicas}` };
    if (current > policy.maxReplicas)
      return { replicas: policy.maxReplicas, recommended, reason: `above maxReplicas ${policy.maxReplicas}` };

    if (recommended > current) {
      const replicas = Math.min(recommended, current + policy.maxStepUp);
      return {
        replicas,
        recommended,
        reason: `load ${total} needs ${recommended} pods at ${policy.target} per pod${replicas < recommended ? ` (step limited to +${policy.maxStepUp})` : ''}`,
      };
    }
    // Scale down only as far as the highest recommendation within the window allows.
    const stabilized = Math.max(...list.map((h) => h.value));
    if (!observedWholeWindow && recommended < current) {
      return {
        replicas: current,
        recommended,
        reason: `holding: load observed for less than the stabilisation window (${policy.stabilizationWindowSeconds}s)`,
      };
    }
    if (stabilized >= current) {
      return {
        replicas: current,
        recommended,
        reason:
          recommended < current
            ? `holding: the stabilisation window (${policy.stabilizationWindowSeconds}s) saw a need for ${stabilized}`
            : 'at target',
      };
    }
    const replicas = Math.max(stabilized, current - policy.maxStepDown);
    return {
      replicas,
      recommended,
      reason: `load ${total} needs ${stabilized} pods over the last ${policy.stabilizationWindowSeconds}s${replicas > stabilized ? ` (step limited to -${policy.maxStepDown})` : ''}`,
    };
  }

  /** Drops the history of these keys (a cluster's Deployments, by exact key). */
  forget(keys: Iterable<string>): void {
    for (const key of keys) {
      this.history.delete(key);
      this.since.delete(key);
    }
  }
}

// ── what autoscales, and by how much load ─────────────────────────────────────────────────────

/** How a Deployment autoscales: its policy, what kind of load drives it, and its gate pool. */
export interface AutoscaledDeployment {
  policy: ScalePolicy;
  kind: 'gate' | 'logic' | 'consumer' | 'file';
  pool?: string;
}

/** The autoscale policy of the cluster's Deployment `deployment`, if the spec has one. */
export function autoscalePolicyFor(c: ImCluster, deployment: string): AutoscaledDeployment | undefined {
  const cname = c.metadata.name;
  const behaviour = (a: GateAutoscale | BacklogAutoscale | CpuAutoscale, target: number): ScalePolicy => ({
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    target,
    stabilizationWindowSeconds: a.stabilizationWindowSeconds,
    maxStepUp: a.maxStepUp,
    maxStepDown: a.maxStepDown,
  });
  for (const p of c.spec.gate.pools) {
    if (p.autoscale && names.gate(cname, p.name) === deployment)
      return { policy: behaviour(p.autoscale, p.autoscale.targetConnectionsPerPod), kind: 'gate', pool: p.name };
  }
  for (const role of ['logic', 'consumer'] as const) {
    const a = c.spec[role].autoscale;
    if (a && names.role(cname, role) === deployment) return { policy: behaviour(a, a.targetBacklogPerReplica), kind: role };
  }
  const file = c.spec.file?.autoscale;
  if (file && fileDeployed(c) && names.role(cname, 'file') === deployment)
    return { policy: behaviour(file, file.targetCpuMillicoresPerPod), kind: 'file' };
  return undefined;
}

// ── CPU of the file role's pods (metrics.k8s.io PodMetrics) ────────────────────────────────────

/** A CPU quantity (`250m`, `1`, `1.5`, `12345678n`, `300u`) in millicores; NaN when it is not one. */
export function cpuMillicores(quantity: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(n|u|m|k|M|G)?$/.exec(quantity.trim());
  if (!m) return Number.NaN;
  const factor = { n: 1e-6, u: 1e-3, m: 1, '': 1000, k: 1e6, M: 1e9, G: 1e12 }[m[2] ?? '']!;
  return Number(m[1]) * factor;
}

export interface PodMetrics {
  metadata: { name: string };
  containers?: Array<{ name: string; usage?: { cpu?: string } }>;
}

/**
 * Millicores used by `items` (PodMetrics listed by the Deployment's pod selector), every container
 * summed. A pod with no sample yet counts 0: the stabilisation window keeps that from scaling down.
 */
export function podsCpuMillicores(items: PodMetrics[]): number {
  let total = 0;
  for (const pod of items) {
    for (const c of pod.containers ?? []) {
      const m = cpuMillicores(c.usage?.cpu ?? '0');
      if (Number.isFinite(m)) total += m;
    }
  }
  return Math.round(total);
}

/**
 * The reports of the cluster's own gates that are recent enough. A gate's id is its pod name,
 * `<cluster>-gate-<pool>-…`: two clusters that share one Redis are told apart by their names.
 */
export function clusterGateReports(reports: GateInfo[], cluster: string, now: number, maxAgeMs: number): GateInfo[] {
  return reports.filter((g) => (g.reportedAt ?? now) > now - maxAgeMs && g.id.startsWith(`${cluster}-gate-`));
}

export function totalConnections(reports: GateInfo[]): number {
  return reports.reduce((n, g) => n + (g.connections ?? 0), 0);
}

/** Connections on the stable gates of one pool's Deployment; draining gates are on their way out and do not count. */
export function poolConnections(reports: GateInfo[], deployment: string): number {
  return totalConnections(reports.filter((g) => g.id.startsWith(`${deployment}-`) && !g.draining && (g.track ?? 'stable') === 'stable'));
}

/**
 * spec.replicas of a Deployment: none while an HPA owns it (ADR 0104), else the spec's fixed
 * count, else the autoscaler's decision or, before its first one, the live count (an operator
 * restart does not reset a scaled Deployment), within the bounds.
 */
export function replicasToApply(o: {
  hpa: boolean;
  fixed: number | undefined;
  autoscale: { minReplicas: number; maxReplicas: number } | undefined;
  decided: number | undefined;
  live: number | undefined;
  fallback: number;
}): number | undefined {
  if (o.hpa) return undefined;
  if (o.fixed !== undefined) return o.fixed;
  if (o.autoscale) return clamp(o.decided ?? o.live ?? o.autoscale.minReplicas, o.autoscale.minReplicas, o.autoscale.maxReplicas);
  return o.fallback;
}

/**
 * controller.kubernetes.io/pod-deletion-cost for a gate pool's pods before it shrinks: each
 * pod's connections (the ReplicaSet controller removes the lowest first, so the least-loaded
 * gates drain). Only the pods whose annotation changes.
 */
export function deletionCosts(
  pods: KubeObject[],
  reports: Array<{ id: string; connections: number }>,
): Array<{ pod: string; cost: string }> {
  const load = new Map(reports.map((r) => [r.id, r.connections]));
  return pods.flatMap((pod) => {
    const cost = String(Math.min(2_147_483_647, load.get(pod.metadata.name) ?? 0));
    return pod.metadata.annotations?.[A.deletionCost] === cost ? [] : [{ pod: pod.metadata.name, cost }];
  });
}
