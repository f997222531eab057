// Dispatch with the operator's routing table: the table picks the gray track of an AppId.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryBackends } from '../adapters/memory/memory-backends.js';
import { compileConfig } from '../shared/config.js';
import { createMetrics } from '../shared/metrics.js';
import { roleConfig } from '../shared/role-config.js';
import { canaryBucket, RoutingTableSource, serializeRoutingTable } from '../shared/routing-table.js';
import { Dispatch } from './dispatch.js';

const dir = mkdtempSync(join(tmpdir(), 'dispatch-routing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setup(canary?: { version: string; appIds?: string[]; percentage?: number }) {
  const file = join(dir, `routing-${Math.random()}.json`);
  writeFileSync(
    file,
    serializeRoutingTable({
      format: 1,
      stable: { version: '1.0.0' },
      canary,
      pools: [
        { name: 'vip', appIds: ['acme'] },
        { name: 'main', default: true },
      ],
    }),
  );
  const routing = await new RoutingTableSource(file, { pollMs: 60_000 }).start();
  const backends = createMemoryBackends();
  const gate = (id: string, pool: string, appIds: string[], track: string, connections = 0) =>
    backends.routes.reportGate({ id, pool, appIds, track, wsUrl: `ws://${id}/ws`, tcpAddr: '', connections, draining: false }, 60_000);
  await gate('main-stable', 'main', [], 'stable');
  await gate('main-canary', 'main', [], 'canary');
  await gate('vip-stable', 'vip', ['acme'], 'stable');
  await gate('vip-canary', 'vip', ['acme'], 'canary');
  const dispatch = new Dispatch(roleConfig(compileConfig(), 'dispatch'), backends, createMetrics(), routing);
  return { dispatch, routing, backends };
}

describe('dispatch with a routing table', () => {
  it('sends stable AppIds to stable gates of their pool', async () => {
    const { dispatch, routing } = await setup();
    expect((await dispatch.answer('acme', 'u1')).gates.map((g) => g.id)).toEqual(['vip-stable']);
    expect((await dispatch.answer('other', 'u1')).gates.map((g) => g.id)).toEqual(['main-stable']);
    routing.stop();
  });

  it('sends exactly the listed canary AppIds to canary gates', async () => {
    const { dispatch, routing } = await setup({ version: '1.1.0', appIds: ['acme', 'beta-app'] });
    expect((await dispatch.answer('acme', 'u1')).gates.map((g) => g.id)).toEqual(['vip-canary']);
    expect((await dispatch.answer('beta-app', 'u1')).gates.map((g) => g.id)).toEqual(['main-canary']);
    expect((await dispatch.answer('gamma-app', 'u1')).gates.map((g) => g.id)).toEqual(['main-stable']);
    routing.stop();
  });

  it('sends the hashed share of AppIds to the canary', async () => {
    const { dispatch, routing } = await setup({ version: '1.1.0', percentage: 30 });
    for (let i = 0; i < 40; i++) {
      const app = `tenant-${i}`;
      const [first] = (await dispatch.answer(app, 'u1')).gates;
      expect(first!.track).toBe(canaryBucket(app) < 30 ? 'canary' : 'stable');
    }
    routing.stop();
  });

  it('falls back to stable gates when the canary has no live gate yet', async () => {
    const { dispatch, routing, backends } = await setup({ version: '1.1.0', appIds: ['acme'] });
    await backends.routes.removeGate('vip-canary');
    expect((await dispatch.answer('acme', 'u1')).gates.map((g) => g.id)).toEqual(['vip-stable']);
    routing.stop();
  });
});
