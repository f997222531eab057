// Writes an ImCluster's status after each reconcile and records the Events its changes call for.
// status.ts computes the status (pure); this gathers what it computes from — the live workloads
// (newer from the apply's answers than from the cache), who scales each Deployment, the
// autoscaler's readings, and what this reconcile planned or, without a plan, what was reported
// last — and applies the status subresource only when something changed.
import { API_VERSION, type ImCluster, type ImClusterStatus, KIND } from './api/imcluster.js';
import type { Autoscaler } from './autoscaler.js';
import type { CanaryTransition } from './canary.js';
import type { Cluster, ClusterCache } from './cluster-cache.js';
import { EventTransitions, type TransitionEvent } from './event-transitions.js';
import type { EventRecorder } from './events.js';
import { isNotFound, type KubeClient, type KubeObject, R, type Resource } from './kube/client.js';
import { keyOf } from './kube/informer.js';
import type { OperatorMetrics } from './metrics.js';
import type { CanaryPlan } from './objects/builders.js';
import { FIELD_MANAGER } from './objects/common.js';
import { objectKey } from './objects/reconcilers.js';
import { autoscalePolicyFor } from './scaling.js';
import { computeStatus, type DependencyStatus, type StatusInput, type Workload } from './status.js';

/** What a reconcile did, for the status. Paused, or with a spec that was refused, it planned nothing. */
export interface ReconcileOutcome {
  paused: boolean;
  /** The cluster is being deleted: its finalizer is running. */
  terminating?: boolean;
  errors: string[];
  invalidSpec?: string;
  canary: CanaryPlan | undefined;
  routing: { configMap: string; hash: string } | undefined;
  dependencies?: DependencyStatus;
  /** What the applies returned, by objectKey. */
  applied?: Map<string, KubeObject>;
  /** What the prune deleted, by objectKey. */
  deleted?: Set<string>;
}

export interface StatusRecorderDeps {
  kube: KubeClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  cache: ClusterCache;
  scaling: Pick<Autoscaler, 'connectionsOf' | 'lastScaleTimeOf'>;
}

export class StatusRecorder {
  private readonly transitions = new EventTransitions();

  constructor(private readonly deps: StatusRecorderDeps) {}

  notePaused(c: Cluster, paused: boolean): void {
    this.record(c, this.transitions.paused(keyOf(c), paused));
  }

  noteInvalidSpec(c: Cluster, invalidSpec: string | undefined): void {
    this.record(c, this.transitions.invalidSpec(keyOf(c), invalidSpec));
  }

  noteCanary(c: Cluster, transition: CanaryTransition | undefined): void {
    this.record(c, this.transitions.canary(keyOf(c), transition));
  }

