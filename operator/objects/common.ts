// Names, labels, owner references and the pod template pieces every role shares.
import { createHash } from 'node:crypto';
import { envName } from '../../services/shared/config.js';
import { ROUTING_FILE_ENV, ROUTING_KEY } from '../../services/shared/routing-table.js';
import { API_VERSION, type DependencyName, type ImCluster, KIND } from '../api/imcluster.js';
import { specConfigEntries } from '../spec-config.js';

export const FIELD_MANAGER = 'imcloud-operator';
export const MANAGED_BY = 'imcloud-operator';
/** The public listener: what clients reach (the gate's WebSocket, dispatch, the web page). */
export const HTTP_PORT = 8080;
export const TCP_PORT = 8090;
/** The ops listener: /metrics, the admin API and the health checks, never exposed to clients. */
export const OPS_PORT = 9090;
export const ROUTING_DIR = '/etc/imcloud/routing';
/** Where the spec.tls Secret is mounted (tls.crt, tls.key). */
export const TLS_DIR = '/etc/imcloud/tls';

export const L = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  version: 'app.kubernetes.io/version',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  cluster: 'imcloud.dev/cluster',
  pool: 'imcloud.dev/pool',
  track: 'imcloud.dev/track',
  /** On every role pod: the name of the container port that serves /metrics (the <cluster>-metrics Service selects it). */
  metricsPort: 'imcloud.dev/metrics-port',
} as const;

export const A = {
  dependenciesHash: 'imcloud.dev/dependencies-hash',
  deletionCost: 'controller.kubernetes.io/pod-deletion-cost',
} as const;

/** Selects every object the operator created for any cluster (informers). */
export const MANAGED_SELECTOR = `${L.managedBy}=${MANAGED_BY}`;

export type Track = 'stable' | 'canary';
export type Role = 'gate' | 'logic' | 'consumer' | 'dispatch' | 'admin' | 'file';

export const names = {
  gate: (c: string, pool: string, track: Track = 'stable') => `${c}-gate-${pool}${track === 'canary' ? '-canary' : ''}`,
  role: (c: string, role: Exclude<Role, 'gate'>, track: Track = 'stable') => `${c}-${role}${track === 'canary' ? '-canary' : ''}`,
  routing: (c: string) => `${c}-routing`,
  adminToken: (c: string) => `${c}-admin-token`,
  dependency: (c: string, dep: DependencyName) => `${c}-${dep}`,
  monitor: (c: string) => `${c}`,
  metrics: (c: string) => `${c}-metrics`,
};

/**
 * The file role runs when spec.file asks for it and the cluster has MinIO (spec.dependencies.minio):
 * without MinIO it could not store a byte, so it is not deployed (DependenciesReady says why).
 */
export function fileWanted(c: ImCluster): boolean {
  return c.spec.file !== undefined;
}

export function fileDeployed(c: ImCluster): boolean {
  return fileWanted(c) && c.spec.dependencies.minio !== undefined;
}

/** The roles whose listeners serve TLS from spec.tls (none without it). */
export function tlsRoles(c: ImCluster): Set<Role> {
  return new Set(c.spec.tls?.roles ?? []);
}

/** `role`'s pods serve TLS on every listener. */
export function servesTls(c: ImCluster, role: Role): boolean {
  return tlsRoles(c).has(role);
}

