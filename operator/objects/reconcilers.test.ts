import { describe, expect, it } from 'vitest';
import type { ImClusterSpec } from '../api/imcluster.js';
import { R } from '../kube/client.js';
import { cluster } from '../testing/fixtures.js';
import { desiredObjects, followsTlsSecret, type PlanContext } from './reconcilers.js';

function ctx(spec: Partial<ImClusterSpec> = {}, o: Partial<PlanContext> = {}): PlanContext {
  const c = cluster(spec);
  const g = c.spec.gray;
  return {
    cluster: c,
    dependenciesHash: 'h',
    canary: g ? { version: g.version, appIds: g.appIds, percentage: g.percentage, promoting: false } : undefined,
    replicasFor: (_d, fixed, autoscale, fallback) => fixed ?? autoscale?.minReplicas ?? fallback,
    serviceMonitors: false,
    ...o,
  };
}

const list = (x: PlanContext) => desiredObjects(x).map((d) => `${d.object.kind}/${d.object.metadata.name}`);
const gray = { version: '1.1.0', appIds: ['acme'], percentage: 0, gateReplicas: 1, logicReplicas: 1 };

describe('desiredObjects', () => {
  it('one Deployment, Service and PDB per pool; Deployment and Service per role; the routing ConfigMap; managed dependencies', () => {
    expect(list(ctx())).toEqual([
      'StatefulSet/demo-mongodb',
      'Service/demo-mongodb',
      'ConfigMap/demo-routing',
      'Deployment/demo-gate-vip',
      'Service/demo-gate-vip',
      'PodDisruptionBudget/demo-gate-vip',
      'Deployment/demo-gate-main',
      'Service/demo-gate-main',
      'PodDisruptionBudget/demo-gate-main',
      'Deployment/demo-logic',
      'Service/demo-logic',
      'Deployment/demo-consumer',
      'Service/demo-consumer',
      'Deployment/demo-dispatch',
      'Service/demo-dispatch',
      'Deployment/demo-admin',
      'Service/demo-admin',
      'Service/demo-metrics',
    ]);
  });

  it('gray adds canary gates for the pools that serve canary AppIds, and canary logic', () => {
    const names = list(ctx({ gray }));
    expect(names.filter((n) => n.endsWith('-canary'))).toEqual(['Deployment/demo-gate-vip-canary', 'Deployment/demo-logic-canary']);
  });

  it('while promoting, no canary object is declared (the controller keeps the existing ones untouched)', () => {
    const x = ctx({ gray });
    x.canary!.promoting = true;
    expect(list(x).filter((n) => n.endsWith('-canary'))).toEqual([]);
  });

  it('omits spec.replicas of a Deployment an HPA owns; uses the autoscaler decision otherwise', () => {
    const x = ctx(
      {},
      {
        replicasFor: (d, fixed, autoscale, fallback) =>
          d === 'demo-logic' ? undefined : d === 'demo-gate-main' ? 7 : (fixed ?? autoscale?.minReplicas ?? fallback),
      },
    );
    const byName = new Map(
      desiredObjects(x)
        .filter((d) => d.object.kind === 'Deployment')
        .map((d) => [d.object.metadata.name, d.object as any]),
    );
    expect('replicas' in byName.get('demo-logic').spec).toBe(false);
    expect(byName.get('demo-gate-main').spec.replicas).toBe(7);
    expect(byName.get('demo-consumer').spec.replicas).toBe(1);
  });

  it('spec.file with MinIO: the file Deployment (replicas per spec) and its Service; without MinIO neither', () => {
    const minio = { managed: false, secretRef: { name: 'minio-conn' } };
    const deps = cluster().spec.dependencies;
    const x = ctx({ file: { replicas: 3 }, dependencies: { ...deps, minio } });
    expect(list(x).filter((n) => n.includes('-file'))).toEqual(['Deployment/demo-file', 'Service/demo-file']);
    const d: any = desiredObjects(x).find((o) => o.object.metadata.name === 'demo-file' && o.object.kind === 'Deployment')!.object;
    expect(d.spec.replicas).toBe(3);
    // autoscale: the autoscaler's decision (here the fixture's minReplicas); neither: 2 pods
    const autoscale = {
      minReplicas: 4,
      maxReplicas: 8,
      targetCpuMillicoresPerPod: 500,
      stabilizationWindowSeconds: 300,
      maxStepUp: 4,
      maxStepDown: 1,
    };
    const scaled: any = desiredObjects(ctx({ file: { autoscale }, dependencies: { ...deps, minio } })).find(
      (o) => o.object.metadata.name === 'demo-file' && o.object.kind === 'Deployment',
    )!.object;
    expect(scaled.spec.replicas).toBe(4);
    const plain: any = desiredObjects(ctx({ file: {}, dependencies: { ...deps, minio } })).find(
      (o) => o.object.metadata.name === 'demo-file' && o.object.kind === 'Deployment',
    )!.object;
    expect(plain.spec.replicas).toBe(2);
    expect(list(ctx({ file: { replicas: 3 } })).filter((n) => n.includes('-file'))).toEqual([]);
    expect(list(ctx({ dependencies: { ...deps, minio } })).filter((n) => n.includes('-file'))).toEqual([]);
  });

  it('declares the ServiceMonitor only when asked for and served', () => {
    expect(list(ctx({}, { serviceMonitors: true }))).toContain('ServiceMonitor/demo');
    expect(list(ctx({ monitoring: { serviceMonitor: false, interval: '30s' } }, { serviceMonitors: true }))).not.toContain(
      'ServiceMonitor/demo',
    );
    expect(list(ctx())).not.toContain('ServiceMonitor/demo');
  });

  it('every declared object carries the cluster ownerReference', () => {
    for (const d of desiredObjects(ctx({ gray }, { serviceMonitors: true }))) {
      expect(d.object.metadata.ownerReferences, d.object.metadata.name).toEqual([
        expect.objectContaining({ kind: 'ImCluster', uid: 'uid-1', controller: true }),
      ]);
    }
  });

  it('with spec.tls, the Deployments of the roles it covers and the ServiceMonitor follow the TLS Secret; nothing else does', () => {
    const x = ctx({ tls: { secretName: 'chat-tls', roles: ['gate', 'dispatch', 'admin'] }, gray }, { serviceMonitors: true });
    const following = desiredObjects(x)
      .filter((d) => followsTlsSecret(x.cluster, d.resource, d.object))
      .map((d) => `${d.object.kind}/${d.object.metadata.name}`);
    expect(following).toEqual([
      'Deployment/demo-gate-vip',
      'Deployment/demo-gate-main',
      'Deployment/demo-gate-vip-canary',
      'Deployment/demo-dispatch',
      'Deployment/demo-admin',
      'ServiceMonitor/demo',
    ]);
    const plain = ctx({ gray }, { serviceMonitors: true });
    expect(desiredObjects(plain).filter((d) => followsTlsSecret(plain.cluster, d.resource, d.object))).toEqual([]);
    // A live object is judged by its labels, the way the controller keeps it.
    expect(
      followsTlsSecret(x.cluster, R.deployments, { metadata: { name: 'x', labels: { 'app.kubernetes.io/component': 'logic' } } }),
    ).toBe(false);
    expect(followsTlsSecret(x.cluster, R.deployments, { metadata: { name: 'x', labels: { 'app.kubernetes.io/component': 'gate' } } })).toBe(
      true,
    );
  });
});
