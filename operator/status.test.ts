import { describe, expect, it } from 'vitest';
import { computeStatus, rolledOut, type StatusInput, type Workload } from './status.js';
import { cluster } from './testing/fixtures.js';

const dep = (
  name: string,
  o: {
    component?: string;
    track?: string;
    pool?: string;
    version?: string;
    want?: number;
    ready?: number;
    updated?: number;
    replicas?: number;
    gen?: number;
    observed?: number;
  } = {},
): Workload => ({
  metadata: {
    name,
    generation: o.gen ?? 1,
    labels: {
      'app.kubernetes.io/component': o.component ?? 'gate',
      'imcloud.dev/track': o.track ?? 'stable',
      'app.kubernetes.io/version': o.version ?? '1.0.0',
      ...(o.pool ? { 'imcloud.dev/pool': o.pool } : {}),
    },
  },
  spec: { replicas: o.want ?? 2 },
  status: {
    replicas: o.replicas ?? o.want ?? 2,
    readyReplicas: o.ready ?? o.want ?? 2,
    updatedReplicas: o.updated ?? o.want ?? 2,
    observedGeneration: o.observed ?? o.gen ?? 1,
  },
});

const base = (over: Partial<StatusInput> = {}): StatusInput => ({
  cluster: cluster(),
  paused: false,
  deployments: [],
  statefulSets: [],
  autoscaled: new Map(),
  dependencies: { ready: true, message: 'ok' },
  errors: [],
  now: new Date('2030-01-01T00:00:00Z'),
  ...over,
});

const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('computeStatus', () => {
  it('is Ready when every Deployment is rolled out and ready; conditions carry observedGeneration', () => {
    const s = computeStatus(
      base({ deployments: [dep('demo-gate-main', { pool: 'main' }), dep('demo-logic', { component: 'logic' })], connections: 12 }),
    );
    expect(s.phase).toBe('Ready');
    expect(s.version).toBe('1.0.0');
    expect(s.gatesReady).toBe('2/2');
    expect(s.connections).toBe(12);
    expect(s.observedGeneration).toBe(3);
    for (const t of ['Ready', 'Progressing', 'Degraded', 'DependenciesReady']) expect(cond(s, t).observedGeneration).toBe(3);
    expect(cond(s, 'Ready').status).toBe('True');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'Complete' });
    expect(cond(s, 'Degraded').status).toBe('False');
    expect(s.components!.map((c) => [c.name, c.role, c.pool, c.track, c.version, c.readyReplicas])).toEqual([
      ['demo-gate-main', 'gate', 'main', 'stable', '1.0.0', 2],
      ['demo-logic', 'logic', undefined, 'stable', '1.0.0', 2],
    ]);
  });

  it('is Progressing during a rollout and keeps showing the running version', () => {
    const c = cluster({ version: '1.1.0' });
    c.status = { version: '1.0.0' };
    const s = computeStatus(
      base({ cluster: c, deployments: [dep('demo-gate-main', { version: '1.1.0', updated: 1, gen: 2, observed: 2 })] }),
    );
    expect(s.phase).toBe('Progressing');
    expect(s.version).toBe('1.0.0');
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut' });
    expect(rolledOut(dep('x', { gen: 2, observed: 1 }))).toBe(false);
    expect(rolledOut(dep('x', { replicas: 3, want: 2 }))).toBe(false);
  });

  it('reports missing dependencies, apply errors and failed rollouts', () => {
    const s = computeStatus(base({ deployments: [dep('a')], dependencies: { ready: false, message: 'redis: Secret x not found' } }));
    expect(cond(s, 'DependenciesReady')).toMatchObject({ status: 'False', message: 'redis: Secret x not found' });
    expect(cond(s, 'Ready').reason).toBe('DependenciesNotReady');
    const e = computeStatus(base({ deployments: [dep('a')], errors: ['apply Deployment a: boom'] }));
    expect(e.phase).toBe('Degraded');
    expect(cond(e, 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileError' });
    const stuck = dep('a');
    stuck.status!.conditions = [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' }];
    expect(cond(computeStatus(base({ deployments: [stuck] })), 'Degraded').reason).toBe('RolloutFailed');
  });

  it("names a TLS Secret that is the one thing missing in DependenciesReady's reason", () => {
    const s = computeStatus(
      base({
        deployments: [dep('a')],
        dependencies: { ready: false, reason: 'TLSSecretNotReady', message: 'tls: Secret chat-tls not found' },
      }),
    );
    expect(cond(s, 'DependenciesReady')).toMatchObject({
      status: 'False',
      reason: 'TLSSecretNotReady',
      message: 'tls: Secret chat-tls not found',
    });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    expect(s.phase).toBe('Progressing');
    // A reason only explains a False condition.
    expect(
      cond(
        computeStatus(base({ deployments: [dep('a')], dependencies: { ready: true, reason: 'TLSSecretNotReady', message: 'ok' } })),
        'DependenciesReady',
      ).reason,
    ).toBe('DependenciesReady');
  });

  it('reports a spec it cannot apply as Degraded (InvalidSpec) and not progressing, beside the workloads that still run', () => {
    const s = computeStatus(
      base({ deployments: [dep('demo-gate-main', { pool: 'main' })], invalidSpec: 'spec.config: gate.nope: no such setting' }),
    );
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: 'spec.config: gate.nope: no such setting',
    });
    expect(cond(s, 'Progressing')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(cond(s, 'Progressing').message).toContain('the workloads keep the last valid spec');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'Degraded' });
    expect(s.gatesReady).toBe('2/2');
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const c = cluster();
    const first = computeStatus(base({ cluster: c, deployments: [dep('a')] }));
    c.status = first;
    const later = computeStatus(base({ cluster: c, deployments: [dep('a')], now: new Date('2030-01-02T00:00:00Z') }));
    expect(cond(later, 'Ready').lastTransitionTime).toBe('2030-01-01T00:00:00Z');
    const broken = computeStatus(base({ cluster: c, deployments: [dep('a', { ready: 0 })], now: new Date('2030-01-03T00:00:00Z') }));
    expect(cond(broken, 'Ready').lastTransitionTime).toBe('2030-01-03T00:00:00Z');
  });

  it('shows both tracks during a gray release, and the pause', () => {
    const s = computeStatus(
      base({
        deployments: [dep('demo-gate-main'), dep('demo-gate-main-canary', { track: 'canary', version: '1.1.0', want: 1, ready: 0 })],
        canary: { version: '1.1.0', appIds: ['b', 'a'], percentage: 10, promoting: false },
      }),
    );
    expect(s.canary).toEqual({ version: '1.1.0', phase: 'Active', appIds: ['a', 'b'], percentage: 10, gatesReady: '0/1' });
    expect(s.gatesReady).toBe('2/3');
    expect(
      computeStatus(base({ deployments: [dep('a')], canary: { version: '1.1.0', appIds: [], percentage: 5, promoting: true } })).canary!
        .phase,
    ).toBe('Promoting');
    const p = computeStatus(base({ deployments: [dep('a')], paused: true }));
    expect(p.phase).toBe('Paused');
    expect(cond(p, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'Paused' });
  });

  it('is Terminating while the finalizer of a deleted cluster runs, whatever its workloads say', () => {
    expect(computeStatus(base({ deployments: [dep('demo-gate-main')], terminating: true })).phase).toBe('Terminating');
    expect(computeStatus(base({ deployments: [dep('demo-gate-main', { ready: 0 })], terminating: true, paused: true })).phase).toBe(
      'Terminating',
    );
  });
});
