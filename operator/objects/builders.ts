// One pure builder per kind of owned object: the complete desired state of that object (what the
// operator applies with server-side apply). Nothing here talks to the apiserver, so every rule
// about object shape is unit tested in builders.test.ts.
import { envName } from '../../services/shared/config.js';
import { inCanary, ROUTING_KEY, type RoutingTableInput, serializeRoutingTable } from '../../services/shared/routing-table.js';
import type { GatePool, ImCluster } from '../api/imcluster.js';
import {
  A,
  clusterIpService,
  commonEnv,
  type EnvVar,
  fileDeployed,
  HTTP_PORT,
  imageOf,
  L,
  labels,
  MANAGED_BY,
  meta,
  names,
  OPS_PORT,
  podTemplate,
  type Role,
  selectorLabels,
  servesTls,
  TCP_PORT,
  type Track,
  tlsRoles,
  withSpecConfig,
} from './common.js';

export interface CanaryPlan {
  version: string;
  appIds: string[];
  percentage: number;
  /** The stable track is rolling to the canary's version: keep routing to the canary until it is done. */
  promoting: boolean;
}

/** The gate pools that need canary gates: those serving at least one AppId on the canary. */
export function canaryPools(c: ImCluster, canary: CanaryPlan | undefined): GatePool[] {
  if (!canary) return [];
  const pools = c.spec.gate.pools;
  const named = new Set(pools.flatMap((p) => p.appIds));
  return pools.filter((p) => {
    if (p.appIds.some((a) => inCanary(canary, a))) return true;
    if (!p.default) return false;
    // The default pool serves every AppId no pool lists: listed canary AppIds outside the named
    // pools, and any share chosen by percentage.
    return canary.percentage > 0 || canary.appIds.some((a) => !named.has(a));
  });
}

export function routingTable(c: ImCluster, canary: CanaryPlan | undefined): RoutingTableInput {
  return {
    format: 1,
    cluster: c.metadata.name,
    generation: c.metadata.generation,
    pools: c.spec.gate.pools.map((p) => ({ name: p.name, default: p.default, appIds: p.appIds })),
    stable: { version: c.spec.version },
    ...(canary ? { canary: { version: canary.version, appIds: canary.appIds, percentage: canary.percentage } } : {}),
  };
}

export function routingConfigMap(c: ImCluster, table: RoutingTableInput) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(c, names.routing(c.metadata.name), labels(c, 'routing')),
    data: { [ROUTING_KEY]: serializeRoutingTable(table) },
  };
}

function trackVersion(c: ImCluster, track: Track): string {
  return track === 'canary' && c.spec.gray ? c.spec.gray.version : c.spec.version;
}

export interface DeploymentOpts {
  /** undefined: leave spec.replicas to someone else (a HorizontalPodAutoscaler). */
  replicas: number | undefined;
  dependenciesHash: string;
  /** For a canary kept while promoting: its own image and version. */
  override?: { image: string; version: string };
}

function deployment(
  c: ImCluster,
  name: string,
  role: Role,
  track: Track,
  pool: string | undefined,
  env: EnvVar[],
  o: DeploymentOpts & {
    ports: Array<{ name: string; containerPort: number }>;
    resources?: unknown;
    grace: number;
    strategy: Record<string, unknown>;
  },
) {
  const version = o.override?.version ?? trackVersion(c, track);
  const image = o.override?.image ?? imageOf(c, track);
  const podLabels = labels(c, role, { pool, track, version });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(c, name, labels(c, role, { pool, track, version })),
    spec: {
      ...(o.replicas === undefined ? {} : { replicas: o.replicas }),
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(c, role, { pool, track }) },
      strategy: o.strategy,
      template: podTemplate(c, {
        role,
        image,
        env,
        labels: podLabels,
        ports: o.ports,
        resources: o.resources,
        terminationGracePeriodSeconds: o.grace,
        dependenciesHash: o.dependenciesHash,
      }),
    },
  };
}

/**
 * The track a gate or logic pod serves (node.track), by its old variable IMCLOUD_GATE_TRACK: the
 * one every image reads, those from before node.track included (ADR 0028).
 */
