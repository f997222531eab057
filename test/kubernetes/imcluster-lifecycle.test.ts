// An ImCluster's life on a real control plane (kube-apiserver + controller-manager + scheduler +
// kwok): create, observe objects and status through kubectl, roll a version out, change pools,
// pause, delete. The operator runs as a real `imcloud operator` process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  cleanupNamespace,
  componentNames,
  condition,
  dependencySecrets,
  deployments,
  eventually,
  getImc,
  imcluster,
  kubectl,
  kubectlJson,
  newNamespace,
  type OperatorProcess,
  patchImc,
  startOperator,
  waitEventReasons,
  waitEvents,
  waitPhase,
  waitStatus,
} from './harness.js';

let ns: string;
let operator: OperatorProcess;

beforeAll(async () => {
  ns = await newNamespace('lifecycle');
  await dependencySecrets(ns);
  operator = await startOperator({ namespace: ns });
});

afterAll(async () => {
  await cleanupNamespace(ns);
});

const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('ImCluster lifecycle', () => {
  it('creates every object with the right spec, owner, labels and probes, and reports Ready once Kubernetes says the pods are', async () => {
    await apply(ns, imcluster('demo'));
    const roles = ['demo-admin', 'demo-consumer', 'demo-dispatch', 'demo-gate-main', 'demo-gate-vip', 'demo-logic'];
    // Ready counts only the Deployments the operator's cache holds: wait for the status that counts all six.
    const imc = await waitStatus(
      ns,
      'demo',
      'Ready with every role counted',
      (x) => x.status.phase === 'Ready' && componentNames(x).join() === roles.join(),
    );
    const uid = imc.metadata.uid;

    const deps = await deployments(ns);
    expect([...deps.keys()].sort()).toEqual([
      'demo-admin',
      'demo-consumer',
      'demo-dispatch',
      'demo-gate-main',
      'demo-gate-vip',
      'demo-logic',
    ]);
    for (const d of deps.values()) {
      expect(d.metadata.ownerReferences).toEqual([
        { apiVersion: 'imcloud.dev/v1alpha1', kind: 'ImCluster', name: 'demo', uid, controller: true, blockOwnerDeletion: true },
      ]);
      expect(d.metadata.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'imcloud-operator',
        'app.kubernetes.io/instance': 'demo',
        'imcloud.dev/cluster': 'demo',
        'app.kubernetes.io/version': '1.0.0',
      });
      const c = d.spec.template.spec.containers[0];
      expect(c.image).toBe('ghcr.io/imcloud/imcloud:1.0.0');
      // the probes go to the ops listener, which every role pod has
      expect(c.ports.find((p: any) => p.name === 'ops')).toEqual({ name: 'ops', containerPort: 9090, protocol: 'TCP' });
      expect(env(d).IMCLOUD_HTTP_OPS_PORT).toBe('9090');
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops', scheme: 'HTTP' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
      expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
      expect(c.securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(d.status.readyReplicas).toBe(d.spec.replicas);
      // one field manager for everything the operator owns
      const appliers = (d.metadata.managedFields ?? []).filter((m: any) => m.operation === 'Apply').map((m: any) => m.manager);
      expect(appliers).toEqual(['imcloud-operator']);
    }
    const vip = deps.get('demo-gate-vip');
    expect(vip.spec.replicas).toBe(2);
    expect(env(vip)).toMatchObject({
      IMCLOUD_GATE_POOL: 'vip',
      IMCLOUD_GATE_APP_IDS: 'acme,globex',
      IMCLOUD_GATE_TRACK: 'stable',
      IMCLOUD_GATE_DRAIN_MS: '5000',
    });
    expect(env(vip).IMCLOUD_REDIS_URL).toEqual({ secretKeyRef: { name: 'redis-conn', key: 'url' } });
    expect(vip.spec.template.spec.terminationGracePeriodSeconds).toBe(20);
    expect(env(deps.get('demo-gate-main')).IMCLOUD_GATE_APP_IDS).toBeUndefined();
    expect(env(deps.get('demo-gate-main')).IMCLOUD_GATE_POOL).toBe('main');
    expect(env(deps.get('demo-admin')).IMCLOUD_ADMIN_TOKEN).toEqual({ secretKeyRef: { name: 'demo-admin-token', key: 'token' } });

    const services = await kubectlJson(['get', 'services', '-n', ns]);
    expect(services.items.map((s: any) => s.metadata.name).sort()).toEqual([
      'demo-admin',
      'demo-consumer',
      'demo-dispatch',
      'demo-gate-main',
      'demo-gate-vip',
      'demo-logic',
      'demo-metrics',
    ]);
    // Public Services carry only the public ports; admin's is the admin API on the ops listener.
    const ports = new Map(
      services.items.map((s: any) => [s.metadata.name, s.spec.ports.map((p: any) => `${p.name}:${p.port}->${p.targetPort}`)]),
    );
    expect(Object.fromEntries(ports)).toEqual({
      'demo-gate-vip': ['http:8080->http', 'tcp:8090->tcp'],
      'demo-gate-main': ['http:8080->http', 'tcp:8090->tcp'],
      'demo-dispatch': ['http:8080->http'],
      'demo-admin': ['admin:9090->ops'],
      'demo-logic': ['ops:9090->ops'],
      'demo-consumer': ['ops:9090->ops'],
      'demo-metrics': ['ops:9090->ops'],
    });
    expect(services.items.find((s: any) => s.metadata.name === 'demo-metrics').spec.clusterIP).toBe('None');
    // The endpoint slice controller resolves the named ports on the real pods: the metrics Service
    // reaches port 9090 of every role pod (2 + 1 gates, 2 logic, 1 consumer, 1 dispatch, 1 admin).
    const slices = await eventually('demo-metrics endpoints for every role pod', async () => {
      const list = (
        await kubectlJson(['get', 'endpointslices', '-n', ns, '-l', 'kubernetes.io/service-name in (demo-metrics,demo-gate-vip)'])
      ).items as any[];
      const ready = (svc: string) =>
        list
          .filter((x) => x.metadata.labels['kubernetes.io/service-name'] === svc)
          .flatMap((x) => (x.endpoints ?? []).filter((e: any) => e.conditions?.ready));
      return ready('demo-metrics').length === 8 && ready('demo-gate-vip').length === 2 ? list : undefined;
    });
    const slicePorts = (svc: string) =>
      slices
        .filter((x) => x.metadata.labels['kubernetes.io/service-name'] === svc)
        .flatMap((x) => x.ports.map((p: any) => `${p.name}:${p.port}`))
        .sort();
    expect(slicePorts('demo-metrics')).toEqual(['ops:9090']);
    expect(slicePorts('demo-gate-vip')).toEqual(['http:8080', 'tcp:8090']);
    // The disruption controller fills in a PDB's status on its own schedule: wait for it to see the pool's pods.
    const pdbs = await eventually("the disruption controller counts the vip pool's pods", async () => {
      const list = await kubectlJson(['get', 'pdb', '-n', ns]);
      return list.items.find((p: any) => p.metadata.name === 'demo-gate-vip')?.status?.expectedPods === 2 ? list : undefined;
    });
    expect(pdbs.items.map((p: any) => p.metadata.name).sort()).toEqual(['demo-gate-main', 'demo-gate-vip']);
    const routing = JSON.parse((await kubectlJson(['get', 'configmap', 'demo-routing', '-n', ns])).data['routing.json']);
    expect(routing.pools).toEqual([
      { name: 'vip', default: false, appIds: ['acme', 'globex'] },
      { name: 'main', default: true, appIds: [] },
    ]);
    const token = await kubectlJson(['get', 'secret', 'demo-admin-token', '-n', ns]);
    expect(Buffer.from(token.data.token, 'base64').toString().length).toBeGreaterThanOrEqual(24);

    // status: conditions with observedGeneration, components, finalizer
    expect(imc.metadata.finalizers).toEqual(['imcloud.dev/finalizer']);
    for (const type of ['Ready', 'Progressing', 'Degraded', 'DependenciesReady']) {
      expect(condition(imc, type).observedGeneration).toBe(imc.metadata.generation);
    }
    expect(condition(imc, 'Ready').status).toBe('True');
    expect(condition(imc, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete' });
    expect(condition(imc, 'Degraded').status).toBe('False');
    expect(condition(imc, 'DependenciesReady').status).toBe('True');
    const vipStatus = imc.status.components.find((c: any) => c.name === 'demo-gate-vip');
    expect(vipStatus).toMatchObject({
      role: 'gate',
      pool: 'vip',
      track: 'stable',
      version: '1.0.0',
      replicas: 2,
      readyReplicas: 2,
      desiredReplicas: 2,
    });

    // printer columns, through the real kubectl
    await eventually('connections column', async () => (await getImc(ns, 'demo')).status.connections === 0 || undefined);
    const table = await kubectl(['get', 'imc', '-n', ns]);
    const [header, row] = table.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'VERSION', 'CANARY', 'GATES', 'CONNECTIONS', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 5)).toEqual(['demo', 'Ready', '1.0.0', '3/3', '0']);
    const wide = await kubectl([
      'get',
      'imc',
      'demo',
      '-n',
      ns,
      '-o',
      'custom-columns=P:.status.phase,V:.status.version,G:.status.gatesReady',
      '--no-headers',
    ]);
    expect(wide.trim().split(/\s+/)).toEqual(['Ready', '1.0.0', '3/3']);
    await waitEventReasons(ns, 'demo', 'Ready');
  });

  it('corrects drift: a deleted Service and a hand-edited Deployment come back', async () => {
    await kubectl(['delete', 'service', 'demo-dispatch', '-n', ns]);
    await kubectl(['scale', 'deployment', 'demo-gate-vip', '-n', ns, '--replicas=5']);
    await eventually(
      'service recreated',
      async () =>
        (await kubectl(['get', 'service', 'demo-dispatch', '-n', ns, '--ignore-not-found', '-o', 'name'])).trim() !== '' || undefined,
    );
    await eventually('replicas restored to 2', async () => (await deployments(ns)).get('demo-gate-vip').spec.replicas === 2 || undefined);
  });

  it('rolls a new version out: Progressing, then Ready on the new version, with a RollingOut event', async () => {
    const before = await deployments(ns);
    await patchImc(ns, 'demo', { spec: { version: '1.1.0' } });
    const imc = await waitPhase(ns, 'demo', 'Ready');
    expect(imc.status.version).toBe('1.1.0');
    const after = await deployments(ns);
    for (const [name, d] of after) {
      expect(d.spec.template.spec.containers[0].image, name).toBe('ghcr.io/imcloud/imcloud:1.1.0');
      expect(d.metadata.generation).toBe(before.get(name).metadata.generation + 1);
      expect(d.status.updatedReplicas).toBe(d.spec.replicas);
    }
    // a real rollout happened: a second ReplicaSet per Deployment
    const rs = await kubectlJson(['get', 'replicasets', '-n', ns, '-l', 'app.kubernetes.io/component=gate,imcloud.dev/pool=vip']);
    expect(rs.items.length).toBe(2);
    expect(imc.status.components.every((c: any) => c.version === '1.1.0')).toBe(true);
    await waitEvents(ns, 'demo', 'RollingOut to 1.1.0', (list) =>
      list.some((e) => e.reason === 'RollingOut' && e.message.includes('1.1.0')),
    );
  });

  it('adds a pool, moves an AppId between pools, and removes a pool', async () => {
    await patchImc(ns, 'demo', {
      spec: {
        gate: {
          pools: [
            { name: 'vip', appIds: ['acme'], replicas: 2 },
            { name: 'gold', appIds: ['globex', 'initech'], replicas: 1 },
            { name: 'main', default: true, replicas: 1 },
          ],
        },
      },
    });
    await waitPhase(ns, 'demo', 'Ready');
    let deps = await deployments(ns);
    expect(env(deps.get('demo-gate-gold'))).toMatchObject({ IMCLOUD_GATE_POOL: 'gold', IMCLOUD_GATE_APP_IDS: 'globex,initech' });
    expect(env(deps.get('demo-gate-vip')).IMCLOUD_GATE_APP_IDS).toBe('acme');
    let routing = JSON.parse((await kubectlJson(['get', 'configmap', 'demo-routing', '-n', ns])).data['routing.json']);
    expect(routing.pools.map((p: any) => [p.name, p.appIds])).toEqual([
      ['vip', ['acme']],
      ['gold', ['globex', 'initech']],
      ['main', []],
    ]);
    expect((await kubectlJson(['get', 'pdb', 'demo-gate-gold', '-n', ns])).metadata.name).toBe('demo-gate-gold');

    // remove vip: its Deployment, Service and PDB go; acme falls back to the default pool
    await patchImc(ns, 'demo', {
      spec: {
        gate: {
          pools: [
            { name: 'gold', appIds: ['globex', 'initech'], replicas: 1 },
            { name: 'main', default: true, replicas: 1 },
          ],
        },
      },
    });
    await eventually('vip objects deleted', async () => {
      const names = (await kubectl(['get', 'deployment,service,pdb', '-n', ns, '-o', 'name'])).split('\n');
      return !names.some((n) => n.endsWith('/demo-gate-vip')) || undefined;
    });
    // The status written as vip is deleted may still count it (the cache has not seen it go).
    const imc = await waitStatus(
      ns,
      'demo',
      'Ready, counting gold and main but not vip',
      (x) =>
        x.status.phase === 'Ready' &&
        componentNames(x).includes('demo-gate-gold') &&
        componentNames(x).includes('demo-gate-main') &&
        !componentNames(x).includes('demo-gate-vip'),
    );
    expect(imc.status.gatesReady).toBe('2/2');
    routing = JSON.parse((await kubectlJson(['get', 'configmap', 'demo-routing', '-n', ns])).data['routing.json']);
    expect(routing.pools.map((p: any) => p.name)).toEqual(['gold', 'main']);
    deps = await deployments(ns);
    expect(deps.has('demo-gate-vip')).toBe(false);
  });

  it('pause: spec changes are left alone until the annotation goes, then applied', async () => {
    await kubectl(['annotate', 'imc', 'demo', '-n', ns, 'imcloud.dev/paused=true']);
    await eventually('phase Paused', async () => (await getImc(ns, 'demo')).status.phase === 'Paused' || undefined);
    await kubectl(['delete', 'service', 'demo-admin', '-n', ns]);
    await patchImc(ns, 'demo', { spec: { dispatch: { replicas: 3 } } });
    // A paused cluster still gets its status: the reconcile that wrote this generation's status
    // began after the Service was deleted and the spec changed, and left both alone.
    const paused = await waitStatus(ns, 'demo', 'the new generation seen while paused', (x) => x.status.phase === 'Paused');
    expect((await deployments(ns)).get('demo-dispatch').spec.replicas).toBe(1);
    expect((await kubectl(['get', 'service', 'demo-admin', '-n', ns, '--ignore-not-found', '-o', 'name'])).trim()).toBe('');
    expect(condition(paused, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'Paused' });

    await kubectl(['annotate', 'imc', 'demo', '-n', ns, 'imcloud.dev/paused-']);
    await eventually(
      'dispatch scaled to 3 after resume',
      async () => (await deployments(ns)).get('demo-dispatch').spec.replicas === 3 || undefined,
    );
    await eventually(
      'service recreated after resume',
      async () =>
        (await kubectl(['get', 'service', 'demo-admin', '-n', ns, '--ignore-not-found', '-o', 'name'])).trim() !== '' || undefined,
    );
    await waitPhase(ns, 'demo', 'Ready');
    await waitEventReasons(ns, 'demo', 'Paused', 'Resumed');
  });

  it('refuses a spec.config the roles would reject or the operator sets itself: Degraded=InvalidSpec, a Warning, nothing rolled out; then applies the fixed one', async () => {
    const before = (await deployments(ns)).get('demo-consumer');
    await patchImc(ns, 'demo', { spec: { config: { 'consumer.lingerMs': '600000', 'gate.nope': '1', 'gate.drainMs': '1' } } });
    const imc = await eventually('Degraded InvalidSpec', async () => {
      const x = await getImc(ns, 'demo');
      return x.status?.observedGeneration === x.metadata.generation && condition(x, 'Degraded')?.reason === 'InvalidSpec' ? x : undefined;
    });
    expect(imc.status.phase).toBe('Degraded');
    expect(condition(imc, 'Degraded').message).toContain('consumer.lingerMs: Too big');
    expect(condition(imc, 'Degraded').message).toContain('gate.nope: no such setting');
    expect(condition(imc, 'Degraded').message).toContain('gate.drainMs: set by the operator from spec.gate.drainSeconds');
    expect(condition(imc, 'Progressing')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    await waitEvents(ns, 'demo', 'an InvalidSpec Warning naming gate.nope', (list) =>
      list.some((e) => e.type === 'Warning' && e.reason === 'InvalidSpec' && e.message.includes('gate.nope')),
    );
    const during = (await deployments(ns)).get('demo-consumer');
    expect(during.metadata.generation).toBe(before.metadata.generation);
    expect(env(during).IMCLOUD_CONSUMER_LINGER_MS).toBeUndefined();

    await patchImc(ns, 'demo', { spec: { config: { 'consumer.lingerMs': '100', 'gate.nope': null, 'gate.drainMs': null } } });
    await eventually(
      'consumer rolled out with the fixed config',
      async () => env((await deployments(ns)).get('demo-consumer')).IMCLOUD_CONSUMER_LINGER_MS === '100' || undefined,
    );
    const fixed = await waitPhase(ns, 'demo', 'Ready');
    expect(condition(fixed, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });

  it('reports a missing dependency Secret as DependenciesReady=False, and recovers when it appears', async () => {
    await apply(
      ns,
      imcluster('broken', {
        dependencies: {
          redis: { secretRef: { name: 'nope' } },
          rabbitmq: { secretRef: { name: 'amqp-conn' } },
          mongodb: { secretRef: { name: 'mongo-conn' } },
        },
      }),
    );
    const imc = await eventually('DependenciesReady False', async () => {
      const x = await getImc(ns, 'broken');
      return condition(x, 'DependenciesReady')?.status === 'False' ? x : undefined;
    });
    expect(condition(imc, 'DependenciesReady').message).toContain('redis: Secret nope not found');
    expect(condition(imc, 'Ready').status).toBe('False');
    await waitEvents(ns, 'broken', 'a DependencyMissing Warning', (list) =>
      list.some((e) => e.type === 'Warning' && e.reason === 'DependencyMissing'),
    );
    await apply(ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nope' }, stringData: { url: 'redis://x:6379' } });
    // A Secret is not watched: while one is missing the operator looks again every 10 s.
    await waitPhase(ns, 'broken', 'Ready');
  });

  it('delete: the finalizer runs, then the garbage collector removes every owned object', async () => {
    await apply(
      ns,
      imcluster('gone', {
        gate: { pools: [{ name: 'main', default: true, replicas: 1 }] },
        dependencies: {
          redis: { managed: true, storage: '1Gi' },
          rabbitmq: { secretRef: { name: 'amqp-conn' } },
          mongodb: { secretRef: { name: 'mongo-conn' } },
        },
      }),
    );
    await eventually(
      'managed redis PVC created by its StatefulSet',
      async () => (await kubectlJson(['get', 'pvc', '-n', ns, '-l', 'imcloud.dev/cluster=gone'])).items.length === 1 || undefined,
    );
    /** What holds up a deletion: finalizers, deletion marks and owners of what is left, and the cluster's pods. */
    const deletionState = async () => {
      const items = (await kubectlJson(['get', 'statefulset,pvc,pod', '-n', ns, '-l', 'imcloud.dev/cluster=gone'])).items as any[];
      return (
        items
          .map(
            (o) =>
              `${o.kind}/${o.metadata.name} deleting=${o.metadata.deletionTimestamp ?? 'no'} finalizers=${(o.metadata.finalizers ?? []).join('+') || 'none'} owners=${(o.metadata.ownerReferences ?? []).map((r: any) => `${r.kind}/${r.name}`).join('+') || 'none'}${o.kind === 'Pod' ? ` phase=${o.status?.phase}` : ''}`,
          )
          .join('; ') || 'no statefulset, pvc or pod left'
      );
    };
    const owned = async () =>
      (
        await kubectl([
          'get',
          'deployment,statefulset,service,configmap,pdb,secret,pvc',
          '-n',
          ns,
          '-l',
          'imcloud.dev/cluster=gone',
          '-o',
          'name',
        ])
      )
        .trim()
        .split('\n')
        .filter(Boolean);
    const roles = ['admin', 'consumer', 'dispatch', 'gate-main', 'logic'];
    const expected = [
      ...roles.map((r) => `deployment.apps/gone-${r}`),
      'statefulset.apps/gone-redis',
      ...[...roles, 'redis', 'metrics'].map((r) => `service/gone-${r}`),
      'configmap/gone-routing',
      'poddisruptionbudget.policy/gone-gate-main',
      'secret/gone-admin-token',
      'secret/gone-redis',
      'persistentvolumeclaim/data-gone-redis-0',
    ].sort();
    await eventually('every owned object created', async () => {
      const now = (await owned()).sort();
      return now.join() === expected.join() || undefined;
    });
    await kubectl(['delete', 'imc', 'gone', '-n', ns, '--wait=false']);
    await eventually(
      'ImCluster gone (finalizer removed)',
      async () => (await kubectl(['get', 'imc', 'gone', '-n', ns, '--ignore-not-found', '-o', 'name'])).trim() === '' || undefined,
    );
    const deleted = Date.now();
    await eventually(
      'owned objects garbage-collected',
      async () => {
        const left = await owned();
        if (left.length > 0) throw new Error(`still there: ${left.join(', ')}; ${await deletionState()}`);
        return true;
      },
      90_000,
      500,
    );
    console.log(`garbage collection of the owned objects: ${Date.now() - deleted} ms after the ImCluster was gone`);
    // the other cluster is untouched
    expect((await getImc(ns, 'demo')).status.phase).toBe('Ready');
    // The reconcile is counted when it returns, after it removed the finalizer.
    await eventually(
      'a reconcile counted as deleted',
      async () => ((await operator.metric('imcloud_operator_reconciles_total', { result: 'deleted' })) ?? 0) >= 1 || undefined,
    );
    // Once the operator's cache has lost the cluster (a reconcile finds it gone), nothing more is
    // done to it: until then no reconcile of it may have failed (an apply to a cluster already gone
    // once tried to create it, and was refused with 422).
    await eventually(
      'a reconcile that finds the cluster gone',
      async () => ((await operator.metric('imcloud_operator_reconciles_total', { result: 'gone' })) ?? 0) >= 1 || undefined,
    );
    expect(operator.logged('reconcile failed; retrying with backoff').filter((o) => o.imcluster === `${ns}/gone`)).toEqual([]);
  });
});
