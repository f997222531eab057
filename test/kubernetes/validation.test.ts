// Invalid ImClusters are rejected by the apiserver itself (OpenAPI schema + CEL rules in the
// CRD), with a message that says what to fix. No operator runs here: the CRD alone does this.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { CommandError, imcluster, kubectl, newNamespace } from './harness.js';

let ns: string;
beforeAll(async () => {
  ns = await newNamespace('validation');
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
});

async function create(obj: unknown): Promise<string> {
  try {
    await kubectl(['create', '--dry-run=server', '-n', ns, '-f', '-'], stringify(obj));
    return '';
  } catch (err) {
    if (err instanceof CommandError) return err.stderr;
    throw err;
  }
}

const base = imcluster('v');
const withSpec = (spec: Record<string, unknown>, name = 'v') => ({ ...base, metadata: { name }, spec: { ...base.spec, ...spec } });
const pools = (...p: unknown[]) => ({ gate: { pools: p } });

const cases: Array<[string, unknown, RegExp[]]> = [
  [
    'file replicas and autoscale together',
    withSpec({ file: { replicas: 2, autoscale: { maxReplicas: 3 } } }),
    [/spec\.file: Invalid value: .*set either replicas or autoscale, not both/],
  ],
  [
    'file autoscale minReplicas > maxReplicas',
    withSpec({ file: { autoscale: { minReplicas: 4, maxReplicas: 2 } } }),
    [/spec\.file\.autoscale\.minReplicas: Invalid value: .*autoscale\.minReplicas must be less than or equal to autoscale\.maxReplicas/],
  ],
  [
    'a file CPU target below 10 millicores',
    withSpec({ file: { autoscale: { maxReplicas: 2, targetCpuMillicoresPerPod: 1 } } }),
    [/spec\.file\.autoscale\.targetCpuMillicoresPerPod: Invalid value: 1: .*greater than or equal to 10/],
  ],
  [
    'minReplicas > maxReplicas',
    withSpec(pools({ name: 'main', default: true, autoscale: { minReplicas: 5, maxReplicas: 2 } })),
    [
      /spec\.gate\.pools\[0\]\.autoscale\.minReplicas: Invalid value: .*autoscale\.minReplicas must be less than or equal to autoscale\.maxReplicas/,
    ],
  ],
  [
    'an AppId in two pools',
    withSpec(pools({ name: 'a', appIds: ['acme'] }, { name: 'b', appIds: ['acme', 'x-co'] }, { name: 'main', default: true })),
    [/spec\.gate\.pools: Invalid value: .*an AppId may be listed in at most one gate pool/],
  ],
  [
    'two default pools',
    withSpec(pools({ name: 'a', default: true }, { name: 'b', default: true })),
    [/spec\.gate\.pools: Invalid value: .*at most one gate pool may be the default/],
  ],
  [
    'a default pool with AppIds',
    withSpec(pools({ name: 'main', default: true, appIds: ['acme'] })),
    [/a default pool lists no appIds, and every other pool lists at least one/],
  ],
  [
    'a non-default pool without AppIds',
    withSpec(pools({ name: 'vip' })),
    [/a default pool lists no appIds, and every other pool lists at least one/],
  ],
  [
    'replicas and autoscale together',
    withSpec(pools({ name: 'main', default: true, replicas: 2, autoscale: { maxReplicas: 3 } })),
    [/spec\.gate\.pools\[0\]: Invalid value: .*set either replicas or autoscale, not both/],
  ],
  [
    'two pools with the same name',
    withSpec(pools({ name: 'a', appIds: ['x1'] }, { name: 'a', appIds: ['x2'] })),
    [/spec\.gate\.pools\[1\]: Duplicate value/],
  ],
  [
    'percentage above 100',
    withSpec({ gray: { version: '2.0.0', percentage: 101 } }),
    [/spec\.gray\.percentage: Invalid value: 101: spec\.gray\.percentage in body should be less than or equal to 100/],
  ],
  [
    'canary version equal to the stable version',
    withSpec({ gray: { version: '1.0.0', appIds: ['acme'] } }),
    [/spec\.gray\.version: Invalid value: .*gray\.version must differ from spec\.version/],
  ],
  [
    'gray without AppIds or percentage',
    withSpec({ gray: { version: '2.0.0' } }),
    [/spec\.gray: Invalid value: .*gray release needs appIds or a percentage > 0/],
  ],
  [
    'a dependency both managed and external',
    withSpec({ dependencies: { ...base.spec.dependencies, redis: { managed: true, secretRef: { name: 'r' } } } }),
    [/spec\.dependencies\.redis: Invalid value: .*redis: set either managed: true or secretRef/],
  ],
  [
    'a dependency neither managed nor external',
    withSpec({ dependencies: { ...base.spec.dependencies, rabbitmq: {} } }),
    [/spec\.dependencies\.rabbitmq: Invalid value: .*rabbitmq: set either managed: true or secretRef/],
  ],
  [
    'a missing dependency',
    withSpec({ dependencies: { redis: { managed: true }, rabbitmq: { managed: true } } }),
    [/spec\.dependencies\.mongodb: Required value/],
  ],
  [
    'a malformed AppId',
    withSpec(pools({ name: 'vip', appIds: ['Not_An_AppId'] }, { name: 'main', default: true })),
    [/spec\.gate\.pools\[0\]\.appIds\[0\]: Invalid value: "Not_An_AppId": spec\.gate\.pools\[0\]\.appIds\[0\] in body should match/],
  ],
  [
    'a pool name too long for object names',
    withSpec(pools({ name: 'a-very-long-pool-name-indeed', default: true })),
    [/spec\.gate\.pools\[0\]\.name: Too long: may not be (more than|longer than) 20/],
  ],
  [
    'a cluster name too long for object names',
    withSpec({}, 'a-cluster-name-that-is-far-too-long'),
    [/ImCluster names are at most 30 characters/],
  ],
  ['no version', { ...base, spec: { ...base.spec, version: undefined } }, [/spec\.version: Required value/]],
  ['a bad config key', withSpec({ config: { 'NOT A KEY': 'x' } }), [/spec\.config: Invalid value: .*config keys look like section\.key/]],
  ['spec.tls without a secretName', withSpec({ tls: { roles: ['gate'] } }), [/spec\.tls\.secretName: Required value/]],
  [
    'spec.tls for a role that does not exist',
    withSpec({ tls: { secretName: 'chat-tls', roles: ['gate', 'web'] } }),
    [/spec\.tls\.roles\[1\]: Unsupported value: "web": supported values: "gate", "dispatch", "admin", "file", "logic", "consumer"/],
  ],
  [
    'spec.tls naming a role twice',
    withSpec({ tls: { secretName: 'chat-tls', roles: ['gate', 'gate'] } }),
    [/spec\.tls\.roles\[1\]: Duplicate value/],
  ],
  [
    'an unknown imagePullPolicy',
    withSpec({ imagePullPolicy: 'Sometimes' }),
    [/spec\.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"/],
  ],
];

describe('the apiserver rejects invalid ImClusters with clear messages', () => {
  it('accepts the valid base object (and fills in defaults)', async () => {
    const text = await kubectl(['create', '--dry-run=server', '-n', ns, '-o', 'json', '-f', '-'], stringify(base));
    const created = JSON.parse(text);
    expect(created.spec.image).toBe('ghcr.io/imcloud/imcloud');
    expect(created.spec.gate.pools[1]).toMatchObject({
      name: 'main',
      default: true,
      appIds: [],
      maxUnavailable: 1,
      service: { type: 'ClusterIP' },
    });
    expect(created.spec.admin).toEqual({ replicas: 1 });
    expect(created.spec.monitoring).toEqual({ serviceMonitor: true, interval: '30s' });
    expect(created.spec.dependencies.redis.managed).toBe(false);
    const withTls = JSON.parse(
      await kubectl(
        ['create', '--dry-run=server', '-n', ns, '-o', 'json', '-f', '-'],
        stringify(withSpec({ tls: { secretName: 'chat-tls' } })),
      ),
    );
    expect(withTls.spec.tls).toEqual({ secretName: 'chat-tls', roles: ['gate', 'dispatch', 'admin', 'file'] });
    // spec.file: absent unless asked for; its autoscale gets the same behaviour defaults as the others
    expect(created.spec.file).toBeUndefined();
    const withFile = JSON.parse(
      await kubectl(
        ['create', '--dry-run=server', '-n', ns, '-o', 'json', '-f', '-'],
        stringify(withSpec({ file: { autoscale: { maxReplicas: 6 } } })),
      ),
    );
    expect(withFile.spec.file).toEqual({
      autoscale: {
        minReplicas: 1,
        maxReplicas: 6,
        targetCpuMillicoresPerPod: 500,
        stabilizationWindowSeconds: 300,
        maxStepUp: 4,
        maxStepDown: 1,
      },
    });
  });

  for (const [what, obj, messages] of cases) {
    it(`rejects ${what}`, async () => {
      const stderr = await create(obj);
      expect(stderr, `${what} was accepted`).not.toBe('');
      expect(stderr).toContain('The ImCluster "');
      for (const m of messages) expect(stderr).toMatch(m);
    });
  }

  it('reports every problem of an object at once', async () => {
    const stderr = await create(
      withSpec({
        ...pools({ name: 'a', default: true, autoscale: { minReplicas: 3, maxReplicas: 1 } }, { name: 'b', default: true }),
        gray: { version: '1.0.0', percentage: 5 },
      }),
    );
    expect(stderr).toMatch(/at most one gate pool may be the default/);
    expect(stderr).toMatch(/autoscale\.minReplicas must be less than or equal/);
    expect(stderr).toMatch(/gray\.version must differ from spec\.version/);
  });
});