function trackEnv(track: Track): EnvVar {
  return { name: envName('gate', 'track'), value: track };
}

/** Gate pods of one pool and track: they serve only the pool's AppIds (the default pool: all others). */
export function gateDeployment(c: ImCluster, pool: GatePool, track: Track, o: DeploymentOpts) {
  const drainMs = c.spec.gate.drainSeconds * 1000;
  const env: EnvVar[] = withSpecConfig(c, [
    ...commonEnv(c, 'gate'),
    { name: envName('gate', 'pool'), value: pool.name },
    // No list: the default pool (every AppId no other pool claims; see the routing table).
    ...(pool.appIds.length ? [{ name: envName('gate', 'appIds'), value: pool.appIds.join(',') }] : []),
    trackEnv(track),
    { name: envName('gate', 'drainMs'), value: String(drainMs) },
    { name: envName('gate', 'tcpEnabled'), value: String(c.spec.gate.tcp) },
    { name: envName('gate', 'tcpPort'), value: String(TCP_PORT) },
    {
      name: envName('gate', 'publicWsUrl'),
      value: pool.publicWsUrl ?? `${servesTls(c, 'gate') ? 'wss' : 'ws'}://$(POD_IP):${HTTP_PORT}/ws`,
    },
    ...(c.spec.gate.tcp ? [{ name: envName('gate', 'publicTcpAddr'), value: pool.publicTcpAddr ?? `$(POD_IP):${TCP_PORT}` }] : []),
  ]);
  const ports = [{ name: 'http', containerPort: HTTP_PORT }, ...(c.spec.gate.tcp ? [{ name: 'tcp', containerPort: TCP_PORT }] : [])];
  return deployment(c, names.gate(c.metadata.name, pool.name, track), 'gate', track, pool.name, env, {
    ...o,
    ports,
    resources: pool.resources,
    // Draining spreads reconnects over drainMs; the rest of the grace period is for shutdown.
    grace: c.spec.gate.drainSeconds + 15,
    // Never drop capacity during a rollout: surge first, then drain the old pods.
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
  });
}

/** The pool's public entry point: the WebSocket (and TCP) port only; metrics go through <cluster>-metrics. */
export function gateService(c: ImCluster, pool: GatePool) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, names.gate(c.metadata.name, pool.name), labels(c, 'gate', { pool: pool.name }), pool.service.annotations),
    spec: {
      type: pool.service.type,
      // Both tracks: dispatch picks the track; the Service is the pool's L4 entry point.
      selector: selectorLabels(c, 'gate', { pool: pool.name }),
      ports: [
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
        ...(c.spec.gate.tcp ? [{ name: 'tcp', port: TCP_PORT, targetPort: 'tcp', protocol: 'TCP' }] : []),
      ],
    },
  };
}

export function gatePdb(c: ImCluster, pool: GatePool) {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(c, names.gate(c.metadata.name, pool.name), labels(c, 'gate', { pool: pool.name })),
    spec: {
      maxUnavailable: pool.maxUnavailable,
      selector: { matchLabels: selectorLabels(c, 'gate', { pool: pool.name }) },
    },
  };
}

export type ServiceRole = Exclude<Role, 'gate'>;

/**
 * Requests of a file pod when spec.file.resources says nothing: its chunk buffers
 * (file.maxConcurrentChunks × file.chunkBytes, 80 MiB by default) and sharp decoding an image of
 * up to file.maxImagePixels need more than the other roles' 128 MiB.
 */
export const FILE_DEFAULT_RESOURCES = { requests: { cpu: '250m', memory: '512Mi' } };

