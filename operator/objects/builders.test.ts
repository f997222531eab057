import { describe, expect, it } from 'vitest';
import { envName } from '../../services/shared/config.js';
import { canaryBucket, parseRoutingTable, ROUTING_KEY, trackFor } from '../../services/shared/routing-table.js';
import { cluster } from '../testing/fixtures.js';
import {
  canaryPools,
  gateDeployment,
  gatePdb,
  gateService,
  metricsService,
  roleDeployment,
  roleService,
  routingConfigMap,
  routingTable,
  serviceMonitor,
} from './builders.js';
import { commonEnv, L, operatorSettings, RESTRICTED_CONTAINER } from './common.js';
import { dependencySecret, dependencyStatefulSet } from './dependencies.js';

const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('gate pool objects', () => {
  const c = cluster();
  const [vip, main] = c.spec.gate.pools as [any, any];

  it('a pool Deployment serves only its AppIds, on its track, and drains within the grace period', () => {
    const d: any = gateDeployment(c, vip, 'stable', { replicas: 2, dependenciesHash: 'h' });
    expect(d.metadata.name).toBe('demo-gate-vip');
    expect(d.metadata.ownerReferences).toEqual([
      { apiVersion: 'imcloud.dev/v1alpha1', kind: 'ImCluster', name: 'demo', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
    ]);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'imcloud',
      'app.kubernetes.io/instance': 'demo',
      'app.kubernetes.io/component': 'gate',
      'imcloud.dev/cluster': 'demo',
      'imcloud.dev/pool': 'vip',
      'imcloud.dev/track': 'stable',
    });
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
    expect(pod.containers[0].ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['tcp', 8090],
      ['ops', 9090],
    ]);
    expect(pod.containers[0].readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops', scheme: 'HTTP' });
    expect(pod.containers[0].livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
    expect(pod.containers[0].startupProbe.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
    expect(e.IMCLOUD_HTTP_PORT).toBe('8080');
    expect(e.IMCLOUD_HTTP_OPS_PORT).toBe('9090');
    expect(e.IMCLOUD_TLS_CERT_FILE).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['routing', 'tmp']);
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

  it('the pool Service (the public ports only) and PodDisruptionBudget cover both tracks of the pool', () => {
    const s: any = gateService(c, main);
    expect(s.spec.type).toBe('LoadBalancer');
    expect(s.spec.selector[L.track]).toBeUndefined();
    expect(s.spec.ports.map((p: any) => [p.name, p.port, p.targetPort])).toEqual([
      ['http', 8080, 'http'],
      ['tcp', 8090, 'tcp'],
    ]);
    expect((gateService(cluster({ gate: { ...c.spec.gate, tcp: false } }), main) as any).spec.ports.map((p: any) => p.name)).toEqual([
      'http',
    ]);
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

describe('the ops listener', () => {
  const c = cluster();

  it('every role pod has the ops port, its probes on it, and the label the metrics Service selects', () => {
    const all = [
      gateDeployment(c, c.spec.gate.pools[0]!, 'stable', { replicas: 1, dependenciesHash: 'h' }),
      ...(['logic', 'consumer', 'dispatch', 'admin'] as const).map((role) =>
        roleDeployment(c, role, 'stable', { replicas: 1, dependenciesHash: 'h' }),
      ),
    ];
    for (const d of all as any[]) {
      const container = d.spec.template.spec.containers[0];
      expect(
        container.ports.find((p: any) => p.name === 'ops'),
        d.metadata.name,
      ).toEqual({ name: 'ops', containerPort: 9090, protocol: 'TCP' });
      expect(
        container.ports.find((p: any) => p.name === 'http'),
        d.metadata.name,
      ).toEqual({ name: 'http', containerPort: 8080, protocol: 'TCP' });
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
        expect(container[probe].httpGet.port, `${d.metadata.name} ${probe}`).toBe('ops');
      expect(env(d).IMCLOUD_HTTP_OPS_PORT).toBe('9090');
      expect(d.spec.template.metadata.labels[L.metricsPort]).toBe('ops');
      // not in the selector: Deployments made before it keep theirs
      expect(d.spec.selector.matchLabels[L.metricsPort]).toBeUndefined();
    }
  });

  it("dispatch's Service is its public port; admin's is the admin API on the ops port; logic's and consumer's the ops port", () => {
    const ports = (role: 'dispatch' | 'admin' | 'logic' | 'consumer') =>
      (roleService(c, role) as any).spec.ports.map((p: any) => [p.name, p.port, p.targetPort]);
    expect(ports('dispatch')).toEqual([['http', 8080, 'http']]);
    expect(ports('admin')).toEqual([['admin', 9090, 'ops']]);
    expect(ports('logic')).toEqual([['ops', 9090, 'ops']]);
    expect(ports('consumer')).toEqual([['ops', 9090, 'ops']]);
    expect((roleService(c, 'admin') as any).metadata.name).toBe('demo-admin');
  });

  it('<cluster>-metrics is a headless Service over the ops port of every role pod of the cluster, and of nothing else', () => {
    const s: any = metricsService(c);
    expect(s.metadata.name).toBe('demo-metrics');
    expect(s.metadata.labels[L.component]).toBe('metrics');
    expect(s.spec.clusterIP).toBe('None');
    expect(s.spec.ports).toEqual([{ name: 'ops', port: 9090, targetPort: 'ops', protocol: 'TCP' }]);
    const selects = (podLabels: Record<string, string>) => Object.entries(s.spec.selector).every(([k, v]) => podLabels[k] === v);
    const gray = cluster({ gray: { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 1 } });
    expect(
      selects(
        (gateDeployment(gray, gray.spec.gate.pools[0]!, 'canary', { replicas: 1, dependenciesHash: 'h' }) as any).spec.template.metadata
          .labels,
      ),
    ).toBe(true);
    expect(
      selects((roleDeployment(c, 'consumer', 'stable', { replicas: 1, dependenciesHash: 'h' }) as any).spec.template.metadata.labels),
    ).toBe(true);
    expect(selects((dependencyStatefulSet(c, 'mongodb') as any).spec.template.metadata.labels)).toBe(false);
    expect(
      selects(
        (gateDeployment(cluster({}, 'other'), c.spec.gate.pools[0]!, 'stable', { replicas: 1, dependenciesHash: 'h' }) as any).spec.template
          .metadata.labels,
      ),
    ).toBe(false);
  });
});

describe('TLS (spec.tls)', () => {
  const c = cluster({ tls: { secretName: 'chat-tls', roles: ['gate', 'dispatch', 'admin'] } });
  const [vip] = c.spec.gate.pools as [any];
  const pod = (d: any) => d.spec.template.spec;

  it('the roles it covers mount the Secret read-only, read the files from it, probe over HTTPS and advertise wss://', () => {
    const gate: any = gateDeployment(c, vip, 'stable', { replicas: 1, dependenciesHash: 'h' });
    for (const d of [
      gate,
      roleDeployment(c, 'dispatch', 'stable', { replicas: 1, dependenciesHash: 'h' }),
      roleDeployment(c, 'admin', 'stable', { replicas: 1, dependenciesHash: 'h' }),
    ] as any[]) {
      const container = pod(d).containers[0];
      expect(
        pod(d).volumes.find((v: any) => v.name === 'tls'),
        d.metadata.name,
      ).toEqual({ name: 'tls', secret: { secretName: 'chat-tls', defaultMode: 0o440 } });
      expect(
        container.volumeMounts.find((m: any) => m.name === 'tls'),
        d.metadata.name,
      ).toEqual({ name: 'tls', mountPath: '/etc/imcloud/tls', readOnly: true });
      expect(env(d)).toMatchObject({ IMCLOUD_TLS_CERT_FILE: '/etc/imcloud/tls/tls.crt', IMCLOUD_TLS_KEY_FILE: '/etc/imcloud/tls/tls.key' });
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
        expect(container[probe].httpGet, `${d.metadata.name} ${probe}`).toMatchObject({ port: 'ops', scheme: 'HTTPS' });
    }
    expect(env(gate).IMCLOUD_GATE_PUBLIC_WS_URL).toBe('wss://$(POD_IP):8080/ws');
    expect(env(gate).IMCLOUD_GATE_PUBLIC_TCP_ADDR).toBe('$(POD_IP):8090');
    // The pool's own URL (a load balancer's name the certificate covers) is kept as given.
    expect(
      env(gateDeployment(c, { ...vip, publicWsUrl: 'wss://chat.example.com/ws' }, 'stable', { replicas: 1, dependenciesHash: 'h' }))
        .IMCLOUD_GATE_PUBLIC_WS_URL,
    ).toBe('wss://chat.example.com/ws');
  });

  it('roles it does not cover stay plain: no mount, no files, HTTP probes', () => {
    for (const role of ['logic', 'consumer'] as const) {
      const d: any = roleDeployment(c, role, 'stable', { replicas: 1, dependenciesHash: 'h' });
      expect(pod(d).volumes.map((v: any) => v.name)).toEqual(['routing', 'tmp']);
      expect(env(d).IMCLOUD_TLS_CERT_FILE).toBeUndefined();
      expect(pod(d).containers[0].readinessProbe.httpGet.scheme).toBe('HTTP');
    }
    const logicToo = cluster({ tls: { secretName: 'chat-tls', roles: ['logic'] } });
    expect(env(roleDeployment(logicToo, 'logic', 'stable', { replicas: 1, dependenciesHash: 'h' })).IMCLOUD_TLS_KEY_FILE).toBe(
      '/etc/imcloud/tls/tls.key',
    );
    expect(env(gateDeployment(logicToo, vip, 'stable', { replicas: 1, dependenciesHash: 'h' })).IMCLOUD_GATE_PUBLIC_WS_URL).toBe(
      'ws://$(POD_IP):8080/ws',
    );
  });

  it('the pod template names the Secret, with no annotation that follows its content (a renewed certificate rolls nothing out)', () => {
    const d: any = gateDeployment(c, vip, 'stable', { replicas: 1, dependenciesHash: 'h' });
    expect(d.spec.template.metadata.annotations).toEqual({ 'imcloud.dev/dependencies-hash': 'h' });
  });
});

describe('the file role (ADR 0108)', () => {
  const c = cluster({
    file: { replicas: 3 },
    dependencies: { ...cluster().spec.dependencies, minio: { managed: false, secretRef: { name: 'minio-conn' } } },
  });

  it('its Deployment runs `imcloud file` with the MinIO settings from the minio Secret, probes /readyz, and surges on rollouts', () => {
    const d: any = roleDeployment(c, 'file', 'stable', { replicas: 3, dependenciesHash: 'h' });
    expect(d.metadata.name).toBe('demo-file');
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.selector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'file', 'imcloud.dev/track': 'stable' });
    const container = d.spec.template.spec.containers[0];
    expect(container.args).toEqual(['file']);
    expect(container.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['ops', 9090],
    ]);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops', scheme: 'HTTP' });
    expect(container.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' } });
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: 0 });
    const e = env(d);
    expect(e.IMCLOUD_MINIO_END_POINT).toEqual({ secretKeyRef: { name: 'minio-conn', key: 'endPoint' } });
    expect(e.IMCLOUD_MINIO_PORT).toEqual({ secretKeyRef: { name: 'minio-conn', key: 'port', optional: true } });
    expect(e.IMCLOUD_MINIO_ACCESS_KEY).toEqual({ secretKeyRef: { name: 'minio-conn', key: 'accessKey' } });
    expect(e.IMCLOUD_MINIO_SECRET_KEY).toEqual({ secretKeyRef: { name: 'minio-conn', key: 'secretKey' } });
    expect(e.IMCLOUD_MINIO_USE_SSL).toEqual({ secretKeyRef: { name: 'minio-conn', key: 'useSSL', optional: true } });
    expect(e.IMCLOUD_MONGODB_URL).toEqual({ secretKeyRef: { name: 'demo-mongodb', key: 'url' } });
    expect(e.IMCLOUD_HTTP_PORT).toBe('8080');
    // the bucket is minio.bucket: the role's default, or spec.config for every role alike
    expect(e.IMCLOUD_MINIO_BUCKET).toBeUndefined();
    const withBucket: any = roleDeployment({ ...c, spec: { ...c.spec, config: { 'minio.bucket': 'chat-files' } } }, 'file', 'stable', {
      replicas: 3,
      dependenciesHash: 'h',
    });
    expect(env(withBucket).IMCLOUD_MINIO_BUCKET).toBe('chat-files');
    const sized: any = roleDeployment({ ...c, spec: { ...c.spec, file: { resources: { requests: { cpu: '1' } } } } }, 'file', 'stable', {
      replicas: 1,
      dependenciesHash: 'h',
    });
    expect(sized.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: '1' } });
  });

  it('its Service is the public file API, port http 8080; no ops port', () => {
    const svc: any = roleService(c, 'file');
    expect(svc.metadata.name).toBe('demo-file');
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.selector).toMatchObject({ 'app.kubernetes.io/component': 'file' });
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('serves TLS when spec.tls covers it (by default it does: clients upload and download through it)', () => {
    const tls = { ...c, spec: { ...c.spec, tls: { secretName: 'chat-tls', roles: ['gate', 'dispatch', 'admin', 'file'] as any } } };
    const d: any = roleDeployment(tls, 'file', 'stable', { replicas: 1, dependenciesHash: 'h' });
    expect(env(d).IMCLOUD_TLS_CERT_FILE).toBe('/etc/imcloud/tls/tls.crt');
    expect(d.spec.template.spec.containers[0].readinessProbe.httpGet.scheme).toBe('HTTPS');
  });
});

describe('settings the operator sets itself', () => {
  // TLS on: the certificate settings are among those the pods get.
  const c = cluster({
    gray: { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 1 },
    tls: { secretName: 'chat-tls', roles: ['gate', 'dispatch', 'admin'] },
  });
  const [vip, main] = c.spec.gate.pools as [any, any];
  const workloads = [
    ...[vip, main].flatMap((pool) =>
      (['stable', 'canary'] as const).map((track) => gateDeployment(c, pool, track, { replicas: 1, dependenciesHash: 'h' })),
    ),
    ...(['logic', 'consumer', 'dispatch', 'admin'] as const).flatMap((role) =>
      (['stable', 'canary'] as const).map((track) => roleDeployment(c, role, track, { replicas: 1, dependenciesHash: 'h' })),
    ),
  ];

  it('are exactly those operatorSettings lists, so the check of spec.config can refuse them', () => {
    const listed = new Set([...operatorSettings(c).keys()].map((k) => envName(...(k.split('.') as [string, string]))));
    const set = new Set(
      workloads
        .flatMap((d: any) => d.spec.template.spec.containers[0].env.map((e: any) => e.name as string))
        .filter((n) => n.startsWith('IMCLOUD_')),
    );
    expect([...set].filter((n) => !listed.has(n))).toEqual([]);
    expect([...listed].filter((n) => !set.has(n))).toEqual([]);
  });

  it('win over spec.config, which adds each of its variables once, after them', () => {
    const d: any = gateDeployment(cluster({ config: { 'gate.drainMs': '1', 'gate.rateLimitPerSec': '50' } }), vip, 'stable', {
      replicas: 1,
      dependenciesHash: 'h',
    });
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
    expect(canaryPools(c, { version: '2', appIds: [], percentage: 10, promoting: false }).map((p) => p.name)).toEqual([
      ...(['acme', 'globex'].some((a) => canaryBucket(a) < 10) ? ['vip'] : []),
      'main',
    ]);
  });

  it('the routing table ConfigMap carries pools and the canary, and readers route by it', () => {
    const c = cluster();
    const cm: any = routingConfigMap(c, routingTable(c, { version: '1.1.0', appIds: ['globex'], percentage: 5, promoting: false }));
    expect(cm.metadata.name).toBe('demo-routing');
    const table = parseRoutingTable(cm.data[ROUTING_KEY]);
    expect(table.pools).toEqual([
      { name: 'vip', default: false, appIds: ['acme', 'globex'] },
      { name: 'main', default: true, appIds: [] },
    ]);
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
    const withStorage: any = dependencyStatefulSet(
      cluster({ dependencies: { ...c.spec.dependencies, mongodb: { managed: true, storage: '5Gi' } } }),
      'mongodb',
    );
    expect(withStorage.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('5Gi');
    const secret: any = dependencySecret(c, 'rabbitmq', 'p@ss');
    expect(Buffer.from(secret.data.url, 'base64').toString()).toBe('amqp://imcloud:p%40ss@demo-rabbitmq.chat.svc:5672');
  });

  it('the ServiceMonitor scrapes the ops port of every role pod through <cluster>-metrics', () => {
    const sm: any = serviceMonitor(cluster({ monitoring: { serviceMonitor: true, interval: '15s', labels: { release: 'prom' } } }));
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.selector).toEqual({
      matchLabels: {
        'imcloud.dev/cluster': 'demo',
        'app.kubernetes.io/managed-by': 'imcloud-operator',
        'app.kubernetes.io/component': 'metrics',
      },
    });
    const svc: any = metricsService(cluster());
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v)).toBe(true);
    expect(sm.spec.podTargetLabels).toEqual(['app.kubernetes.io/component', 'imcloud.dev/pool', 'imcloud.dev/track']);
    expect(sm.spec.endpoints).toEqual([{ port: 'ops', path: '/metrics', interval: '15s', scheme: 'http' }]);
  });

  it('with TLS, the roles spec.tls covers are scraped over https (not verified unless monitoring.tlsConfig says how), the others over http', () => {
    const meta = '__meta_kubernetes_pod_label_app_kubernetes_io_component';
    const mixed: any = serviceMonitor(cluster({ tls: { secretName: 't', roles: ['gate', 'dispatch', 'admin'] } }));
    expect(mixed.spec.endpoints).toEqual([
      {
        port: 'ops',
        path: '/metrics',
        interval: '30s',
        scheme: 'http',
        relabelings: [{ sourceLabels: [meta], regex: 'gate|dispatch|admin', action: 'drop' }],
      },
      {
        port: 'ops',
        path: '/metrics',
        interval: '30s',
        scheme: 'https',
        tlsConfig: { insecureSkipVerify: true },
        relabelings: [{ sourceLabels: [meta], regex: 'gate|dispatch|admin', action: 'keep' }],
      },
    ]);
    // The file role counts once it runs (spec.file and MinIO).
    const minio = { managed: true, secretRef: undefined };
    const withFile: any = serviceMonitor(
      cluster({
        file: {},
        dependencies: { ...cluster().spec.dependencies, minio },
        tls: { secretName: 't', roles: ['gate', 'dispatch', 'admin', 'file'] },
      }),
    );
    expect(withFile.spec.endpoints.map((e: any) => e.relabelings[0].regex)).toEqual([
      'gate|dispatch|admin|file',
      'gate|dispatch|admin|file',
    ]);
    const fileNotCovered: any = serviceMonitor(
      cluster({
        file: {},
        dependencies: { ...cluster().spec.dependencies, minio },
        tls: { secretName: 't', roles: ['consumer', 'gate', 'logic', 'admin', 'dispatch'] },
      }),
    );
    expect(fileNotCovered.spec.endpoints.map((e: any) => [e.scheme, e.relabelings[0].action])).toEqual([
      ['http', 'drop'],
      ['https', 'keep'],
    ]);
    const all: any = serviceMonitor(
      cluster({
        tls: { secretName: 't', roles: ['consumer', 'gate', 'logic', 'admin', 'dispatch'] },
        monitoring: {
          serviceMonitor: true,
          interval: '30s',
          tlsConfig: { ca: { secret: { name: 'ca', key: 'ca.crt' } }, serverName: 'metrics.chat.example.com' },
        },
      }),
    );
    expect(all.spec.endpoints).toEqual([
      {
        port: 'ops',
        path: '/metrics',
        interval: '30s',
        scheme: 'https',
        tlsConfig: { ca: { secret: { name: 'ca', key: 'ca.crt' } }, serverName: 'metrics.chat.example.com' },
      },
    ]);
  });
});
