// The AppRegistry contract (services/ports/app-registry.ts, docs/architecture.md §5), written once
// and run against every adapter: the in-memory one in the `unit` project, MongoDB on FerretDB (and
// Redis for revocations) in the integration suites. Every test uses fresh AppIds, users and jtis,
// and looks only at apps it created, so one server can serve every test.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import type { App, AppRegistry } from './app-registry.js';

export interface AppRegistryFixture {
  apps: AppRegistry;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const byId = (list: App[]): App[] => [...list].sort((a, b) => a.appId.localeCompare(b.appId));

export function appRegistryContract(name: string, make: () => Promise<AppRegistryFixture>): void {
  describe(`AppRegistry contract: ${name}`, () => {
    let fx: AppRegistryFixture;
    const elapse = (ms: number): Promise<void> => (fx.elapse ? fx.elapse(ms) : sleep(ms));
    let apps: AppRegistry;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const newApp = (overrides: Partial<App> = {}): App => ({
      appId: id('app'),
      name: 'Chat for Cats',
      secret: `s3cret-${randomUUID()}`,
      multiLogin: 'per-platform',
      createdAt: 1_700_000_000_789,
      ...overrides,
    });
    async function expectConflict(p: Promise<unknown>): Promise<void> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ImError);
      expect((err as ImError).code).toBe('IM_ADMIN_CONFLICT');
    }

    beforeEach(async () => {
      fx = await make();
      apps = fx.apps;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('create then get returns the app; an unknown AppId is null', async () => {
      const app = newApp();
      await apps.create(app);
      expect(await apps.get(app.appId)).toEqual(app);
      expect(await apps.get(id('app'))).toBeNull();
    });

    it('creating an existing AppId fails with IM_ADMIN_CONFLICT and changes nothing', async () => {
      const app = newApp();
      await apps.create(app);
      await expectConflict(apps.create({ ...app, name: 'Impostor', secret: 'stolen' }));
      expect(await apps.get(app.appId)).toEqual(app);
    });

    it('of concurrent creates of one AppId exactly one succeeds', async () => {
      const appId = id('app');
      const attempts = Array.from({ length: 8 }, (_, i) => newApp({ appId, name: `attempt ${i}` }));
      const results = await Promise.allSettled(attempts.map((a) => apps.create(a)));
      const won = results.findIndex((r) => r.status === 'fulfilled');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(ImError);
          expect((r.reason as ImError).code).toBe('IM_ADMIN_CONFLICT');
        }
      }
      expect(await apps.get(appId)).toEqual(attempts[won]);
    });

    it('update changes only the given fields and returns the result; an unknown AppId is null', async () => {
      const app = newApp();
      await apps.create(app);
      const renamed = await apps.update(app.appId, { name: 'Chat for Dogs' });
      expect(renamed).toEqual({ ...app, name: 'Chat for Dogs' });
      const rotated = await apps.update(app.appId, { secret: 'new-secret', multiLogin: 'single' });
      const expected: App = { ...app, name: 'Chat for Dogs', secret: 'new-secret', multiLogin: 'single' };
      expect(rotated).toEqual(expected);
      expect(await apps.get(app.appId)).toEqual(expected);

      const ghost = id('app');
      expect(await apps.update(ghost, { name: 'ghost' })).toBeNull();
      expect(await apps.get(ghost)).toBeNull();
    });

    it('keeps per-app limits given at create and replaced by update; an app without limits has none', async () => {
      const plain = newApp();
      await apps.create(plain);
      expect((await apps.get(plain.appId))?.limits).toBeUndefined();
      const limited: App = { ...newApp(), limits: { framesPerSec: 300, connectionsPerUser: 4 } };
      await apps.create(limited);
      expect(await apps.get(limited.appId)).toEqual(limited);
      const changed = await apps.update(limited.appId, { limits: { framesPerSec: 50 } });
      expect(changed?.limits).toEqual({ framesPerSec: 50 });
      expect((await apps.get(limited.appId))?.limits).toEqual({ framesPerSec: 50 });
    });

    it('keeps a webhook given at create, replaced by update and removed by update with null; other fields stay', async () => {
      const hook = {
        url: 'https://hooks.example.com/im',
        secret: 'whsec-1',
        events: ['message.sent' as const],
        timeoutMs: 5_000,
        maxAttempts: 8,
        beforeSend: { enabled: true, timeoutMs: 500, failOpen: false },
      };
      const app = newApp({ webhook: hook });
      await apps.create(app);
      expect(await apps.get(app.appId)).toEqual(app);
      const replaced = { ...hook, url: 'http://127.0.0.1:9/x', events: ['message.sent' as const, 'message.recalled' as const] };
      expect(await apps.update(app.appId, { webhook: replaced })).toEqual({ ...app, webhook: replaced });
      expect(await apps.update(app.appId, { name: 'renamed' })).toEqual({ ...app, name: 'renamed', webhook: replaced });
      const { webhook: _gone, ...without } = app;
      expect(await apps.update(app.appId, { webhook: null })).toEqual({ ...without, name: 'renamed' });
      expect(await apps.get(app.appId)).toEqual({ ...without, name: 'renamed' });
    });

    it('list includes every app', async () => {
      const mine = [newApp({ multiLogin: 'all' }), newApp({ multiLogin: 'single' }), newApp()];
      for (const a of mine) await apps.create(a);
      await apps.update(mine[0]!.appId, { name: 'renamed' });
      const ids = new Set(mine.map((a) => a.appId));
      const listed = (await apps.list()).filter((a) => ids.has(a.appId));
      expect(byId(listed)).toEqual(byId([{ ...mine[0]!, name: 'renamed' }, mine[1]!, mine[2]!]));
    });

    it('revokeToken revokes one jti of one app until its expiry', async () => {
      const [app, other] = [id('app'), id('app')];
      const [user, jti] = [id('user'), id('jti')];
      const issuedAt = Date.now() - 1000;
      expect(await apps.isRevoked(app, user, jti, issuedAt)).toBe(false);

      // Until 1 s from now: the three reads below fall well within it, even on a busy machine.
      await apps.revokeToken(app, jti, Date.now() + 1000);
      expect(await apps.isRevoked(app, user, jti, issuedAt)).toBe(true);
      expect(await apps.isRevoked(app, user, id('jti'), issuedAt)).toBe(false);
      expect(await apps.isRevoked(other, user, jti, issuedAt)).toBe(false);

      // Past its expiry the token is rejected as expired anyway; the revocation may go.
      await elapse(1300);
      expect(await apps.isRevoked(app, user, jti, issuedAt)).toBe(false);

      const longJti = id('jti');
      await apps.revokeToken(app, longJti, Date.now() + 60_000);
      expect(await apps.isRevoked(app, user, longJti, issuedAt)).toBe(true);
    });

    it('revokeUser revokes tokens issued at or before `before`, not after, for that user and app only', async () => {
      const [app, other] = [id('app'), id('app')];
      const [user, peer] = [id('user'), id('user')];
      const before = Date.now();
      await apps.revokeUser(app, user, before);

      expect(await apps.isRevoked(app, user, id('jti'), before - 60_000)).toBe(true);
      expect(await apps.isRevoked(app, user, id('jti'), before - 1)).toBe(true);
      expect(await apps.isRevoked(app, user, id('jti'), before)).toBe(true);
      expect(await apps.isRevoked(app, user, id('jti'), before + 1)).toBe(false);
      expect(await apps.isRevoked(app, peer, id('jti'), before - 1)).toBe(false);
      expect(await apps.isRevoked(other, user, id('jti'), before - 1)).toBe(false);

      // Revocations add up: an earlier cut-off does not un-revoke anything.
      await apps.revokeUser(app, user, before - 10_000);
      expect(await apps.isRevoked(app, user, id('jti'), before)).toBe(true);
      await apps.revokeUser(app, user, before + 5_000);
      expect(await apps.isRevoked(app, user, id('jti'), before + 5_000)).toBe(true);
      expect(await apps.isRevoked(app, user, id('jti'), before + 5_001)).toBe(false);
    });
  });
}