export function roleDeployment(c: ImCluster, role: ServiceRole, track: Track, o: DeploymentOpts) {
  // logic consumes the upstream work queue of its track (imcloud.upstream.<node.track>).
  const env = withSpecConfig(c, [...commonEnv(c, role), ...(role === 'logic' ? [trackEnv(track)] : [])]);
  const resources = role === 'file' ? (c.spec.file?.resources ?? FILE_DEFAULT_RESOURCES) : c.spec[role].resources;
  // Roles clients reach never drop capacity during a rollout: surge first.
  const clientFacing = role === 'dispatch' || role === 'admin' || role === 'file';
  return deployment(c, names.role(c.metadata.name, role, track), role, track, undefined, env, {
    ...o,
    // Every role has the public listener (health; dispatch; the file API; the web page when admin serves it).
    ports: [{ name: 'http', containerPort: HTTP_PORT }],
    resources,
    grace: 30,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: clientFacing ? 0 : '25%' } },
  });
}

/**
 * <cluster>-<role>. dispatch and file: their public port (what clients ask for a gate; the file
 * HTTP API: uploads, downloads; MinIO itself is never exposed). admin: the admin API,
 * which the role serves on its ops listener, as port `admin` 9090. logic and consumer reach no
 * client: their Service is their ops port (metrics and health).
 */
export function roleService(c: ImCluster, role: ServiceRole) {
  const name = names.role(c.metadata.name, role);
  if (role === 'dispatch' || role === 'file') return clusterIpService(c, name, role, 'http', HTTP_PORT);
  if (role === 'admin') return clusterIpService(c, name, role, 'admin', OPS_PORT, 'ops');
  return clusterIpService(c, name, role, 'ops', OPS_PORT);
}

/**
 * <cluster>-metrics: a headless Service over the ops port of every role pod of the cluster (both
 * tracks), what the ServiceMonitor scrapes, so that the public Services carry no metrics port.
 */
export function metricsService(c: ImCluster) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, names.metrics(c.metadata.name), labels(c, 'metrics')),
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: { [L.name]: 'imcloud', [L.instance]: c.metadata.name, [L.cluster]: c.metadata.name, [L.metricsPort]: 'ops' },
      ports: [{ name: 'ops', port: OPS_PORT, targetPort: 'ops', protocol: 'TCP' }],
    },
  };
}

const ROLES: Role[] = ['gate', 'logic', 'consumer', 'dispatch', 'admin', 'file'];
/** The pod label Prometheus sees the component in (service discovery meta label). */
const COMPONENT_META = `__meta_kubernetes_pod_label_${L.component.replace(/[^a-zA-Z0-9_]/g, '_')}`;

/**
 * Scrapes /metrics from the ops port of every role pod through <cluster>-metrics. Pods of the
 * roles spec.tls covers serve it over https: without monitoring.tlsConfig the certificate is
 * not verified (Prometheus reaches pods by IP, which a certificate for the public names does
 * not cover); the scrape is still encrypted. With some roles on TLS and some not, one endpoint
 * per scheme, each keeping its roles' pods.
 */
export function serviceMonitor(c: ImCluster) {
  const tls = tlsRoles(c);
  // The roles this cluster runs (the file role only with spec.file and MinIO).
  const roles = ROLES.filter((r) => r !== 'file' || fileDeployed(c));
  const base = { port: 'ops', path: '/metrics', interval: c.spec.monitoring.interval };
  const https = { ...base, scheme: 'https', tlsConfig: c.spec.monitoring.tlsConfig ?? { insecureSkipVerify: true } };
  const http = { ...base, scheme: 'http' };
  const regex = roles.filter((r) => tls.has(r)).join('|');
  const endpoints =
    tls.size === 0
      ? [http]
      : roles.every((r) => tls.has(r))
        ? [https]
        : [
            { ...http, relabelings: [{ sourceLabels: [COMPONENT_META], regex, action: 'drop' }] },
            { ...https, relabelings: [{ sourceLabels: [COMPONENT_META], regex, action: 'keep' }] },
          ];
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(c, names.monitor(c.metadata.name), { ...labels(c, 'monitoring'), ...(c.spec.monitoring.labels ?? {}) }),
    spec: {
      selector: { matchLabels: { [L.cluster]: c.metadata.name, [L.managedBy]: MANAGED_BY, [L.component]: 'metrics' } },
      // Every target comes through the one Service: the pods' role, pool and track say what it is.
      podTargetLabels: [L.component, L.pool, L.track],
      endpoints,
    },
  };
}

export { A };