  async write(c: Cluster, outcome: ReconcileOutcome): Promise<void> {
    const status = computeStatus(this.statusInput(c, outcome));
    this.record(c, this.transitions.status(keyOf(c), c, status, outcome.paused));
    if (canonical(status) === canonical(c.status)) return;
    try {
      await this.deps.kube.apply(
        R.imclusters,
        { apiVersion: API_VERSION, kind: KIND, metadata: { name: c.metadata.name, namespace: c.metadata.namespace }, status } as KubeObject,
        { fieldManager: FIELD_MANAGER, force: true, subresource: 'status' },
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.countPhases(c, status);
  }

  forget(key: string): void {
    this.transitions.forget(key);
  }

  private statusInput(c: Cluster, outcome: ReconcileOutcome): StatusInput {
    const key = keyOf(c);
    const deployments = current(this.deps.cache.deploymentsOf(c), R.deployments, outcome.applied, outcome.deleted);
    return {
      ...plannedOrLastReported(c, outcome),
      cluster: c,
      paused: outcome.paused,
      terminating: outcome.terminating,
      deployments,
      statefulSets: current(this.deps.cache.statefulSetsOf(c), R.statefulsets, outcome.applied, outcome.deleted),
      autoscaled: autoscaledBy(c, deployments, this.deps.cache.hpaTargets(c.metadata.namespace!)),
      errors: outcome.errors,
      invalidSpec: outcome.invalidSpec,
      connections: this.deps.scaling.connectionsOf(key) ?? c.status?.connections,
      lastScaleTime: this.deps.scaling.lastScaleTimeOf(key) ?? c.status?.lastScaleTime,
    };
  }

  /** imcloud_operator_imclusters{phase}, with `c`'s new phase. */
  private countPhases(c: Cluster, status: ImClusterStatus): void {
    const { clusters } = this.deps.metrics;
    clusters.reset();
    for (const x of this.deps.cache.clusters()) {
      const mine = x.metadata.name === c.metadata.name && x.metadata.namespace === c.metadata.namespace;
      clusters.inc({ phase: (mine ? status.phase : x.status?.phase) ?? 'Pending' });
    }
  }

  private record(c: Cluster, events: TransitionEvent[]): void {
    for (const e of events) void this.deps.events.record(c, e.type, e.reason, e.message);
  }
}

/** Each workload as the apply answered it when that is not older than the cache's copy. */
/**
 * The objects of one kind as this reconcile left them: the cache may not have seen yet what the
 * reconcile just did, so an object the apiserver answered an apply with counts when it is newer
 * than the cached one or not cached at all, and an object the reconcile deleted does not count.
 * (Computed from the cache alone, a status written right after a promotion still counted the
 * canary Deployments it had just deleted.)
 */
export function current<T extends KubeObject>(
  cached: T[],
  resource: Resource,
  applied: Map<string, KubeObject> | undefined,
  deleted?: Set<string>,
): T[] {
  const byKey = new Map<string, T>();
  for (const w of cached) {
    const answer = applied?.get(objectKey(resource, w)) as T | undefined;
    byKey.set(objectKey(resource, w), answer && Number(answer.metadata.resourceVersion) >= Number(w.metadata.resourceVersion) ? answer : w);
  }
  const prefix = `${resource.plural}/`;
  for (const [key, answer] of applied ?? []) if (key.startsWith(prefix) && !byKey.has(key)) byKey.set(key, answer as T);
  for (const key of deleted ?? []) byKey.delete(key);
  return [...byKey.values()];
}

/** Who sets each Deployment's replicas, for those that are not fixed: an HPA or the operator's autoscaler. */
export function autoscaledBy(c: ImCluster, deployments: Workload[], hpaTargets: Set<string>): Map<string, 'operator' | 'hpa'> {
  const out = new Map<string, 'operator' | 'hpa'>();
  for (const d of deployments) {
    if (hpaTargets.has(d.metadata.name)) out.set(d.metadata.name, 'hpa');
    else if (autoscalePolicyFor(c, d.metadata.name)) out.set(d.metadata.name, 'operator');
  }
  return out;
}

/** The dependencies, canary and routing this reconcile planned; without a plan (paused, or a refused spec) the ones reported last. */
export function plannedOrLastReported(c: ImCluster, o: ReconcileOutcome): Pick<StatusInput, 'dependencies' | 'canary' | 'routing'> {
  const unplanned = o.paused || Boolean(o.invalidSpec);
  const last = c.status;
  const lastDependencies = last?.conditions?.find((x) => x.type === 'DependenciesReady');
  const lastReason =
    lastDependencies?.status === 'False' && lastDependencies.reason !== 'DependenciesNotReady' ? lastDependencies.reason : undefined;
  return {
    dependencies: o.dependencies ?? {
      ready: lastDependencies?.status === 'True',
      reason: lastReason,
      message: lastDependencies?.message ?? (o.paused ? 'unknown (paused)' : 'unknown (the spec was not applied)'),
    },
    canary: o.canary ?? (unplanned && last?.canary ? { ...last.canary, promoting: last.canary.phase === 'Promoting' } : undefined),
    routing:
      o.routing ?? (last?.routingConfigMap && last.routingHash ? { configMap: last.routingConfigMap, hash: last.routingHash } : undefined),
  };
}

/** JSON with sorted keys: the apiserver does not keep our key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
