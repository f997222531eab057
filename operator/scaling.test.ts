import { describe, expect, it } from 'vitest';
import type { GateInfo } from '../services/ports/routes.js';
import type { KubeObject } from './kube/client.js';
import {
  autoscalePolicyFor,
  clusterGateReports,
  cpuMillicores,
  deletionCosts,
  podsCpuMillicores,
  poolConnections,
  recommend,
  replicasToApply,
  type ScalePolicy,
  Stabilizer,
  totalConnections,
} from './scaling.js';
import { cluster } from './testing/fixtures.js';

const policy: ScalePolicy = { minReplicas: 1, maxReplicas: 10, target: 100, stabilizationWindowSeconds: 60, maxStepUp: 3, maxStepDown: 1 };

describe('recommend', () => {
  it('divides the load by the per-pod target, rounding up, within bounds', () => {
    expect(recommend(0, policy)).toBe(1);
    expect(recommend(100, policy)).toBe(1);
    expect(recommend(101, policy)).toBe(2);
    expect(recommend(950, policy)).toBe(10);
    expect(recommend(50_000, policy)).toBe(10);
  });
});

describe('Stabilizer', () => {
  it('scales up at once, by at most maxStepUp per decision', () => {
    const s = new Stabilizer();
    const d1 = s.decide('k', 1, 900, policy, 0);
    expect(d1.replicas).toBe(4);
    expect(d1.recommended).toBe(9);
    expect(d1.reason).toContain('step limited to +3');
    expect(s.decide('k', 4, 900, policy, 1000).replicas).toBe(7);
    expect(s.decide('k', 7, 900, policy, 2000).replicas).toBe(9);
    expect(s.decide('k', 9, 900, policy, 3000).replicas).toBe(9);
  });

  it('does not scale down before it has watched a whole window, then steps down by maxStepDown', () => {
    const s = new Stabilizer();
    expect(s.decide('k', 5, 100, policy, 0).replicas).toBe(5);
    expect(s.decide('k', 5, 100, policy, 30_000).replicas).toBe(5);
    // A whole window observed, and all recommendations in it say 1: one pod at a time.
    expect(s.decide('k', 5, 100, policy, 60_001).replicas).toBe(4);
    expect(s.decide('k', 4, 100, policy, 75_000).replicas).toBe(3);
  });

  it('scale-down goes only to the highest recommendation within the window (a brief dip does not flap)', () => {
    const s = new Stabilizer();
    const p = { ...policy, maxStepDown: 10 };
    s.decide('k', 6, 600, p, 0);
    s.decide('k', 6, 600, p, 50_000);
    // Load drops: the window still remembers 6 pods of need.
    expect(s.decide('k', 6, 100, p, 70_000).replicas).toBe(6);
    expect(s.decide('k', 6, 100, p, 100_000).replicas).toBe(6);
    // After the window has passed the last high value, it shrinks to the window's max.
    s.decide('k', 6, 300, p, 112_000);
    expect(s.decide('k', 6, 100, p, 115_000).replicas).toBe(3);
  });

  it('moves to new bounds at once', () => {
    const s = new Stabilizer();
    expect(s.decide('k', 12, 0, policy, 0).replicas).toBe(10);
    expect(s.decide('j', 0, 0, { ...policy, minReplicas: 3 }, 0).replicas).toBe(3);
  });

  it('keeps history per key and forgets exactly the keys it is given', () => {
    const s = new Stabilizer();
    s.decide('ns/a-gate', 5, 500, policy, 0);
    s.decide('ns/b-gate', 5, 500, policy, 0);
    s.forget(['ns/a-gate']);
    // a's window starts over: no scale-down for a whole window again
    expect(s.decide('ns/a-gate', 5, 100, policy, 70_000).replicas).toBe(5);
    expect(s.decide('ns/b-gate', 5, 100, policy, 70_000).replicas).toBe(4);
  });
});

describe('autoscalePolicyFor', () => {
  it('finds the policy of an autoscaled gate pool, logic or consumer by Deployment name, and none for fixed replicas', () => {
    const c = cluster({
      logic: {
        autoscale: {
          minReplicas: 2,
          maxReplicas: 9,
          targetBacklogPerReplica: 500,
          stabilizationWindowSeconds: 60,
          maxStepUp: 2,
          maxStepDown: 1,
        },
      },
    });
    expect(autoscalePolicyFor(c, 'demo-gate-main')).toEqual({
      kind: 'gate',
      pool: 'main',
      policy: { minReplicas: 1, maxReplicas: 8, target: 100, stabilizationWindowSeconds: 300, maxStepUp: 4, maxStepDown: 1 },
    });
    expect(autoscalePolicyFor(c, 'demo-logic')).toEqual({
      kind: 'logic',
      policy: { minReplicas: 2, maxReplicas: 9, target: 500, stabilizationWindowSeconds: 60, maxStepUp: 2, maxStepDown: 1 },
    });
    expect(autoscalePolicyFor(c, 'demo-consumer')?.policy.target).toBe(1000);
    expect(autoscalePolicyFor(c, 'demo-gate-vip')).toBeUndefined(); // replicas: 2
    expect(autoscalePolicyFor(c, 'demo-dispatch')).toBeUndefined();
    expect(autoscalePolicyFor(c, 'demo-gate-main-canary')).toBeUndefined(); // canaries have fixed replicas
  });

  it("finds the file role's CPU policy, only while the role is deployed (it needs MinIO)", () => {
    const autoscale = {
      minReplicas: 2,
      maxReplicas: 6,
      targetCpuMillicoresPerPod: 400,
      stabilizationWindowSeconds: 120,
      maxStepUp: 2,
      maxStepDown: 1,
    };
    const deps = cluster().spec.dependencies;
    const withMinio = cluster({ file: { autoscale }, dependencies: { ...deps, minio: { managed: true } } });
    expect(autoscalePolicyFor(withMinio, 'demo-file')).toEqual({
      kind: 'file',
      policy: { minReplicas: 2, maxReplicas: 6, target: 400, stabilizationWindowSeconds: 120, maxStepUp: 2, maxStepDown: 1 },
    });
    expect(autoscalePolicyFor(cluster({ file: { autoscale } }), 'demo-file')).toBeUndefined();
    expect(
      autoscalePolicyFor(cluster({ file: { replicas: 3 }, dependencies: { ...deps, minio: { managed: true } } }), 'demo-file'),
    ).toBeUndefined();
  });
});

