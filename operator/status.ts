// Computes an ImCluster's status from what Kubernetes reports about its objects. Pure (the
// controller passes in the live Deployments and StatefulSets), so the rules are unit tested.
import type { ComponentStatus, Condition, ImCluster, ImClusterStatus } from './api/imcluster.js';
import type { KubeObject } from './kube/client.js';
import { L } from './objects/common.js';

export interface WorkloadStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
}

export interface Workload extends KubeObject {
  spec?: { replicas?: number; template?: { spec?: { containers?: Array<{ image?: string }> } } };
  status?: WorkloadStatus;
}

export type ConditionType = 'Ready' | 'Progressing' | 'Degraded' | 'DependenciesReady';

export interface StatusInput {
  cluster: ImCluster;
  paused: boolean;
  terminating?: boolean;
  deployments: Workload[];
  statefulSets: Workload[];
  /** Deployments whose replicas an HPA or the operator's autoscaler sets. */
  autoscaled: Map<string, 'operator' | 'hpa'>;
  /** reason: why not ready when it is one specific thing (TLSSecretNotReady); default DependenciesNotReady. */
  dependencies: { ready: boolean; message: string; reason?: string };
  canary?: { version: string; appIds: string[]; percentage: number; promoting: boolean };
  /** Errors of this reconcile (apply failures…): Degraded. */
  errors: string[];
  /** Why this generation of the spec cannot be applied (nothing was): Degraded, not Progressing. */
  invalidSpec?: string;
  connections?: number;
  routing?: { configMap: string; hash: string };
  lastScaleTime?: string;
  now?: Date;
}

/** Rolled out: the controller saw the latest spec and every pod is updated and ready. */
export function rolledOut(w: Workload): boolean {
  const s = w.status ?? {};
  const want = w.spec?.replicas ?? 1;
  return (s.observedGeneration ?? 0) >= (w.metadata.generation ?? 0)
    && (s.updatedReplicas ?? 0) >= want
    && (s.readyReplicas ?? 0) >= want
    && (s.replicas ?? 0) <= want;
}

function component(w: Workload, autoscaled: Map<string, 'operator' | 'hpa'>): ComponentStatus {
  const l = w.metadata.labels ?? {};
  const trackLabel = l[L.track];
  const out: ComponentStatus = {
    name: w.metadata.name,
    role: l[L.component] ?? 'unknown',
    track: trackLabel === 'canary' ? 'canary' : trackLabel === 'stable' ? 'stable' : 'dependency',
    version: l[L.version] ?? (w.spec?.template?.spec?.containers?.[0]?.image?.split(':').pop() ?? ''),
    replicas: w.status?.replicas ?? 0,
    readyReplicas: w.status?.readyReplicas ?? 0,
    updatedReplicas: w.status?.updatedReplicas ?? 0,
    desiredReplicas: w.spec?.replicas ?? 1,
  };
  if (l[L.pool]) out.pool = l[L.pool];
  const a = autoscaled.get(w.metadata.name);
  if (a) out.autoscaled = a;
  return out;
}

/** A time as Kubernetes writes one (RFC 3339, whole seconds). */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function condition(type: ConditionType, ok: boolean | 'Unknown', reason: string, message: string, generation: number, previous: Condition[] | undefined, now: Date): Condition {
  const status = ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False';
  const old = previous?.find((c) => c.type === type);
  return {
    type,
    status,
    observedGeneration: generation,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : kubeTime(now),
    reason,
    message: message.slice(0, 32768),
  };
}

