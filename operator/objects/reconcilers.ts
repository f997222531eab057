// One reconcile function per owned object: each returns the complete desired state of the
// objects it is responsible for (the controller applies them with server-side apply and deletes
// the cluster's objects that no function wants any more). Pure: everything they need from the
// cluster (replica decisions, dependency hash, canary state) comes in the PlanContext.
import type { BacklogAutoscale, CpuAutoscale, DependencyName, GateAutoscale, GatePool, ImCluster } from '../api/imcluster.js';
import { type KubeObject, R, type Resource } from '../kube/client.js';
import {
  type CanaryPlan,
  canaryPools,
  gateDeployment,
  gatePdb,
  gateService,
  metricsService,
  roleDeployment,
  roleService,
  routingConfigMap,
  routingTable,
  type ServiceRole,
  serviceMonitor,
} from './builders.js';
import { fileDeployed, L, names, type Role, tlsRoles } from './common.js';
import { dependencyService, dependencyStatefulSet } from './dependencies.js';

export interface DesiredObject {
  resource: Resource;
  object: KubeObject;
}

export interface PlanContext {
  cluster: ImCluster;
  dependenciesHash: string;
  canary: CanaryPlan | undefined;
  /** Replicas for a Deployment: fixed, the autoscaler's decision, or undefined while an HPA owns it. */
  replicasFor(
    deployment: string,
    fixed: number | undefined,
    autoscale: GateAutoscale | BacklogAutoscale | CpuAutoscale | undefined,
    fallback: number,
  ): number | undefined;
  /** The monitoring.coreos.com ServiceMonitor API is served. */
  serviceMonitors: boolean;
}

const obj = (resource: Resource, object: unknown): DesiredObject => ({ resource, object: object as KubeObject });

/** `<plural>/<name>`: which object this is among a cluster's (they are all in its namespace). */
export function objectKey(resource: Resource, o: KubeObject): string {
  return `${resource.plural}/${o.metadata.name}`;
}

/** ConfigMap <cluster>-routing: pools, tracks and canary AppIds for dispatch and the gates. */
export function reconcileRoutingTable(x: PlanContext): DesiredObject[] {
  return [obj(R.configmaps, routingConfigMap(x.cluster, routingTable(x.cluster, x.canary)))];
}

/** A gate pool's stable Deployment, its Service and its PodDisruptionBudget. */
export function reconcileGatePool(x: PlanContext, pool: GatePool): DesiredObject[] {
  const c = x.cluster;
  const replicas = x.replicasFor(names.gate(c.metadata.name, pool.name), pool.replicas, pool.autoscale, 1);
  return [
    obj(R.deployments, gateDeployment(c, pool, 'stable', { replicas, dependenciesHash: x.dependenciesHash })),
    obj(R.services, gateService(c, pool)),
    obj(R.pdbs, gatePdb(c, pool)),
  ];
}

/** Canary gate Deployments, for the pools that serve a canary AppId (not while promoting: kept as they are). */
export function reconcileCanaryGates(x: PlanContext): DesiredObject[] {
  const c = x.cluster;
  if (!x.canary || x.canary.promoting || !c.spec.gray) return [];
  return canaryPools(c, x.canary).map((pool) =>
    obj(
      R.deployments,
      gateDeployment(c, pool, 'canary', {
        replicas: x.replicasFor(names.gate(c.metadata.name, pool.name, 'canary'), c.spec.gray!.gateReplicas, undefined, 1),
        dependenciesHash: x.dependenciesHash,
      }),
    ),
  );
}

/** A role's stable Deployment and Service (logic, consumer, dispatch, admin). */
export function reconcileRole(x: PlanContext, role: Exclude<ServiceRole, 'file'>): DesiredObject[] {
  const c = x.cluster;
  const spec = c.spec[role] as { replicas?: number; autoscale?: BacklogAutoscale };
  const replicas = x.replicasFor(names.role(c.metadata.name, role), spec.replicas, spec.autoscale, 2);
  return [
    obj(R.deployments, roleDeployment(c, role, 'stable', { replicas, dependenciesHash: x.dependenciesHash })),
    obj(R.services, roleService(c, role)),
  ];
}

