// Logic's own checks on who sent a frame, behind the gate's: an envelope without an
// authenticated app and user acts on nothing, and a user holds a bounded number of connections.
import { describe, expect, it } from 'vitest';
import { encodeFrameBody } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { logicFixture } from './logic-fixture.js';

const Kind = imcloud.internal.v1.Upstream.Kind;

describe('logic refuses what no authenticated user sent', () => {
  for (const [label, who] of [
    ['no app', { appId: '', userId: 'alice' }],
    ['no user', { appId: 'app1', userId: '' }],
    ['a malformed user', { appId: 'app1', userId: 'a:b' }],
  ] as const) {
    it(`${label}: a send is neither acked nor stored`, async () => {
      const fx = await logicFixture();
      await fx.logic.handle(
        imcloud.internal.v1.Upstream.encode({
          kind: Kind.KIND_FRAME,
          ...who,
          deviceId: 'd1',
          connId: 'c1',
          gateId: 'g1',
          receivedAt: Date.now(),
          frame: encodeFrameBody({ reqId: 7, send: { clientMsgId: 'm1', to: 'bob', body: new Uint8Array([1]) } }),
        }).finish(),
      );
      const replies = await fx.settled(1);
      expect(replies.map((r) => r.body)).toEqual(['error']);
      expect(replies[0]!.error!.code).toBe('IM_AUTH_REQUIRED');
      expect(await fx.backends.conversations.maxSeq(who.appId, 's:alice:bob')).toBe(0);
      expect(await fx.backends.conversations.maxSeq('', 's::bob')).toBe(0);
    });
  }

  it('a frame of an app that does not exist is refused', async () => {
    const fx = await logicFixture();
    await fx.logic.handle(
      imcloud.internal.v1.Upstream.encode({
        kind: Kind.KIND_FRAME,
        appId: 'ghost',
        userId: 'alice',
        deviceId: 'd1',
        connId: 'c1',
        gateId: 'g1',
        receivedAt: Date.now(),
        frame: encodeFrameBody({ reqId: 1, send: { clientMsgId: 'm1', to: 'bob', body: new Uint8Array([1]) } }),
      }).finish(),
    );
    expect((await fx.settled(1))[0]!.error!.code).toBe('IM_APP_NOT_FOUND');
    expect(await fx.backends.conversations.maxSeq('ghost', 's:alice:bob')).toBe(0);
  });
});

describe('connections per user', () => {
  it('refuses a login past the cap with IM_TOO_MANY_CONNECTIONS and leaves no route for it', async () => {
    const fx = await logicFixture({ logic: { connectionsPerUser: 2 } });
    const login = (connId: string) =>
      fx.logic.handle(
        imcloud.internal.v1.Upstream.encode({
          kind: Kind.KIND_LOGIN,
          appId: 'app1',
          userId: 'alice',
          deviceId: `dev-${connId}`,
          connId,
          gateId: 'g1',
          receivedAt: Date.now(),
          routeTtlMs: 60_000,
        }).finish(),
      );
    await login('c1');
    await login('c2');
    await login('c3');
    const replies = await fx.settled(3);
    expect(replies.map((r) => r.body)).toEqual(['authOk', 'authOk', 'error']);
    expect(replies[2]!.error!.code).toBe('IM_TOO_MANY_CONNECTIONS');
    expect((await fx.backends.routes.list('app1', 'alice')).map((r) => r.connId).sort()).toEqual(['c1', 'c2']);
  });
});
