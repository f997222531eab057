import { describe, expect, it } from 'vitest';
import { type KubeObject, R } from './kube/client.js';
import type { Workload } from './status.js';
import { autoscaledBy, current, plannedOrLastReported, type ReconcileOutcome } from './status-recorder.js';
import { cluster } from './testing/fixtures.js';

const workload = (name: string, resourceVersion: string, replicas = 1): Workload => ({
  metadata: { name, resourceVersion },
  spec: { replicas },
});

describe('current', () => {
  it('takes what the apply answered unless the cache already holds a newer copy', () => {
    const applied = new Map<string, KubeObject>([
      ['deployments/a', workload('a', '12', 3)],
      ['deployments/b', workload('b', '5', 3)],
      ['statefulsets/c', workload('c', '99', 3)],
    ]);
    const out = current([workload('a', '10'), workload('b', '7'), workload('c', '1')], R.deployments, applied);
    expect(out.map((w) => [w.metadata.name, w.metadata.resourceVersion])).toEqual([
      ['a', '12'],
      ['b', '7'],
      ['c', '1'],
    ]);
    expect(current([workload('a', '10')], R.deployments, undefined)[0]!.metadata.resourceVersion).toBe('10');
  });

  it('counts what this reconcile created before the cache has it, and not what it deleted', () => {
    const applied = new Map<string, KubeObject>([
      ['deployments/new', workload('new', '20')],
      ['statefulsets/other', workload('other', '21')],
    ]);
    const cached = [workload('kept', '3'), workload('gone-canary', '4')];
    const out = current(cached, R.deployments, applied, new Set(['deployments/gone-canary']));
    expect(out.map((w) => w.metadata.name).sort()).toEqual(['kept', 'new']);
  });
});

describe('autoscaledBy', () => {
  it('names the HPA for its targets, the operator for the Deployments with an autoscale policy, nobody for fixed ones', () => {
    const c = cluster(); // pool main and consumer autoscale
    const deployments = ['demo-gate-main', 'demo-gate-vip', 'demo-consumer', 'demo-logic'].map((n) => workload(n, '1'));
    expect([...autoscaledBy(c, deployments, new Set(['demo-consumer', 'demo-logic']))]).toEqual([
      ['demo-gate-main', 'operator'],
      ['demo-consumer', 'hpa'],
      ['demo-logic', 'hpa'],
    ]);
  });
});

describe('plannedOrLastReported', () => {
  const reported = () => {
    const c = cluster();
    c.status = {
      canary: { version: '1.1.0', phase: 'Promoting', appIds: ['acme'], percentage: 0, gatesReady: '1/1' },
      routingConfigMap: 'demo-routing',
      routingHash: 'abc',
      conditions: [
        {
          type: 'DependenciesReady',
          status: 'False',
          reason: 'TLSSecretNotReady',
          message: 'tls: Secret x not found',
          observedGeneration: 2,
          lastTransitionTime: 't',
        },
      ],
    };
    return c;
  };
  const unplanned: ReconcileOutcome = { paused: true, errors: [], canary: undefined, routing: undefined };

  it('uses what the reconcile planned', () => {
    const planned: ReconcileOutcome = {
      paused: false,
      errors: [],
      canary: { version: '1.2.0', appIds: [], percentage: 5, promoting: false },
      routing: { configMap: 'demo-routing', hash: 'def' },
      dependencies: { ready: true, message: 'ok' },
    };
    expect(plannedOrLastReported(reported(), planned)).toEqual({
      dependencies: planned.dependencies,
      canary: planned.canary,
      routing: planned.routing,
    });
  });

  it('without a plan keeps the last reported dependencies, canary and routing', () => {
    expect(plannedOrLastReported(reported(), unplanned)).toEqual({
      dependencies: { ready: false, reason: 'TLSSecretNotReady', message: 'tls: Secret x not found' },
      canary: { version: '1.1.0', phase: 'Promoting', appIds: ['acme'], percentage: 0, gatesReady: '1/1', promoting: true },
      routing: { configMap: 'demo-routing', hash: 'abc' },
    });
    expect(plannedOrLastReported(reported(), { ...unplanned, paused: false, invalidSpec: 'spec.config: x' }).canary?.promoting).toBe(true);
  });

  it('a planned reconcile with no canary reports none, whatever the status said', () => {
    expect(plannedOrLastReported(reported(), { paused: false, errors: [], canary: undefined, routing: undefined }).canary).toBeUndefined();
  });

  it('says why the dependencies are unknown when nothing was ever reported', () => {
    expect(plannedOrLastReported(cluster(), unplanned).dependencies).toEqual({
      ready: false,
      reason: undefined,
      message: 'unknown (paused)',
    });
    expect(plannedOrLastReported(cluster(), { ...unplanned, paused: false, invalidSpec: 'x' }).dependencies.message).toBe(
      'unknown (the spec was not applied)',
    );
  });
});
