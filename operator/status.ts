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

/** DependenciesReady as the reconcile found it. */
export interface DependencyStatus {
  ready: boolean;
  message: string;
  /** Why not ready when it is one specific thing (TLSSecretNotReady, MinioNotConfigured); default DependenciesNotReady. */
  reason?: string;
}

export interface StatusInput {
  cluster: ImCluster;
  paused: boolean;
  terminating?: boolean;
  deployments: Workload[];
  statefulSets: Workload[];
  /** Deployments whose replicas an HPA or the operator's autoscaler sets. */
  autoscaled: Map<string, 'operator' | 'hpa'>;
  dependencies: DependencyStatus;
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
  return (
    (s.observedGeneration ?? 0) >= (w.metadata.generation ?? 0) &&
    (s.updatedReplicas ?? 0) >= want &&
    (s.readyReplicas ?? 0) >= want &&
    (s.replicas ?? 0) <= want
  );
}

function component(w: Workload, autoscaled: Map<string, 'operator' | 'hpa'>): ComponentStatus {
  const l = w.metadata.labels ?? {};
  const trackLabel = l[L.track];
  const out: ComponentStatus = {
    name: w.metadata.name,
    role: l[L.component] ?? 'unknown',
    track: trackLabel === 'canary' ? 'canary' : trackLabel === 'stable' ? 'stable' : 'dependency',
    version: l[L.version] ?? w.spec?.template?.spec?.containers?.[0]?.image?.split(':').pop() ?? '',
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

export function condition(
  type: ConditionType,
  ok: boolean | 'Unknown',
  reason: string,
  message: string,
  generation: number,
  previous: Condition[] | undefined,
  now: Date,
): Condition {
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
  const components = [...i.deployments, ...i.statefulSets]
    .map((w) => component(w, i.autoscaled))
    .sort((a, b) => a.name.localeCompare(b.name));
  const gates = i.deployments.filter((d) => d.metadata.labels?.[L.component] === 'gate');
  const f = findings(i);
  const status: ImClusterStatus = {
    phase: phaseOf(i, f),
    observedGeneration: c.metadata.generation ?? 0,
    gatesReady: readyOf(gates),
    conditions: conditionsOf(i, f, components.length),
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
    status.canary = {
      version: i.canary.version,
      phase: i.canary.promoting ? 'Promoting' : 'Active',
      appIds: [...i.canary.appIds].sort(),
      percentage: i.canary.percentage,
      gatesReady: readyOf(gates.filter((d) => d.metadata.labels?.[L.track] === 'canary')),
    };
  }
  return status;
}

/** What the conditions and the phase are judged from. */
interface Findings {
  /** Deployments not rolled out (rolledOut), by name. */
  notRolledOut: string[];
  /** Deployments with fewer ready pods than wanted: `name (ready/wanted)`. */
  notReady: string[];
  /** Why the cluster is Degraded: the refused spec, this reconcile's errors, failed rollouts. */
  degraded: string[];
  ready: boolean;
}

function findings(i: StatusInput): Findings {
  const notRolledOut = i.deployments.filter((d) => !rolledOut(d)).map((d) => d.metadata.name);
  const notReady = i.deployments
    .filter((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1))
    .map((d) => `${d.metadata.name} (${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1})`);
  const failing = i.deployments.flatMap((d) =>
    (d.status?.conditions ?? [])
      .filter(
        (x) =>
          (x.type === 'Progressing' && x.status === 'False' && x.reason === 'ProgressDeadlineExceeded') ||
          (x.type === 'ReplicaFailure' && x.status === 'True'),
      )
      .map((x) => `${d.metadata.name}: ${x.reason ?? x.type}: ${x.message ?? ''}`.trim()),
  );
  const degraded = [...(i.invalidSpec ? [i.invalidSpec] : []), ...i.errors, ...failing];
  const ready = i.dependencies.ready && notReady.length === 0 && i.deployments.length > 0 && degraded.length === 0;
  return { notRolledOut, notReady, degraded, ready };
}

function conditionsOf(i: StatusInput, f: Findings, componentCount: number): Condition[] {
  const c = i.cluster;
  const now = i.now ?? new Date();
  const make = (type: ConditionType, ok: boolean | 'Unknown', reason: string, message: string) =>
    condition(type, ok, reason, message, c.metadata.generation ?? 0, c.status?.conditions, now);
  const { degraded, notReady, ready } = f;
  const deps = i.dependencies;
  const degradedReason = i.invalidSpec ? 'InvalidSpec' : i.errors.length ? 'ReconcileError' : 'RolloutFailed';
  return [
    make('DependenciesReady', deps.ready, deps.ready ? 'DependenciesReady' : (deps.reason ?? 'DependenciesNotReady'), deps.message),
    make('Progressing', ...progressing(i, f.notRolledOut)),
    make('Degraded', degraded.length > 0, degraded.length ? degradedReason : 'AsExpected', degraded.join('; ') || 'no errors'),
    make(
      'Ready',
      ready,
      ready
        ? 'AllComponentsReady'
        : !deps.ready
          ? 'DependenciesNotReady'
          : notReady.length
            ? 'ComponentsNotReady'
            : degraded.length
              ? 'Degraded'
              : 'Pending',
      ready
        ? `${componentCount} components ready`
        : notReady.length
          ? `not ready: ${notReady.join(', ')}`
          : !deps.ready
            ? deps.message
            : degraded.join('; ') || 'no workloads yet',
    ),
  ];
}

/** Progressing: its status, reason and message. */
function progressing(i: StatusInput, notRolledOut: string[]): [boolean | 'Unknown', string, string] {
  if (i.invalidSpec) return [false, 'InvalidSpec', `${i.invalidSpec}; the workloads keep the last valid spec until this is fixed`];
  if (i.paused) return ['Unknown', 'Paused', 'reconciliation is paused by the imcloud.dev/paused annotation; remove it to resume'];
  if (i.canary?.promoting) {
    return [
      true,
      'Promoting',
      `promoting ${i.canary.version}: rolling the stable track out; the canary stays until it is done${notRolledOut.length ? ` (waiting for ${notRolledOut.join(', ')})` : ''}`,
    ];
  }
  if (notRolledOut.length) return [true, 'RollingOut', `waiting for ${notRolledOut.join(', ')}`];
  return [false, 'Complete', `version ${i.cluster.spec.version}${i.canary ? ` with canary ${i.canary.version}` : ''} is rolled out`];
}

function phaseOf(i: StatusInput, f: Findings): NonNullable<ImClusterStatus['phase']> {
  if (i.terminating) return 'Terminating';
  if (i.paused) return 'Paused';
  if (f.degraded.length) return 'Degraded';
  if (f.ready && !f.notRolledOut.length && !i.canary?.promoting) return 'Ready';
  if (i.deployments.length) return 'Progressing';
  return 'Pending';
}

/** `ready/wanted` pods over the workloads (gatesReady). */
function readyOf(workloads: Workload[]): string {
  return `${workloads.reduce((n, d) => n + (d.status?.readyReplicas ?? 0), 0)}/${workloads.reduce((n, d) => n + (d.spec?.replicas ?? 1), 0)}`;
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
