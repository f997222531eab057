import { describe, expect, it } from 'vitest';
import type { GateInfo } from '../ports/routes.js';
import { gatesFor } from './dispatch.js';

const gate = (id: string, extra: Partial<GateInfo> = {}): GateInfo => ({
  id,
  pool: 'default',
  appIds: [],
  track: 'stable',
  wsUrl: `ws://${id}/ws`,
  tcpAddr: '',
  connections: 0,
  draining: false,
  reportedAt: 1000,
  ...extra,
});

describe('gatesFor', () => {
  const gates = [
    gate('d1', { connections: 50 }),
    gate('d2', { connections: 10 }),
    gate('vip1', { pool: 'vip', appIds: ['vip-app'], connections: 5 }),
    gate('old', { reportedAt: 1 }),
    gate('leaving', { draining: true }),
    gate('canary1', { track: 'canary' }),
  ];

  it('sends an AppId claimed by a pool only to that pool', () => {
    expect(gatesFor(gates, 'vip-app', 1000, 100).map((g) => g.id)).toEqual(['vip1']);
  });

  it('sends other AppIds to the default pool, least-loaded first, skipping stale and draining gates', () => {
    expect(gatesFor(gates, 'other', 1000, 100).map((g) => g.id)).toEqual(['d2', 'd1']);
  });

  it('picks the requested track and falls back to stable when it has no gate', () => {
    expect(gatesFor(gates, 'other', 1000, 100, 'canary').map((g) => g.id)).toEqual(['canary1']);
    expect(gatesFor(gates, 'vip-app', 1000, 100, 'canary').map((g) => g.id)).toEqual(['vip1']);
  });

  it('returns nothing rather than a gate of another pool', () => {
    expect(gatesFor([gate('vip1', { appIds: ['vip-app'] })], 'other', 1000, 100)).toEqual([]);
  });
});
