// The file role on a real control plane (ADR 0108): with spec.file and MinIO the operator runs
// <cluster>-file (the minio Secret wired into its environment, scaled per spec) behind a Service;
// without MinIO it deploys no file role and says why in DependenciesReady; taking MinIO away
// removes the role again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  cleanupNamespace,
  componentNames,
  condition,
  dependencySecrets,
  deployments,
  eventually,
  imcluster,
  kubectlJson,
  newNamespace,
  patchImc,
  startOperator,
  waitEvents,
  waitStatus,
} from './harness.js';

let ns: string;

const external = {
  redis: { secretRef: { name: 'redis-conn' } },
  rabbitmq: { secretRef: { name: 'amqp-conn' } },
  mongodb: { secretRef: { name: 'mongo-conn' } },
};
const minio = { secretRef: { name: 'minio-conn' } };

beforeAll(async () => {
  ns = await newNamespace('file');
  await dependencySecrets(ns);
  await apply(ns, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'minio-conn' },
    stringData: { endPoint: 'minio.example', port: '9000', useSSL: 'false', accessKey: 'imcloud', secretKey: 'not-a-real-secret' },
  });
  await startOperator({ namespace: ns });
});

afterAll(async () => {
  await cleanupNamespace(ns);
});

const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

async function services(): Promise<Map<string, any>> {
  const list = await kubectlJson<{ items: any[] }>(['get', 'services', '-n', ns]);
  return new Map(list.items.map((s) => [s.metadata.name, s]));
}