export function ownerRef(c: ImCluster) {
  return { apiVersion: API_VERSION, kind: KIND, name: c.metadata.name, uid: c.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** Labels that select a component's pods (immutable once a Deployment exists). */
export function selectorLabels(c: ImCluster, component: string, extra: { pool?: string; track?: Track } = {}): Record<string, string> {
  const out: Record<string, string> = {
    [L.name]: 'imcloud',
    [L.instance]: c.metadata.name,
    [L.component]: component,
    [L.cluster]: c.metadata.name,
  };
  if (extra.pool) out[L.pool] = extra.pool;
  if (extra.track) out[L.track] = extra.track;
  return out;
}

export function labels(
  c: ImCluster,
  component: string,
  extra: { pool?: string; track?: Track; version?: string } = {},
): Record<string, string> {
  const out: Record<string, string> = { ...selectorLabels(c, component, extra), [L.managedBy]: MANAGED_BY, [L.partOf]: 'imcloud' };
  if (extra.version) out[L.version] = extra.version.slice(0, 63);
  return out;
}

export function meta(c: ImCluster, name: string, lbls: Record<string, string>, annotations?: Record<string, string>) {
  return {
    name,
    namespace: c.metadata.namespace,
    labels: lbls,
    ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    ownerReferences: [ownerRef(c)],
  };
}

export function hash(value: unknown): string {
  return createHash('sha256')
    .update(typeof value === 'string' ? value : JSON.stringify(value))
    .digest('hex')
    .slice(0, 16);
}

/** Which Secret and keys carry each dependency's connection settings. */
export const DEPENDENCY_KEYS: Record<DependencyName, Array<{ key: string; section: string; configKey: string; optional?: boolean }>> = {
  redis: [{ key: 'url', section: 'redis', configKey: 'url' }],
  rabbitmq: [{ key: 'url', section: 'rabbitmq', configKey: 'url' }],
  mongodb: [
    { key: 'url', section: 'mongodb', configKey: 'url' },
    { key: 'database', section: 'mongodb', configKey: 'database', optional: true },
  ],
  minio: [
    { key: 'endPoint', section: 'minio', configKey: 'endPoint' },
    { key: 'port', section: 'minio', configKey: 'port', optional: true },
    { key: 'accessKey', section: 'minio', configKey: 'accessKey' },
    { key: 'secretKey', section: 'minio', configKey: 'secretKey' },
    { key: 'useSSL', section: 'minio', configKey: 'useSSL', optional: true },
  ],
};

export const DEPENDENCIES: DependencyName[] = ['redis', 'rabbitmq', 'mongodb', 'minio'];

/** The dependencies the cluster uses, with the Secret that holds each one's settings. */
export function dependencySecrets(c: ImCluster): Array<{ dep: DependencyName; secret: string; managed: boolean }> {
  const out: Array<{ dep: DependencyName; secret: string; managed: boolean }> = [];
  for (const dep of DEPENDENCIES) {
    const spec = c.spec.dependencies[dep];
    if (!spec) continue;
    out.push({ dep, managed: spec.managed, secret: spec.managed ? names.dependency(c.metadata.name, dep) : spec.secretRef!.name });
  }
  return out;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

/** Environment shared by every role's container. */
export function commonEnv(c: ImCluster, role: Role): EnvVar[] {
  const env: EnvVar[] = [
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: envName('node', 'id'), valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: envName('http', 'port'), value: String(HTTP_PORT) },
    { name: envName('http', 'opsPort'), value: String(OPS_PORT) },
    ...(servesTls(c, role)
      ? [
          { name: envName('tls', 'certFile'), value: `${TLS_DIR}/tls.crt` },
          { name: envName('tls', 'keyFile'), value: `${TLS_DIR}/tls.key` },
        ]
      : []),
    { name: envName('log', 'level'), value: c.spec.logLevel },
    { name: ROUTING_FILE_ENV, value: `${ROUTING_DIR}/${ROUTING_KEY}` },
  ];
  for (const { dep, secret } of dependencySecrets(c)) {
    for (const k of DEPENDENCY_KEYS[dep]) {
      env.push({
        name: envName(k.section, k.configKey),
        valueFrom: { secretKeyRef: { name: secret, key: k.key, ...(k.optional ? { optional: true } : {}) } },
      });
    }
  }
  if (role === 'admin') {
    const ref = c.spec.adminTokenSecretRef;
    env.push({
      name: envName('admin', 'token'),
      valueFrom: { secretKeyRef: { name: ref?.name ?? names.adminToken(c.metadata.name), key: ref?.key ?? 'token' } },
    });
  }
  return env;
}

/**
 * `env` with spec.config appended as IMCLOUD_* variables, last, skipping any the operator set
 * (the check of spec.config refuses those keys; a duplicate name would also fail the apply).
 */
export function withSpecConfig(c: ImCluster, env: EnvVar[]): EnvVar[] {
  const taken = new Set(env.map((e) => e.name));
  const extra: EnvVar[] = [];
  for (const { env: name, value } of specConfigEntries(c.spec.config)) if (!taken.has(name)) extra.push({ name, value });
  return [...env, ...extra];
}

/**
 * The settings the operator sets itself in `c`'s pods (`section.key` → where they come from):
 * spec.config cannot set them. builders.test.ts checks that the builders set no other.
 */
export function operatorSettings(c: ImCluster): Map<string, string> {
  const m = new Map<string, string>([
    ['node.id', 'the pod name'],
    ['http.port', `the container port ${HTTP_PORT}`],
    ['http.opsPort', `the container port ${OPS_PORT} (ops: metrics, the admin API, probes)`],
    // Whether or not spec.tls is set: TLS comes from a mounted Secret, never from paths in spec.config.
    ['tls.certFile', 'spec.tls.secretName (the Secret it mounts)'],
    ['tls.keyFile', 'spec.tls.secretName (the Secret it mounts)'],
    ['log.level', 'spec.logLevel'],
    ['routing.file', 'the routing table the operator mounts'],
    ['admin.token', 'spec.adminTokenSecretRef'],
    ['gate.pool', 'spec.gate.pools[].name'],
    ['gate.appIds', 'spec.gate.pools[].appIds'],
    ['gate.track', 'the gray release (spec.gray)'],
    ['gate.drainMs', 'spec.gate.drainSeconds'],
    ['gate.tcpEnabled', 'spec.gate.tcp'],
    ['gate.tcpPort', `the container port ${TCP_PORT}`],
    ['gate.publicWsUrl', 'spec.gate.pools[].publicWsUrl'],
    ['gate.publicTcpAddr', 'spec.gate.pools[].publicTcpAddr'],
  ]);
  for (const { dep } of dependencySecrets(c)) {
    for (const k of DEPENDENCY_KEYS[dep]) m.set(`${k.section}.${k.configKey}`, `spec.dependencies.${dep}`);
  }
  return m;
}

export const RESTRICTED_CONTAINER = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export const RESTRICTED_POD = {
  runAsNonRoot: true,
  runAsUser: 10001,
  runAsGroup: 10001,
  fsGroup: 10001,
  seccompProfile: { type: 'RuntimeDefault' },
};

export interface PodOpts {
  role: Role;
  image: string;
  env: EnvVar[];
  labels: Record<string, string>;
  ports: Array<{ name: string; containerPort: number }>;
  resources?: unknown;
  terminationGracePeriodSeconds: number;
  dependenciesHash: string;
}

export function imageOf(c: ImCluster, track: Track): string {
  if (track === 'canary' && c.spec.gray) return `${c.spec.gray.image ?? c.spec.image}:${c.spec.gray.version}`;
  return `${c.spec.image}:${c.spec.version}`;
}

/**
 * The pod template of every role: the role's own ports plus `ops`, probes on the ops listener
 * (over HTTPS when the role serves TLS), the routing table and, with spec.tls, the certificate
 * Secret mounted read-only. The Secret's content is not in the template: a renewed certificate
 * is read from the files by the running process, never by a rollout.
 */
export function podTemplate(c: ImCluster, o: PodOpts) {
  const annotations: Record<string, string> = { ...(c.spec.podAnnotations ?? {}), [A.dependenciesHash]: o.dependenciesHash };
  const tls = servesTls(c, o.role) ? c.spec.tls : undefined;
  const probe = (path: string) => ({ httpGet: { path, port: 'ops', scheme: tls ? 'HTTPS' : 'HTTP' } });
  return {
    metadata: { labels: { ...o.labels, [L.metricsPort]: 'ops' }, annotations },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: RESTRICTED_POD,
      terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
      ...(c.spec.imagePullSecrets?.length ? { imagePullSecrets: c.spec.imagePullSecrets } : {}),
      ...(c.spec.nodeSelector ? { nodeSelector: c.spec.nodeSelector } : {}),
      ...(c.spec.tolerations ? { tolerations: c.spec.tolerations } : {}),
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: pickSelector(o.labels) },
        },
      ],
      containers: [
        {
          name: o.role,
          image: o.image,
          imagePullPolicy: c.spec.imagePullPolicy,
          args: [o.role],
          ports: [...o.ports, { name: 'ops', containerPort: OPS_PORT }].map((p) => ({ ...p, protocol: 'TCP' })),
          env: o.env,
          ...(o.resources ? { resources: o.resources } : { resources: { requests: { cpu: '100m', memory: '128Mi' } } }),
          startupProbe: { ...probe('/healthz'), periodSeconds: 2, failureThreshold: 60 },
          livenessProbe: { ...probe('/healthz'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
          readinessProbe: { ...probe('/readyz'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [
            { name: 'routing', mountPath: ROUTING_DIR, readOnly: true },
            ...(tls ? [{ name: 'tls', mountPath: TLS_DIR, readOnly: true }] : []),
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      ],
      volumes: [
        { name: 'routing', configMap: { name: names.routing(c.metadata.name) } },
        // The whole Secret, not subPath: the kubelet then swaps renewed files in place.
        // 0440 with the pod's fsGroup: readable by the process, by no other user.
        ...(tls ? [{ name: 'tls', secret: { secretName: tls.secretName, defaultMode: 0o440 } }] : []),
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
      ],
    },
  };
}

function pickSelector(lbls: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [L.name, L.instance, L.component, L.cluster, L.pool, L.track]) if (lbls[k] !== undefined) out[k] = lbls[k]!;
  return out;
}

/** A ClusterIP Service named `name` in front of `component`'s pods, on one port (`targetPort`: a container port name). */
export function clusterIpService(
  c: ImCluster,
  name: string,
  component: Exclude<Role, 'gate'> | DependencyName,
  portName: string,
  port: number,
  targetPort = portName,
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, name, labels(c, component)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(c, component),
      ports: [{ name: portName, port, targetPort, protocol: 'TCP' }],
    },
  };
}