describe('file role CPU', () => {
  it('reads CPU quantities as millicores', () => {
    expect(cpuMillicores('250m')).toBe(250);
    expect(cpuMillicores('1')).toBe(1000);
    expect(cpuMillicores('1.5')).toBe(1500);
    expect(cpuMillicores('12345678n')).toBeCloseTo(12.345678);
    expect(cpuMillicores('300u')).toBeCloseTo(0.3);
    expect(cpuMillicores('lots')).toBeNaN();
  });

  it('sums every container of every pod listed, a pod without a sample or with a bad one counting 0', () => {
    const pods = [
      { metadata: { name: 'demo-file-a' }, containers: [{ name: 'file', usage: { cpu: '350000000n' } }] },
      {
        metadata: { name: 'demo-file-b' },
        containers: [
          { name: 'file', usage: { cpu: '120m' } },
          { name: 'x', usage: { cpu: '?' } },
        ],
      },
      { metadata: { name: 'demo-file-c' } },
    ];
    expect(podsCpuMillicores(pods)).toBe(470);
    // 470 m at 200 m per pod: 3 pods
    expect(recommend(podsCpuMillicores(pods), { ...policy, target: 200, minReplicas: 1, maxReplicas: 10 })).toBe(3);
  });
});

describe('gate load', () => {
  const report = (id: string, connections: number, o: Partial<GateInfo> = {}): GateInfo => ({
    id,
    pool: 'main',
    appIds: [],
    track: 'stable',
    wsUrl: '',
    tcpAddr: '',
    connections,
    draining: false,
    reportedAt: 1_000_000,
    ...o,
  });

  it("counts only the cluster's own recent reports", () => {
    const reports = [
      report('demo-gate-main-abc', 10),
      report('demo-gate-vip-xyz', 20),
      report('demo-gate-main-old', 40, { reportedAt: 1_000_000 - 61_000 }),
      report('demo2-gate-main-abc', 80), // another cluster sharing the Redis
      report('demo-gate-main-unstamped', 160, { reportedAt: undefined }),
    ];
    const mine = clusterGateReports(reports, 'demo', 1_000_000, 60_000);
    expect(mine.map((r) => r.id)).toEqual(['demo-gate-main-abc', 'demo-gate-vip-xyz', 'demo-gate-main-unstamped']);
    expect(totalConnections(mine)).toBe(190);
  });

  it('gives a pool the connections of its stable gates that are not draining', () => {
    const reports = [
      report('demo-gate-main-a', 10),
      report('demo-gate-main-b', 20, { draining: true }),
      report('demo-gate-main-canary-c', 40, { track: 'canary' }),
      report('demo-gate-mainland-d', 80),
      report('demo-gate-main-e', 160, { track: undefined as unknown as string }),
    ];
    expect(poolConnections(reports, 'demo-gate-main')).toBe(170);
  });
});

describe('replicasToApply', () => {
  const bounds = { minReplicas: 2, maxReplicas: 6 };
  const base = { hpa: false, fixed: undefined, autoscale: undefined, decided: undefined, live: undefined, fallback: 1 };

  it('leaves spec.replicas out while an HPA targets the Deployment, whatever the spec says', () => {
    expect(replicasToApply({ ...base, hpa: true, fixed: 3 })).toBeUndefined();
    expect(replicasToApply({ ...base, hpa: true, autoscale: bounds, decided: 4 })).toBeUndefined();
  });

  it('applies fixed replicas, else the decision, else the live count, within the bounds, else the fallback', () => {
    expect(replicasToApply({ ...base, fixed: 3 })).toBe(3);
    expect(replicasToApply({ ...base, autoscale: bounds, decided: 4, live: 5 })).toBe(4);
    expect(replicasToApply({ ...base, autoscale: bounds, decided: 9 })).toBe(6);
    expect(replicasToApply({ ...base, autoscale: bounds, live: 5 })).toBe(5); // an operator restart keeps the scale
    expect(replicasToApply({ ...base, autoscale: bounds, live: 1 })).toBe(2);
    expect(replicasToApply({ ...base, autoscale: bounds })).toBe(2);
    expect(replicasToApply({ ...base, fallback: 7 })).toBe(7);
  });
});

describe('deletionCosts', () => {
  const pod = (name: string, cost?: string): KubeObject => ({
    metadata: { name, annotations: cost === undefined ? {} : { 'controller.kubernetes.io/pod-deletion-cost': cost } },
  });

  it("costs each pod its gate's connections (0 without a report, at most int32), skipping pods that already carry their cost", () => {
    const reports = [
      { id: 'g-a', connections: 60 },
      { id: 'g-b', connections: 0 },
      { id: 'g-c', connections: 5_000_000_000 },
    ];
    expect(deletionCosts([pod('g-a'), pod('g-b', '0'), pod('g-c', '7'), pod('g-d')], reports)).toEqual([
      { pod: 'g-a', cost: '60' },
      { pod: 'g-c', cost: '2147483647' },
      { pod: 'g-d', cost: '0' },
    ]);
  });
});