describe('the file role', () => {
  it('with MinIO: a file Deployment with the minio settings, probed on /readyz, scaled per spec, behind a Service', async () => {
    await apply(
      ns,
      imcluster('files', { file: { replicas: 3 }, dependencies: { ...external, minio }, config: { 'minio.bucket': 'chat-files' } }),
    );
    const imc = await waitStatus(
      ns,
      'files',
      'Ready with the file role counted',
      (x) => x.status.phase === 'Ready' && componentNames(x).includes('files-file'),
      90_000,
    );
    expect(condition(imc, 'DependenciesReady')).toMatchObject({ status: 'True', observedGeneration: imc.metadata.generation });
    expect(imc.status.components.find((c: any) => c.name === 'files-file')).toMatchObject({
      role: 'file',
      track: 'stable',
      version: '1.0.0',
      desiredReplicas: 3,
      readyReplicas: 3,
    });

    const d = (await deployments(ns)).get('files-file');
    expect(d.spec.replicas).toBe(3);
    expect(d.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'ImCluster', name: 'files', controller: true })]);
    const c = d.spec.template.spec.containers[0];
    expect(c.args).toEqual(['file']);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ops', scheme: 'HTTP' });
    expect(env(d)).toMatchObject({
      IMCLOUD_MINIO_END_POINT: { secretKeyRef: { name: 'minio-conn', key: 'endPoint' } },
      IMCLOUD_MINIO_PORT: { secretKeyRef: { name: 'minio-conn', key: 'port', optional: true } },
      IMCLOUD_MINIO_USE_SSL: { secretKeyRef: { name: 'minio-conn', key: 'useSSL', optional: true } },
      IMCLOUD_MINIO_ACCESS_KEY: { secretKeyRef: { name: 'minio-conn', key: 'accessKey' } },
      IMCLOUD_MINIO_SECRET_KEY: { secretKeyRef: { name: 'minio-conn', key: 'secretKey' } },
      IMCLOUD_MINIO_BUCKET: 'chat-files',
      IMCLOUD_MONGODB_URL: { secretKeyRef: { name: 'mongo-conn', key: 'url' } },
      IMCLOUD_HTTP_PORT: '8080',
    });

    const svc = (await services()).get('files-file');
    expect(svc.spec.type).toBe('ClusterIP');
    expect(svc.spec.ports.map((p: any) => `${p.name}:${p.port}->${p.targetPort}`)).toEqual(['http:8080->http']);
    expect(svc.spec.selector).toMatchObject({ 'app.kubernetes.io/component': 'file', 'imcloud.dev/cluster': 'files' });
    // The endpoint slice controller resolves the Service onto the three ready file pods.
    await eventually('files-file endpoints on the three file pods', async () => {
      const slices = (await kubectlJson(['get', 'endpointslices', '-n', ns, '-l', 'kubernetes.io/service-name=files-file'])).items as any[];
      const ready = slices.flatMap((x) => (x.endpoints ?? []).filter((e: any) => e.conditions?.ready));
      return ready.length === 3 && slices.every((x) => x.ports?.[0]?.port === 8080);
    });

    // scaled per spec
    await patchImc(ns, 'files', { spec: { file: { replicas: 1 } } });
    await eventually('files-file scaled to 1', async () => (await deployments(ns)).get('files-file')?.spec.replicas === 1);
  });

  it('autoscale: starts at minReplicas, scaled by the operator; without the metrics API the replicas stay and an Event says why', async () => {
    await patchImc(ns, 'files', {
      spec: { file: { replicas: null, autoscale: { minReplicas: 2, maxReplicas: 4, targetCpuMillicoresPerPod: 200 } } },
    });
    const imc = await waitStatus(ns, 'files', 'the file role autoscaled by the operator', (x) =>
      x.status.components?.some((c: any) => c.name === 'files-file' && c.autoscaled === 'operator' && c.desiredReplicas === 2),
    );
    expect(imc.spec.file.autoscale).toMatchObject({ stabilizationWindowSeconds: 300, maxStepUp: 4, maxStepDown: 1 });
    expect((await deployments(ns)).get('files-file').spec.replicas).toBe(2);
    // The test control plane serves no metrics.k8s.io (no metrics-server).
    const list = await waitEvents(ns, 'files', 'ScalingMetricsUnavailable for the file role', (l) =>
      l.some((e) => e.reason === 'ScalingMetricsUnavailable' && e.message.includes('files-file')),
    );
    expect(list.find((e) => e.reason === 'ScalingMetricsUnavailable')!.message).toContain('metrics.k8s.io');
    expect((await deployments(ns)).get('files-file').spec.replicas).toBe(2);
  });

  it('without MinIO: no file Deployment or Service, DependenciesReady False (MinioNotConfigured); MinIO added, the role runs; removed, it goes', async () => {
    await apply(ns, imcluster('nominio', { file: { replicas: 2 }, dependencies: external }));
    const imc = await waitStatus(
      ns,
      'nominio',
      'DependenciesReady False for MinIO, every other role counted',
      (x) => condition(x, 'DependenciesReady')?.reason === 'MinioNotConfigured' && componentNames(x).length === 6,
      90_000,
    );
    expect(condition(imc, 'DependenciesReady')).toMatchObject({
      status: 'False',
      observedGeneration: imc.metadata.generation,
      message:
        'minio: spec.file needs spec.dependencies.minio (secretRef, or managed: true); the file role is not deployed until it is set',
    });
    expect(condition(imc, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    expect(componentNames(imc)).not.toContain('nominio-file');
    const deps = await deployments(ns);
    expect(deps.has('nominio-file')).toBe(false);
    expect(deps.has('nominio-logic')).toBe(true);
    expect((await services()).has('nominio-file')).toBe(false);
    await waitEvents(ns, 'nominio', 'DependencyMissing for MinIO', (l) =>
      l.some((e) => e.reason === 'DependencyMissing' && e.type === 'Warning' && e.message.includes('spec.dependencies.minio')),
    );

    await patchImc(ns, 'nominio', { spec: { dependencies: { minio } } });
    await waitStatus(
      ns,
      'nominio',
      'Ready with the file role',
      (x) =>
        x.status.phase === 'Ready' && condition(x, 'DependenciesReady')?.status === 'True' && componentNames(x).includes('nominio-file'),
      90_000,
    );
    expect((await deployments(ns)).get('nominio-file').spec.replicas).toBe(2);
    expect((await services()).has('nominio-file')).toBe(true);

    await patchImc(ns, 'nominio', { spec: { dependencies: { minio: null } } });
    await waitStatus(ns, 'nominio', 'MinioNotConfigured again, the file role gone from the status', (x) => {
      return condition(x, 'DependenciesReady')?.reason === 'MinioNotConfigured' && !componentNames(x).includes('nominio-file');
    });
    await eventually('nominio-file Deployment and Service deleted', async () => {
      const [d, s] = [await deployments(ns), await services()];
      return !d.has('nominio-file') && !s.has('nominio-file');
    });
  });
});
