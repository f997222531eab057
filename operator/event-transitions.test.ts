import { describe, expect, it } from 'vitest';
import type { ImClusterStatus } from './api/imcluster.js';
import { EventTransitions } from './event-transitions.js';
import { cluster } from './testing/fixtures.js';

const reasons = (events: Array<{ reason: string }>) => events.map((e) => e.reason);

describe('EventTransitions', () => {
  it('announces a pause and a resume once each', () => {
    const t = new EventTransitions();
    expect(t.paused('ns/a', false)).toEqual([]); // never paused: nothing to say
    expect(reasons(t.paused('ns/a', true))).toEqual(['Paused']);
    expect(t.paused('ns/a', true)).toEqual([]);
    expect(t.paused('ns/a', false)).toEqual([{ type: 'Normal', reason: 'Resumed', message: 'reconciliation resumed' }]);
  });

  it('warns once about a refused spec, again when the problem changes, and is quiet once it is fixed', () => {
    const t = new EventTransitions();
    expect(t.invalidSpec('ns/a', 'spec.config: x')).toEqual([
      { type: 'Warning', reason: 'InvalidSpec', message: 'spec.config: x; nothing is rolled out until it is fixed' },
    ]);
    expect(t.invalidSpec('ns/a', 'spec.config: x')).toEqual([]);
    expect(reasons(t.invalidSpec('ns/a', 'spec.config: y'))).toEqual(['InvalidSpec']);
    expect(t.invalidSpec('ns/a', undefined)).toEqual([]);
    expect(reasons(t.invalidSpec('ns/a', 'spec.config: y'))).toEqual(['InvalidSpec']);
  });

  it('announces each canary state once per marker', () => {
    const t = new EventTransitions();
    const active = { marker: 'active:1.1.0', reason: 'CanaryActive' as const, message: 'canary 1.1.0 for AppIds acme' };
    expect(t.canary('ns/a', undefined)).toEqual([]);
    expect(t.canary('ns/a', active)).toEqual([{ type: 'Normal', reason: 'CanaryActive', message: 'canary 1.1.0 for AppIds acme' }]);
    expect(t.canary('ns/a', active)).toEqual([]);
    expect(reasons(t.canary('ns/a', { marker: 'promoting:1.1.0', reason: 'PromotionStarted', message: 'm' }))).toEqual([
      'PromotionStarted',
    ]);
    expect(t.canary('ns/b', active)).toHaveLength(1); // per cluster
  });

  it('announces Ready and Degraded when the phase becomes one, and a new version once', () => {
    const t = new EventTransitions();
    const c = cluster();
    c.status = { version: '1.0.0' };
    const ready: ImClusterStatus = { phase: 'Ready', version: '1.0.0' };
    expect(t.status('ns/a', c, ready, false)).toEqual([
      { type: 'Normal', reason: 'Ready', message: 'every component is ready (version 1.0.0)' },
    ]);
    expect(t.status('ns/a', c, ready, false)).toEqual([]);
    const degraded: ImClusterStatus = {
      phase: 'Degraded',
      conditions: [
        {
          type: 'Degraded',
          status: 'True',
          reason: 'ReconcileError',
          message: 'apply failed',
          observedGeneration: 3,
          lastTransitionTime: 't',
        },
      ],
    };
    expect(t.status('ns/a', c, degraded, false)).toEqual([{ type: 'Warning', reason: 'Degraded', message: 'apply failed' }]);

    const next = cluster({ version: '1.1.0' });
    next.status = { version: '1.0.0' };
    expect(t.status('ns/a', next, { phase: 'Progressing' }, true)).toEqual([]); // paused: not rolling anything out
    expect(t.status('ns/a', next, { phase: 'Progressing' }, false)).toEqual([
      { type: 'Normal', reason: 'RollingOut', message: 'rolling out version 1.1.0 (from 1.0.0)' },
    ]);
    expect(t.status('ns/a', next, { phase: 'Progressing' }, false)).toEqual([]);
  });

  it('after a restart (or forget) announces the phase again but no rollout of the version the status already shows', () => {
    const t = new EventTransitions();
    const c = cluster();
    c.status = { version: '1.0.0' };
    t.status('ns/a', c, { phase: 'Ready', version: '1.0.0' }, false);
    t.forget('ns/a');
    expect(reasons(t.status('ns/a', c, { phase: 'Ready', version: '1.0.0' }, false))).toEqual(['Ready']);
  });
});
