import { describe, expect, it } from 'vitest';
import { serializeRoutingTable } from '../services/shared/routing-table.js';
import { planCanary } from './canary.js';
import { routingTable } from './objects/builders.js';
import type { Workload } from './status.js';
import { cluster } from './testing/fixtures.js';

const deployment = (name: string, track: 'stable' | 'canary', version: string, rolledOut = true): Workload => ({
  metadata: { name, generation: 2, labels: { 'imcloud.dev/track': track, 'app.kubernetes.io/version': version } },
  spec: { replicas: 2 },
  status: { observedGeneration: 2, replicas: 2, readyReplicas: rolledOut ? 2 : 1, updatedReplicas: rolledOut ? 2 : 1 },
});

const gray = { version: '1.1.0', appIds: ['acme'], percentage: 5, gateReplicas: 1, logicReplicas: 1 };

describe('planCanary', () => {
  it('follows spec.gray, and announces the active canary once per version', () => {
    const d = planCanary({
      cluster: cluster({ gray }),
      deployments: [deployment('demo-gate-main', 'stable', '1.0.0')],
      routingTable: undefined,
    });
    expect(d.canary).toEqual({ version: '1.1.0', appIds: ['acme'], percentage: 5, promoting: false });
    expect(d.keepCanary).toBe(false);
    expect(d.transition).toEqual({
      marker: 'active:1.1.0',
      reason: 'CanaryActive',
      message: 'canary 1.1.0 for AppIds acme and 5% of AppIds',
    });
    const byShare = planCanary({ cluster: cluster({ gray: { ...gray, appIds: [] } }), deployments: [], routingTable: undefined });
    expect(byShare.transition?.message).toBe('canary 1.1.0 for 5% of AppIds');
  });

  it('has nothing to do without spec.gray and without canary Deployments', () => {
    expect(
      planCanary({ cluster: cluster(), deployments: [deployment('demo-gate-main', 'stable', '1.0.0')], routingTable: undefined }),
    ).toEqual({ keepCanary: false });
  });

  it('recognises a promotion by canary Deployments that run spec.version, and keeps the AppIds the routing table gives the canary', () => {
    const before = cluster({ gray });
    const table = serializeRoutingTable(routingTable(before, { version: '1.1.0', appIds: ['acme'], percentage: 5, promoting: false }));
    const d = planCanary({
      cluster: cluster({ version: '1.1.0' }),
      deployments: [deployment('demo-gate-main', 'stable', '1.1.0', false), deployment('demo-gate-main-canary', 'canary', '1.1.0')],
      routingTable: table,
    });
    expect(d.canary).toEqual({ version: '1.1.0', appIds: ['acme'], percentage: 5, promoting: true });
    expect(d.keepCanary).toBe(true);
    expect(d.transition).toMatchObject({ marker: 'promoting:1.1.0', reason: 'PromotionStarted' });
  });

  it('promotes with no AppIds on the canary when the routing table is missing or does not parse', () => {
    for (const routing of [undefined, '{not json']) {
      const d = planCanary({
        cluster: cluster({ version: '1.1.0' }),
        deployments: [deployment('demo-gate-main-canary', 'canary', '1.1.0')],
        routingTable: routing,
      });
      expect(d.canary).toEqual({ version: '1.1.0', appIds: [], percentage: 0, promoting: true });
      expect(d.keepCanary).toBe(true);
    }
  });

  it('ends a promotion once every stable Deployment runs the new version and has rolled out', () => {
    const d = planCanary({
      cluster: cluster({ version: '1.1.0' }),
      deployments: [
        deployment('demo-gate-main', 'stable', '1.1.0'),
        deployment('demo-logic', 'stable', '1.1.0'),
        deployment('demo-gate-main-canary', 'canary', '1.1.0'),
      ],
      routingTable: undefined,
    });
    expect(d.canary).toBeUndefined();
    expect(d.keepCanary).toBe(false);
    expect(d.transition).toEqual({
      marker: 'Promoted',
      reason: 'Promoted',
      message: 'canary 1.1.0 promoted: the stable track runs it; the canary is removed',
    });
  });

  it('reads canary Deployments of another version without spec.gray as a rollback', () => {
    const d = planCanary({
      cluster: cluster(),
      deployments: [deployment('demo-gate-main', 'stable', '1.0.0'), deployment('demo-gate-main-canary', 'canary', '2.0.0-rc.1')],
      routingTable: undefined,
    });
    expect(d.canary).toBeUndefined();
    expect(d.keepCanary).toBe(false);
    expect(d.transition).toEqual({
      marker: 'RolledBack',
      reason: 'RolledBack',
      message: 'gray release of 2.0.0-rc.1 rolled back: its AppIds return to 1.0.0, the canary is removed',
    });
  });
});
