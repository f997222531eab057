import { describe, expect, it } from 'vitest';
import { envName } from '../../services/shared/config.js';
import { canaryBucket, parseRoutingTable, ROUTING_KEY, trackFor } from '../../services/shared/routing-table.js';
import { cluster } from '../testing/fixtures.js';
import {
  canaryPools, dependencySecret, dependencyStatefulSet, gateDeployment, gatePdb, gateService, roleDeployment, routingConfigMap,
  routingTable, serviceMonitor,
} from './builders.js';
import { commonEnv, L, operatorSettings, RESTRICTED_CONTAINER } from './common.js';

const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('gate pool objects', () => {
  const c = cluster();
  const [vip, main] = c.spec.gate.pools as [any, any];

  it('a pool Deployment serves only its AppIds, on its track, and drains within the grace period', () => {
    const d: any = gateDeployment(c, vip, 'stable', { replicas: 2, dependenciesHash: 'h' });
    expect(d.metadata.name).toBe('demo-gate-vip');
    expect(d.metadata.ownerReferences).toEqual([{ apiVersion: 'imcloud.dev/v1alpha1', kind: 'ImCluster', name: 'demo', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'imcloud', 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/component': 'gate', 'imcloud.dev/cluster': 'demo', 'imcloud.dev/pool': 'vip', 'imcloud.dev/track': 'stable' });
    const e = env(d);
    expect(e.IMCLOUD_GATE_POOL).toBe('vip');
    expect(e.IMCLOUD_GATE_APP_IDS).toBe('acme,globex');
    expect(e.IMCLOUD_GATE_TRACK).toBe('stable');
    expect(e.IMCLOUD_GATE_DRAIN_MS).toBe('30000');
    expect(e.IMCLOUD_GATE_PUBLIC_WS_URL).toBe('ws://$(POD_IP):8080/ws');
    expect(e.IMCLOUD_NODE_ID).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(e.IMCLOUD_ROUTING_FILE).toBe('/etc/imcloud/routing/routing.json');
    expect(e.IMCLOUD_REDIS_URL).toEqual({ secretKeyRef: { name: 'redis-conn', key: 'url' } });
    expect(e.IMCLOUD_MONGODB_URL).toEqual({ secretKeyRef: { name: 'demo-mongodb', key: 'url' } });
    expect(e.IMCLOUD_MONGODB_DATABASE).toEqual({ secretKeyRef: { name: 'demo-mongodb', key: 'database', optional: true } });
    const pod = d.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(45);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: 0 });
    expect(pod.containers[0].image).toBe('ghcr.io/imcloud/imcloud:1.0.0');
    expect(pod.containers[0].args).toEqual(['gate']);
    expect(pod.containers[0].ports.map((p: any) => p.containerPort)).toEqual([8080, 8090]);
    expect(pod.containers[0].readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(pod.containers[0].livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(pod.containers[0].securityContext).toEqual(RESTRICTED_CONTAINER);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.volumes[0]).toEqual({ name: 'routing', configMap: { name: 'demo-routing' } });
    expect(d.spec.template.metadata.annotations['imcloud.dev/dependencies-hash']).toBe('h');
    expect(d.spec.template.metadata.labels['app.kubernetes.io/version']).toBe('1.0.0');
  });

  it('omits spec.replicas when an HPA owns it', () => {
    const d: any = gateDeployment(c, main, 'stable', { replicas: undefined, dependenciesHash: 'h' });
    expect('replicas' in d.spec).toBe(false);
  });

  it('the default pool has an empty AppId list; canary gates run the gray version', () => {
    const g = cluster({ gray: { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 1 } });
    const d: any = gateDeployment(g, g.spec.gate.pools[1]!, 'canary', { replicas: 1, dependenciesHash: 'h' });
    expect(d.metadata.name).toBe('demo-gate-main-canary');
    expect(env(d).IMCLOUD_GATE_APP_IDS).toBeUndefined();
    expect(env(d).IMCLOUD_GATE_TRACK).toBe('canary');
    expect(d.spec.template.spec.containers[0].image).toBe('ghcr.io/imcloud/imcloud:1.1.0');
    expect(d.metadata.labels[L.version]).toBe('1.1.0');
  });

  it('the pool Service and PodDisruptionBudget cover both tracks of the pool', () => {
    const s: any = gateService(c, main);
    expect(s.spec.type).toBe('LoadBalancer');
    expect(s.spec.selector[L.track]).toBeUndefined();
    expect(s.spec.ports.map((p: any) => p.name)).toEqual(['http', 'tcp']);
    const p: any = gatePdb(c, main);
    expect(p.spec.maxUnavailable).toBe('25%');
    expect(p.spec.selector.matchLabels[L.pool]).toBe('main');
  });
});

describe('roles', () => {
  it('canary logic consumes the canary upstream queue', () => {
    const g = cluster({ gray: { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 2 } });
    expect(env(roleDeployment(g, 'logic', 'canary', { replicas: 2, dependenciesHash: 'h' })).IMCLOUD_GATE_TRACK).toBe('canary');
    expect(env(roleDeployment(g, 'logic', 'stable', { replicas: 2, dependenciesHash: 'h' })).IMCLOUD_GATE_TRACK).toBe('stable');
  });

  it('admin gets the platform token from a Secret; spec.config becomes IMCLOUD_* variables', () => {
    const c = cluster({ config: { 'gate.rateLimitPerSec': '50', 'logic.recentWindow': '100' } });
    const e = env(roleDeployment(c, 'admin', 'stable', { replicas: 1, dependenciesHash: 'h' }));
    expect(e.IMCLOUD_ADMIN_TOKEN).toEqual({ secretKeyRef: { name: 'demo-admin-token', key: 'token' } });
    expect(e.IMCLOUD_GATE_RATE_LIMIT_PER_SEC).toBe('50');
    expect(e.IMCLOUD_LOGIC_RECENT_WINDOW).toBe('100');
    expect(commonEnv(c, 'logic').some((x) => x.name === 'IMCLOUD_ADMIN_TOKEN')).toBe(false);
  });
});

describe('settings the operator sets itself', () => {
  const c = cluster({ gray: { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 1 } });
  const [vip, main] = c.spec.gate.pools as [any, any];
  const workloads = [
    ...[vip, main].flatMap((pool) => (['stable', 'canary'] as const).map((track) => gateDeployment(c, pool, track, { replicas: 1, dependenciesHash: 'h' }))),
    ...(['logic', 'consumer', 'dispatch', 'admin'] as const).flatMap((role) => (['stable', 'canary'] as const).map((track) => roleDeployment(c, role, track, { replicas: 1, dependenciesHash: 'h' }))),
  ];

  it('are exactly those operatorSettings lists, so the check of spec.config can refuse them', () => {
    const listed = new Set([...operatorSettings(c).keys()].map((k) => envName(...(k.split('.') as [string, string]))));
    const set = new Set(workloads.flatMap((d: any) => d.spec.template.spec.containers[0].env.map((e: any) => e.name as string)).filter((n) => n.startsWith('IMCLOUD_')));
    expect([...set].filter((n) => !listed.has(n))).toEqual([]);
    expect([...listed].filter((n) => !set.has(n))).toEqual([]);
  });

  it('win over spec.config, which adds each of its variables once, after them', () => {
    const d: any = gateDeployment(cluster({ config: { 'gate.drainMs': '1', 'gate.rateLimitPerSec': '50' } }), vip, 'stable', { replicas: 1, dependenciesHash: 'h' });
    const names = d.spec.template.spec.containers[0].env.map((e: any) => e.name);
    expect(names.filter((n: string) => n === 'IMCLOUD_GATE_DRAIN_MS')).toHaveLength(1);
    expect(env(d).IMCLOUD_GATE_DRAIN_MS).toBe('30000');
    expect(names.at(-1)).toBe('IMCLOUD_GATE_RATE_LIMIT_PER_SEC');
  });
});

describe('gray release', () => {
  it('canary gates go only to pools that serve a canary AppId', () => {
    const c = cluster();
    expect(canaryPools(c, undefined)).toEqual([]);
    expect(canaryPools(c, { version: '2', appIds: ['acme'], percentage: 0, promoting: false }).map((p) => p.name)).toEqual(['vip']);
    expect(canaryPools(c, { version: '2', appIds: ['someone'], percentage: 0, promoting: false }).map((p) => p.name)).toEqual(['main']);
    expect(canaryPools(c, { version: '2', appIds: [], percentage: 10, promoting: false }).map((p) => p.name))
      .toEqual([...(['acme', 'globex'].some((a) => canaryBucket(a) < 10) ? ['vip'] : []), 'main']);
  });

  it('the routing table ConfigMap carries pools and the canary, and readers route by it', () => {
    const c = cluster();
    const cm: any = routingConfigMap(c, routingTable(c, { version: '1.1.0', appIds: ['globex'], percentage: 5, promoting: false }));
    expect(cm.metadata.name).toBe('demo-routing');
    const table = parseRoutingTable(cm.data[ROUTING_KEY]);
    expect(table.pools).toEqual([{ name: 'vip', default: false, appIds: ['acme', 'globex'] }, { name: 'main', default: true, appIds: [] }]);
    expect(table.stable.version).toBe('1.0.0');
    expect(trackFor(table, 'globex')).toBe('canary');
    expect(trackFor(table, 'acme')).toBe(canaryBucket('acme') < 5 ? 'canary' : 'stable');
    expect(parseRoutingTable((routingConfigMap(c, routingTable(c, undefined)) as any).data[ROUTING_KEY]).canary).toBeUndefined();
  });
});

describe('dependencies and monitoring', () => {
  it('a managed dependency is a single-replica StatefulSet with a connection Secret', () => {
    const c = cluster();
    const s: any = dependencyStatefulSet(c, 'mongodb');
    expect(s.spec.replicas).toBe(1);
    expect(s.spec.template.spec.containers[0].image).toBe('mongo:7.0');
    expect(s.spec.template.spec.volumes).toEqual([{ name: 'data', emptyDir: {} }]);
    const withStorage: any = dependencyStatefulSet(cluster({ dependencies: { ...c.spec.dependencies, mongodb: { managed: true, storage: '5Gi' } } }), 'mongodb');
    expect(withStorage.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('5Gi');
    const secret: any = dependencySecret(c, 'rabbitmq', 'p@ss');
    expect(Buffer.from(secret.data.url, 'base64').toString()).toBe('amqp://imcloud:p%40ss@demo-rabbitmq.chat.svc:5672');
  });

  it('the ServiceMonitor scrapes every role Service of the cluster', () => {
    const sm: any = serviceMonitor(cluster({ monitoring: { serviceMonitor: true, interval: '15s', labels: { release: 'prom' } } }));
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '15s' }]);
  });
});
