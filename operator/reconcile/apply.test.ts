import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/client.js';
import { R } from '../kube/client.js';
import { cluster } from '../testing/fixtures.js';
import { keptAsIs } from './apply.js';

const deployment = (component: string, track: 'stable' | 'canary'): KubeObject => ({
  metadata: { name: `demo-${component}`, labels: { 'app.kubernetes.io/component': component, 'imcloud.dev/track': track } },
});

describe('keptAsIs', () => {
  const c = cluster({ tls: { secretName: 'chat-tls', roles: ['gate', 'dispatch'] } });

  it('keeps nothing while the TLS Secret is usable and no promotion is under way', () => {
    const kept = keptAsIs(c, { holdTls: false, keepCanary: false });
    expect(kept(R.deployments, deployment('gate', 'stable'))).toBe(false);
    expect(kept(R.deployments, deployment('gate', 'canary'))).toBe(false);
    expect(kept(R.servicemonitors, { metadata: { name: 'demo' } })).toBe(false);
  });

  it('holds the Deployments that mount the TLS Secret and the ServiceMonitor while that Secret is unusable', () => {
    const kept = keptAsIs(c, { holdTls: true, keepCanary: false });
    expect(kept(R.deployments, deployment('gate', 'stable'))).toBe(true);
    expect(kept(R.deployments, deployment('dispatch', 'stable'))).toBe(true);
    expect(kept(R.deployments, deployment('logic', 'stable'))).toBe(false);
    expect(kept(R.servicemonitors, { metadata: { name: 'demo' } })).toBe(true);
    expect(kept(R.services, { metadata: { name: 'demo-gate-main', labels: { 'app.kubernetes.io/component': 'gate' } } })).toBe(false);
  });

  it('keeps the canary Deployments, and only those, during a promotion', () => {
    const kept = keptAsIs(c, { holdTls: false, keepCanary: true });
    expect(kept(R.deployments, deployment('gate', 'canary'))).toBe(true);
    expect(kept(R.deployments, deployment('logic', 'canary'))).toBe(true);
    expect(kept(R.deployments, deployment('gate', 'stable'))).toBe(false);
    expect(kept(R.services, { metadata: { name: 'x', labels: { 'imcloud.dev/track': 'canary' } } })).toBe(false);
  });
});