/**
 * <cluster>-file: the file role's Deployment, with the cluster's MinIO settings (from the minio
 * Secret, like every role) and the bucket of minio.bucket (spec.config; the role creates it at
 * start and is not ready until MinIO answers and the bucket exists). None without spec.file, or
 * without MinIO: the role could not store a byte (DependenciesReady says MinioNotConfigured).
 * One track: a gray release is for gates and logic; the file role follows spec.version.
 */
export function reconcileFileDeployment(x: PlanContext): DesiredObject[] {
  const c = x.cluster;
  if (!fileDeployed(c)) return [];
  const spec = c.spec.file!;
  const replicas = x.replicasFor(names.role(c.metadata.name, 'file'), spec.replicas, spec.autoscale, 2);
  return [obj(R.deployments, roleDeployment(c, 'file', 'stable', { replicas, dependenciesHash: x.dependenciesHash }))];
}

/** <cluster>-file: the file HTTP API (port http 8080), in front of the file pods; none when the role is not deployed. */
export function reconcileFileService(x: PlanContext): DesiredObject[] {
  return fileDeployed(x.cluster) ? [obj(R.services, roleService(x.cluster, 'file'))] : [];
}

/** Canary logic: consumes imcloud.upstream.canary. */
export function reconcileCanaryLogic(x: PlanContext): DesiredObject[] {
  const c = x.cluster;
  if (!x.canary || x.canary.promoting || !c.spec.gray) return [];
  return [
    obj(
      R.deployments,
      roleDeployment(c, 'logic', 'canary', {
        replicas: x.replicasFor(names.role(c.metadata.name, 'logic', 'canary'), c.spec.gray.logicReplicas, undefined, 1),
        dependenciesHash: x.dependenciesHash,
      }),
    ),
  ];
}

/** A managed (development) dependency: StatefulSet and Service (its Secret is made by the controller). */
export function reconcileManagedDependency(x: PlanContext, dep: DependencyName): DesiredObject[] {
  return [obj(R.statefulsets, dependencyStatefulSet(x.cluster, dep)), obj(R.services, dependencyService(x.cluster, dep))];
}

/** <cluster>-metrics: the ops port of every role pod (what the ServiceMonitor, or any Prometheus, scrapes). */
export function reconcileMetricsService(x: PlanContext): DesiredObject[] {
  return [obj(R.services, metricsService(x.cluster))];
}

/** The cluster's ServiceMonitor, when asked for and the Prometheus operator is installed. */
export function reconcileServiceMonitor(x: PlanContext): DesiredObject[] {
  return x.cluster.spec.monitoring.serviceMonitor && x.serviceMonitors ? [obj(R.servicemonitors, serviceMonitor(x.cluster))] : [];
}

/** Everything the cluster should own (besides Secrets), in apply order. */
export function desiredObjects(x: PlanContext): DesiredObject[] {
  const c = x.cluster;
  const managed = (['redis', 'rabbitmq', 'mongodb', 'minio'] as DependencyName[]).filter((d) => c.spec.dependencies[d]?.managed);
  return [
    ...managed.flatMap((dep) => reconcileManagedDependency(x, dep)),
    ...reconcileRoutingTable(x),
    ...c.spec.gate.pools.flatMap((pool) => reconcileGatePool(x, pool)),
    ...reconcileCanaryGates(x),
    ...(['logic', 'consumer', 'dispatch', 'admin'] as const).flatMap((role) => reconcileRole(x, role)),
    ...reconcileCanaryLogic(x),
    ...reconcileFileDeployment(x),
    ...reconcileFileService(x),
    ...reconcileMetricsService(x),
    ...reconcileServiceMonitor(x),
  ];
}

/**
 * Whether `o` (desired or live) follows the spec.tls Secret: the Deployments of the roles that
 * mount it, and the ServiceMonitor (its scheme follows those pods). While that Secret is missing
 * or unusable the controller holds these as they are, neither applied nor deleted: new pods
 * could not start, and the running ones keep serving.
 */
export function followsTlsSecret(c: ImCluster, resource: Resource, o: KubeObject): boolean {
  if (!c.spec.tls) return false;
  if (resource.plural === R.servicemonitors.plural) return true;
  return resource.plural === R.deployments.plural && tlsRoles(c).has(o.metadata.labels?.[L.component] as Role);
}
