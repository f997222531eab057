// The Routes contract (services/ports/routes.ts), written once and run against every adapter:
// the in-memory one in the `unit` project, Redis in the integration suites.
//
// Isolation: every test uses fresh AppIds, user ids and gate ids (random UUIDs), looks only at
// gates it reported itself and removes them at the end, so one server can serve every test.
// Expiry is checked with 1 s TTLs: a refresh comes half a TTL in (a sleep a busy machine may
// stretch by up to 500 ms before the entry lapses), and the waits that must outlast a TTL are
// 1.5 s in all (which a busy machine only lengthens).
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GateInfo, Route, Routes } from './routes.js';

export interface RoutesFixture {
  routes: Routes;
  /**
   * Another adapter over the same data, as another process has it (its own caches). Default:
   * `routes` itself, for an adapter whose data lives in the adapter.
   */
  peer?: Routes;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const byConn = (routes: Route[]): Route[] => [...routes].sort((a, b) => a.connId.localeCompare(b.connId));
const TTL = 1000;
const PAST_TTL = 1500;
const LONG = 30_000;

export function routesContract(name: string, make: () => Promise<RoutesFixture>): void {
  describe(`Routes contract: ${name}`, () => {
    let fx: RoutesFixture;
    const elapse = (ms: number): Promise<void> => (fx.elapse ? fx.elapse(ms) : sleep(ms));
    let routes: Routes;
    let gates: string[];

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const route = (connId: string, overrides: Partial<Route> = {}): Route => ({
      connId,
      gateId: 'gate-a',
      deviceId: `dev-${connId}`,
      platform: 2,
      since: 1_700_000_000_123,
      ...overrides,
    });
    const gateInfo = (overrides: Partial<GateInfo> = {}): GateInfo => {
      const g: GateInfo = {
        id: id('gate'),
        pool: 'default',
        appIds: [],
        track: 'stable',
        wsUrl: 'ws://10.0.0.1:8080/ws',
        tcpAddr: '10.0.0.1:9000',
        connections: 0,
        draining: false,
        ...overrides,
      };
      gates.push(g.id);
      return g;
    };
    async function ourGates(): Promise<Map<string, GateInfo>> {
      return new Map((await routes.listGates()).filter((g) => gates.includes(g.id)).map((g) => [g.id, g]));
    }

    beforeEach(async () => {
      fx = await make();
      routes = fx.routes;
      gates = [];
    });

    afterEach(async () => {
      for (const g of gates) await routes.removeGate(g).catch(() => undefined);
      await fx.cleanup();
    });

    it('add returns every live route of the user; the same connId replaces its route', async () => {
      const app = id('app');
      const user = id('user');
      const c1 = route('c1', { gateId: 'gate-a', platform: 1, since: 1000 });
      const c2 = route('c2', { gateId: 'gate-b', platform: 3, since: 2000 });

      expect(await routes.add(app, user, c1, LONG)).toEqual([c1]);
      expect(byConn(await routes.add(app, user, c2, LONG))).toEqual([c1, c2]);

      // The connection re-authenticated on another gate: still one route for c1.
      const c1b = route('c1', { gateId: 'gate-c', deviceId: 'dev-other', platform: 4, since: 3000 });
      expect(byConn(await routes.add(app, user, c1b, LONG))).toEqual([c1b, c2]);
      expect(byConn(await routes.list(app, user))).toEqual([c1b, c2]);
      expect(await routes.list(app, id('user'))).toEqual([]);
    });

    it('remove drops one connection; removing the last leaves no routes', async () => {
      const app = id('app');
      const user = id('user');
      await routes.add(app, user, route('c1'), LONG);
      await routes.add(app, user, route('c2'), LONG);

      await routes.remove(app, user, 'c1');
      expect(await routes.list(app, user)).toEqual([route('c2')]);
      expect(await routes.refresh(app, user, 'c1', LONG)).toBe(false);

      await routes.remove(app, user, 'c2');
      await routes.remove(app, user, 'never-added');
      await routes.remove(app, id('user'), 'c1');
      expect(await routes.list(app, user)).toEqual([]);
      expect((await routes.listMany(app, [user])).has(user)).toBe(false);
      expect(await routes.refresh(app, user, 'c2', LONG)).toBe(false);
    });

    it('routes expire after their TTL unless refreshed, each route on its own clock', async () => {
      const app = id('app');
      const user = id('user');
      await routes.add(app, user, route('kept'), TTL);
      await routes.add(app, user, route('lost'), TTL);
      const other = id('user');
      await routes.add(app, other, route('o1'), TTL);

      await elapse(TTL / 2);
      expect(await routes.refresh(app, user, 'kept', LONG)).toBe(true);
      await elapse(PAST_TTL - TTL / 2);

      // `lost` and `o1` are past their TTL; `kept` was refreshed in time.
      expect(await routes.list(app, user)).toEqual([route('kept')]);
      expect(await routes.list(app, other)).toEqual([]);
      expect(await routes.refresh(app, user, 'lost', LONG)).toBe(false);
      expect(await routes.refresh(app, user, 'never-added', LONG)).toBe(false);
      expect(byConn(await routes.add(app, user, route('new'), LONG))).toEqual([route('kept'), route('new')]);
      const many = await routes.listMany(app, [user, other]);
      expect([...many.keys()]).toEqual([user]);
      // A refresh of an expired route does not bring it back.
      expect(await routes.refresh(app, other, 'o1', LONG)).toBe(false);
      expect(await routes.list(app, other)).toEqual([]);
    });

    it('listMany returns the routes of many users; users without routes are absent', async () => {
      const app = id('app');
      const [u1, u2, u3] = [id('user'), id('user'), id('user')];
      await routes.add(app, u1, route('a1', { gateId: 'g1' }), LONG);
      await routes.add(app, u1, route('a2', { gateId: 'g2' }), LONG);
      await routes.add(app, u2, route('b1', { gateId: 'g1' }), LONG);

      const many = await routes.listMany(app, [u1, u2, u3]);
      expect(new Set(many.keys())).toEqual(new Set([u1, u2]));
      expect(byConn(many.get(u1)!)).toEqual([route('a1', { gateId: 'g1' }), route('a2', { gateId: 'g2' })]);
      expect(many.get(u2)).toEqual([route('b1', { gateId: 'g1' })]);
      expect((await routes.listMany(app, [])).size).toBe(0);
      expect((await routes.listMany(app, [u3])).size).toBe(0);
    });

    it('listMany answers for a large group (hundreds of members) with every member in place', async () => {
      const app = id('app');
      const users = Array.from({ length: 600 }, (_, i) => `m${i}`);
      await Promise.all(users.map((u, i) => (i % 3 === 2 ? undefined : routes.add(app, u, route(`c-${u}`), LONG))));
      const many = await routes.listMany(app, users);
      expect(many.size).toBe(400);
      for (const [i, u] of users.entries()) {
        if (i % 3 === 2) expect(many.has(u)).toBe(false);
        else expect(many.get(u)).toEqual([route(`c-${u}`)]);
      }
    });

    it('every change made anywhere is seen at once by a reader that has read the user before', async () => {
      const reader = fx.peer ?? routes;
      const app = id('app');
      const [user, idle] = [id('user'), id('user')];
      const seen = async (): Promise<Route[]> => byConn((await reader.listMany(app, [user, idle])).get(user) ?? []);
      expect(await seen()).toEqual([]);

      await routes.add(app, user, route('c1'), LONG);
      expect(await seen()).toEqual([route('c1')]);
      expect(await seen()).toEqual([route('c1')]);
      await routes.add(app, user, route('c2'), TTL);
      expect(await seen()).toEqual([route('c1'), route('c2')]);
      // The same connection on another gate: the reader must not keep the old gate.
      await routes.add(app, user, route('c1', { gateId: 'gate-b' }), LONG);
      expect(await seen()).toEqual([route('c1', { gateId: 'gate-b' }), route('c2')]);

      // A refresh keeps c2 past the TTL the reader saw when it last read it.
      await elapse(TTL / 2);
      expect(await routes.refresh(app, user, 'c2', LONG)).toBe(true);
      await elapse(PAST_TTL - TTL / 2);
      expect(await seen()).toEqual([route('c1', { gateId: 'gate-b' }), route('c2')]);

      await routes.remove(app, user, 'c1');
      expect(await seen()).toEqual([route('c2')]);
      await routes.remove(app, user, 'c2');
      expect(await seen()).toEqual([]);
      expect((await reader.listMany(app, [user, idle])).size).toBe(0);

      // A route that lapses without any write is gone for the reader too.
      await routes.add(app, user, route('c3'), TTL);
      expect(await seen()).toEqual([route('c3')]);
      await elapse(PAST_TTL);
      expect(await seen()).toEqual([]);
    });

    it('apps are isolated: the same user id in two apps has separate routes', async () => {
      const [appA, appB] = [id('app'), id('app')];
      const user = id('user');
      await routes.add(appA, user, route('ca', { gateId: 'gate-a' }), LONG);
      expect(await routes.list(appB, user)).toEqual([]);
      expect((await routes.listMany(appB, [user])).size).toBe(0);
      expect(await routes.refresh(appB, user, 'ca', LONG)).toBe(false);

      expect(await routes.add(appB, user, route('cb', { gateId: 'gate-b' }), LONG)).toEqual([route('cb', { gateId: 'gate-b' })]);
      expect(await routes.list(appA, user)).toEqual([route('ca', { gateId: 'gate-a' })]);

      await routes.remove(appB, user, 'ca');
      await routes.remove(appB, user, 'cb');
      expect(await routes.list(appA, user)).toEqual([route('ca', { gateId: 'gate-a' })]);
      expect(await routes.list(appB, user)).toEqual([]);
    });

    it('gates: report lists them with reportedAt, a new report replaces the old, remove drops it', async () => {
      const g1 = gateInfo({ pool: 'vip', appIds: ['app-1', 'app-2'], track: 'canary', connections: 12 });
      const g2 = gateInfo();
      const before = Date.now();
      await routes.reportGate(g1, LONG);
      await routes.reportGate(g2, LONG);
      const after = Date.now();

      let listed = await ourGates();
      expect(new Set(listed.keys())).toEqual(new Set([g1.id, g2.id]));
      const { reportedAt, ...rest } = listed.get(g1.id)!;
      expect(rest).toEqual(g1);
      expect(reportedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(reportedAt).toBeLessThanOrEqual(after + 1000);

      const g1b: GateInfo = { ...g1, connections: 40, draining: true, appIds: ['app-1'] };
      await routes.reportGate(g1b, LONG);
      listed = await ourGates();
      expect(listed.size).toBe(2);
      expect({ ...listed.get(g1.id)!, reportedAt: undefined }).toEqual({ ...g1b, reportedAt: undefined });

      await routes.removeGate(g1.id);
      await routes.removeGate(id('gate'));
      listed = await ourGates();
      expect([...listed.keys()]).toEqual([g2.id]);
    });

    it('gates expire after their TTL unless reported again', async () => {
      const lost = gateInfo();
      const kept = gateInfo();
      const refreshed = gateInfo();
      await routes.reportGate(lost, TTL);
      await routes.reportGate(kept, LONG);
      await routes.reportGate(refreshed, TTL);
      expect((await ourGates()).size).toBe(3);

      await elapse(TTL / 2);
      await routes.reportGate({ ...refreshed, connections: 5 }, LONG);
      await elapse(PAST_TTL - TTL / 2);
      const listed = await ourGates();
      expect(new Set(listed.keys())).toEqual(new Set([kept.id, refreshed.id]));
      expect(listed.get(refreshed.id)!.connections).toBe(5);
    });
  });
}