export function computeStatus(i: StatusInput): ImClusterStatus {
  const c = i.cluster;
  const now = i.now ?? new Date();
  const gen = c.metadata.generation ?? 0;
  const prev = c.status?.conditions;
  const components = [...i.deployments, ...i.statefulSets]
    .map((w) => component(w, i.autoscaled))
    .sort((a, b) => a.name.localeCompare(b.name));
  const gates = i.deployments.filter((d) => d.metadata.labels?.[L.component] === 'gate');
  const gatesReady = `${gates.reduce((n, d) => n + (d.status?.readyReplicas ?? 0), 0)}/${gates.reduce((n, d) => n + (d.spec?.replicas ?? 1), 0)}`;

  const notRolledOut = i.deployments.filter((d) => !rolledOut(d)).map((d) => d.metadata.name);
  const notReady = i.deployments
    .filter((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1))
    .map((d) => `${d.metadata.name} (${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1})`);
  const failing = i.deployments.flatMap((d) => (d.status?.conditions ?? [])
    .filter((x) => (x.type === 'Progressing' && x.status === 'False' && x.reason === 'ProgressDeadlineExceeded') || (x.type === 'ReplicaFailure' && x.status === 'True'))
    .map((x) => `${d.metadata.name}: ${x.reason ?? x.type}: ${x.message ?? ''}`.trim()));

  const conditions: Condition[] = [];
  conditions.push(condition('DependenciesReady', i.dependencies.ready, i.dependencies.ready ? 'DependenciesReady' : i.dependencies.reason ?? 'DependenciesNotReady', i.dependencies.message, gen, prev, now));

  if (i.invalidSpec) {
    conditions.push(condition('Progressing', false, 'InvalidSpec', `${i.invalidSpec}; the workloads keep the last valid spec until this is fixed`, gen, prev, now));
  } else if (i.paused) {
    conditions.push(condition('Progressing', 'Unknown', 'Paused', 'reconciliation is paused by the imcloud.dev/paused annotation; remove it to resume', gen, prev, now));
  } else if (i.canary?.promoting) {
    conditions.push(condition('Progressing', true, 'Promoting', `promoting ${i.canary.version}: rolling the stable track out; the canary stays until it is done${notRolledOut.length ? ` (waiting for ${notRolledOut.join(', ')})` : ''}`, gen, prev, now));
  } else if (notRolledOut.length) {
    conditions.push(condition('Progressing', true, 'RollingOut', `waiting for ${notRolledOut.join(', ')}`, gen, prev, now));
  } else {
    conditions.push(condition('Progressing', false, 'Complete', `version ${c.spec.version}${i.canary ? ` with canary ${i.canary.version}` : ''} is rolled out`, gen, prev, now));
  }

  const degraded = [...(i.invalidSpec ? [i.invalidSpec] : []), ...i.errors, ...failing];
  const degradedReason = i.invalidSpec ? 'InvalidSpec' : i.errors.length ? 'ReconcileError' : 'RolloutFailed';
  conditions.push(condition('Degraded', degraded.length > 0, degraded.length ? degradedReason : 'AsExpected', degraded.join('; ') || 'no errors', gen, prev, now));

  const ready = i.dependencies.ready && notReady.length === 0 && i.deployments.length > 0 && degraded.length === 0;
  conditions.push(condition('Ready', ready, ready ? 'AllComponentsReady' : !i.dependencies.ready ? 'DependenciesNotReady' : notReady.length ? 'ComponentsNotReady' : degraded.length ? 'Degraded' : 'Pending',
    ready ? `${components.length} components ready` : notReady.length ? `not ready: ${notReady.join(', ')}` : !i.dependencies.ready ? i.dependencies.message : degraded.join('; ') || 'no workloads yet', gen, prev, now));

  let phase: NonNullable<ImClusterStatus['phase']>;
  if (i.terminating) phase = 'Terminating';
  else if (i.paused) phase = 'Paused';
  else if (degraded.length) phase = 'Degraded';
  else if (ready && !notRolledOut.length && !i.canary?.promoting) phase = 'Ready';
  else if (i.deployments.length) phase = 'Progressing';
  else phase = 'Pending';

  const status: ImClusterStatus = {
    phase,
    observedGeneration: gen,
    gatesReady,
    conditions,
    components,
  };
  const version = stableVersion(c, i.deployments);
  if (version) status.version = version;
  if (i.connections !== undefined) status.connections = i.connections;
  if (i.routing) {
    status.routingConfigMap = i.routing.configMap;
    status.routingHash = i.routing.hash;
  }
  if (i.lastScaleTime) status.lastScaleTime = i.lastScaleTime;
  if (i.canary) {
    const canaryGates = gates.filter((d) => d.metadata.labels?.[L.track] === 'canary');
    status.canary = {
      version: i.canary.version,
      phase: i.canary.promoting ? 'Promoting' : 'Active',
      appIds: [...i.canary.appIds].sort(),
      percentage: i.canary.percentage,
      gatesReady: `${canaryGates.reduce((n, d) => n + (d.status?.readyReplicas ?? 0), 0)}/${canaryGates.reduce((n, d) => n + (d.spec?.replicas ?? 1), 0)}`,
    };
  }
  return status;
}

/**
 * The version the stable track runs: spec.version once every stable Deployment has rolled out
 * to it, else the version still running (what `kubectl get imc` should show mid-rollout).
 */
function stableVersion(c: ImCluster, deployments: Workload[]): string {
  const stable = deployments.filter((d) => d.metadata.labels?.[L.track] === 'stable');
  if (stable.length && stable.every((d) => d.metadata.labels?.[L.version] === c.spec.version && rolledOut(d))) return c.spec.version;
  return c.status?.version ?? (stable.length ? '' : c.spec.version);
}
