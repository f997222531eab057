// The managed dependencies (development only: Redis, RabbitMQ, MongoDB, MinIO as StatefulSets
// of the cluster) and the Secrets the roles read their addresses and credentials from. Pure
// builders, like builders.ts; unit tested in builders.test.ts.
import { DEPENDENCY_IMAGES, type DependencyName, type ImCluster } from '../api/imcluster.js';
import { clusterIpService, type EnvVar, labels, meta, names, selectorLabels } from './common.js';

interface DependencyShape {
  port: number;
  portName: string;
  dataPath: string;
  args?: string[];
  env?: (secret: string) => EnvVar[];
  readiness: Record<string, unknown>;
  uid: number;
}

const DEP: Record<DependencyName, DependencyShape> = {
  redis: {
    port: 6379,
    portName: 'redis',
    dataPath: '/data',
    uid: 999,
    args: ['redis-server', '--save', '', '--appendonly', 'yes', '--dir', '/data'],
    readiness: { exec: { command: ['redis-cli', 'ping'] } },
  },
  rabbitmq: {
    port: 5672,
    portName: 'amqp',
    dataPath: '/var/lib/rabbitmq',
    uid: 999,
    env: (secret) => [
      { name: 'RABBITMQ_DEFAULT_USER', valueFrom: { secretKeyRef: { name: secret, key: 'username' } } },
      { name: 'RABBITMQ_DEFAULT_PASS', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } },
    ],
    readiness: { exec: { command: ['rabbitmq-diagnostics', '-q', 'check_port_connectivity'] } },
  },
  mongodb: {
    port: 27017,
    portName: 'mongodb',
    dataPath: '/data/db',
    uid: 999,
    readiness: { exec: { command: ['mongosh', '--quiet', '--eval', 'db.adminCommand("ping").ok'] } },
  },
  minio: {
    port: 9000,
    portName: 'minio',
    dataPath: '/data',
    uid: 1000,
    args: ['server', '/data', '--address', ':9000'],
    env: (secret) => [
      { name: 'MINIO_ROOT_USER', valueFrom: { secretKeyRef: { name: secret, key: 'accessKey' } } },
      { name: 'MINIO_ROOT_PASSWORD', valueFrom: { secretKeyRef: { name: secret, key: 'secretKey' } } },
    ],
    readiness: { httpGet: { path: '/minio/health/ready', port: 9000 } },
  },
};

export function dependencyStatefulSet(c: ImCluster, dep: DependencyName) {
  const spec = c.spec.dependencies[dep]!;
  const shape = DEP[dep];
  const name = names.dependency(c.metadata.name, dep);
  const lbls = labels(c, dep);
  const storage = spec.storage;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(c, name, lbls),
    spec: {
      replicas: 1,
      serviceName: name,
      selector: { matchLabels: selectorLabels(c, dep) },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      template: {
        metadata: { labels: lbls },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: shape.uid,
            runAsGroup: shape.uid,
            fsGroup: shape.uid,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: dep,
              image: spec.image ?? DEPENDENCY_IMAGES[dep],
              ...(shape.args ? { args: shape.args } : {}),
              ports: [{ name: shape.portName, containerPort: shape.port, protocol: 'TCP' }],
              ...(shape.env ? { env: shape.env(name) } : {}),
              readinessProbe: { ...shape.readiness, periodSeconds: 10, timeoutSeconds: 5 },
              resources: { requests: { cpu: '100m', memory: '256Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [{ name: 'data', mountPath: shape.dataPath }],
            },
          ],
          ...(storage ? {} : { volumes: [{ name: 'data', emptyDir: {} }] }),
        },
      },
      ...(storage
        ? {
            volumeClaimTemplates: [
              {
                apiVersion: 'v1',
                kind: 'PersistentVolumeClaim',
                metadata: { name: 'data', labels: lbls },
                spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } },
              },
            ],
          }
        : {}),
    },
  };
}

export function dependencyService(c: ImCluster, dep: DependencyName) {
  const shape = DEP[dep];
  return clusterIpService(c, names.dependency(c.metadata.name, dep), dep, shape.portName, shape.port);
}

/**
 * The connection Secret of a managed dependency. `password` comes from the existing Secret when
 * there is one (generated once, never rotated behind the running pods' backs).
 */
export function dependencySecret(c: ImCluster, dep: DependencyName, password: string) {
  const name = names.dependency(c.metadata.name, dep);
  const host = `${name}.${c.metadata.namespace}.svc`;
  const data: Record<string, string> = {
    redis: { url: `redis://${host}:6379` },
    rabbitmq: { url: `amqp://imcloud:${encodeURIComponent(password)}@${host}:5672`, username: 'imcloud', password },
    mongodb: { url: `mongodb://${host}:27017`, database: 'imcloud' },
    minio: { endPoint: host, port: '9000', useSSL: 'false', accessKey: 'imcloud', secretKey: password },
  }[dep];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(c, name, labels(c, dep)),
    type: 'Opaque',
    // data, not stringData: stringData is write-only and does not round-trip through apply.
    data: b64(data),
    plain: data,
  };
}

function b64(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

export function adminTokenSecret(c: ImCluster, token: string) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(c, names.adminToken(c.metadata.name), labels(c, 'admin')),
    type: 'Opaque',
    data: b64({ token }),
  };
}
