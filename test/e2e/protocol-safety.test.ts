// Bad input, tenancy, multi-login and the HTTP APIs, through raw frames and plain HTTP: every
// refusal carries a stable code and no other session is harmed (docs/architecture.md §5,
// docs/security.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { encodeFrame } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { mintToken } from '../../services/shared/tokens.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { RawClient } from '../support/raw-client.js';

const Platform = imcloud.v1.Platform;
const text = (s: string) => new TextEncoder().encode(s);

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({
    gate: { maxFrameBytes: 4096, rateLimitPerSec: 50, rateLimitBurst: 50, floodStrikes: 20, maxBufferedBytes: 256 * 1024 },
    logic: { maxBodyBytes: 2048 },
  });
});
afterAll(async () => {
  await platform?.stop();
});

async function online(appId: string, userId: string, deviceId = `${userId}-d1`, platformKind = Platform.PLATFORM_WEB) {
  const client = await RawClient.ws(platform.wsUrl);
  const ok = await client.auth(await platform.token(appId, userId), deviceId, platformKind);
  expect(ok.body, JSON.stringify(ok.error)).toBe('authOk');
  return client;
}

/** A bystander conversation that must keep working while another session misbehaves. */
async function bystanders() {
  const { appId } = await platform.createApp();
  const a = await online(appId, 'calm-a');
  const b = await online(appId, 'calm-b');
  return {
    async stillChat(label: string) {
      const reply = await a.request({ send: { clientMsgId: `calm-${label}`, to: 'calm-b', body: text(label) } });
      expect(reply.body).toBe('sendAck');
      const push = await b.next((f) => f.body === 'push' && f.push!.messages![0]!.clientMsgId === `calm-${label}`);
      expect(push).toBeDefined();
    },
    close() {
      a.close();
      b.close();
    },
  };
}

describe('malformed and hostile input', () => {
  it('refuses a wrong protocol version, garbage, oversize frames and frames before auth, and others carry on', async () => {
    const calm = await bystanders();

    const oldClient = await RawClient.ws(platform.wsUrl);
    const v2 = encodeFrame({ ping: {} });
    v2[0] = 2;
    oldClient.sendBytes(v2);
    expect((await oldClient.nextOf('error')).error).toMatchObject({ code: 'IM_PROTOCOL_VERSION', fatal: true });
    await oldClient.closed();

    const garbage = await RawClient.ws(platform.wsUrl);
    garbage.sendBytes(new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]));
    expect((await garbage.nextOf('error')).error!.code).toBe('IM_FRAME_MALFORMED');
    await garbage.closed();

    const huge = await RawClient.ws(platform.wsUrl);
    huge.sendBytes(encodeFrame({ auth: { token: 'x'.repeat(8000) } }));
    expect((await huge.nextOf('error')).error!.code).toBe('IM_FRAME_TOO_LARGE');
    await huge.closed();

    const tcpHuge = await RawClient.tcp(platform.tcpPort);
    tcpHuge.sendBytes(new Uint8Array(10_000));
    expect((await tcpHuge.nextOf('error')).error!.code).toBe('IM_FRAME_TOO_LARGE');
    await tcpHuge.closed();

    const eager = await RawClient.ws(platform.wsUrl);
    eager.send({ send: { clientMsgId: 'x', to: 'calm-b', body: text('sneaky') } });
    expect((await eager.nextOf('error')).error!.code).toBe('IM_AUTH_REQUIRED');
    await eager.closed();

    await calm.stillChat('after-bad-frames');
    calm.close();
  });

  it('answers unknown and server-only frame types with an error and keeps the connection', async () => {
    const { appId } = await platform.createApp();
    const c = await online(appId, 'uma');
    const noBody = new Uint8Array([1, 0x08, 0x07]); // reqId 7, no body
    c.sendBytes(noBody);
    expect((await c.nextOf('error')).error).toMatchObject({ code: 'IM_FRAME_UNKNOWN_TYPE', fatal: false });
    const serverOnly = await c.request({ sendAck: { clientMsgId: 'x' } });
    expect(serverOnly.error!.code).toBe('IM_FRAME_UNKNOWN_TYPE');
    const twice = await c.request({ auth: { token: 'x', deviceId: 'd' } });
    expect(twice.error!.code).toBe('IM_ALREADY_AUTHENTICATED');
    const pong = await c.request({ ping: {} });
    expect(pong.body).toBe('pong');
    expect(c.isClosed).toBe(false);
    c.close();
  });

  it('refuses bad requests with stable codes', async () => {
    const { appId } = await platform.createApp();
    const c = await online(appId, 'vic');
    expect((await c.request({ send: { clientMsgId: '', to: 'x', body: text('a') } })).error!.code).toBe('IM_BAD_REQUEST');
    expect((await c.request({ send: { clientMsgId: 'a', to: 'bad:id', body: text('a') } })).error!.code).toBe('IM_BAD_REQUEST');
    expect((await c.request({ send: { clientMsgId: 'b', to: 'wes', body: new Uint8Array(3000) } })).error!.code).toBe('IM_BODY_TOO_LARGE');
    expect((await c.request({ history: { conversation: 'nonsense' } })).error!.code).toBe('IM_BAD_REQUEST');
    expect((await c.request({ recall: { clientMsgId: 'r', conversation: singleConversation('vic', 'wes'), seq: 99 } })).error!.code).toBe(
      'IM_NOT_FOUND',
    );
    c.close();
  });

  it('rate-limits a flooding connection, then closes it, while others carry on', async () => {
    const calm = await bystanders();
    const { appId } = await platform.createApp();
    const flood = await online(appId, 'flo');
    for (let i = 0; i < 200; i++) flood.send({ ping: {} });
    const limited = await flood.next((f) => f.body === 'error' && f.error!.code === 'IM_RATE_LIMITED');
    expect(limited.error!.retryAfterMs).toBeGreaterThan(0);
    const closedWith = await flood.next((f) => f.body === 'error' && f.error!.code === 'IM_FLOODING');
    expect(closedWith.error!.fatal).toBe(true);
    await flood.closed();
    await calm.stillChat('after-flood');
    calm.close();
  });

  it('closes a reader whose send buffer overflows, without blocking anyone else', async () => {
    // The upstream queue may hold the whole 30 MB burst below, and the app's frame rate lets it
    // through: this is about a slow reader, not overload (ADR 0021) or rate limits (ADR 0024).
    const roomy = await startTestPlatform({
      gate: { maxBufferedBytes: 64 * 1024, rateLimitPerSec: 10_000, rateLimitBurst: 10_000, appFramesPerSec: 100_000 },
      logic: { maxQueueBytes: 0 },
    });
    try {
      const { appId } = await roomy.createApp();
      const connect = async (user: string) => {
        const c = await RawClient.ws(roomy.wsUrl);
        expect((await c.auth(await roomy.token(appId, user), `${user}-1`)).body).toBe('authOk');
        return c;
      };
      const sender = await connect('sam');
      const calmA = await connect('calm-a');
      const calmB = await connect('calm-b');
      const slow = await RawClient.tcp(roomy.tcpPort);
      expect((await slow.auth(await roomy.token(appId, 'sloth'), 'sloth-1')).body).toBe('authOk');
      slow.pauseReading();
      // ~30 MB towards a reader that reads nothing: more than the kernel buffers hold.
      const body = new Uint8Array(30_000).fill(65);
      const n = 1000;
      for (let i = 0; i < n; i++) sender.send({ send: { clientMsgId: `big-${i}`, to: 'sloth', body } });
      const slowClosed = () =>
        roomy.runtime.metrics.gateDisconnects.get().then((m) => m.values.some((v) => v.labels.reason === 'IM_SLOW_CONSUMER'));
      await expect.poll(slowClosed, { timeout: 20_000 }).toBe(true);
      const calm = await calmA.request({ send: { clientMsgId: 'calm-1', to: 'calm-b', body: text('still here') } });
      expect(calm.body).toBe('sendAck');
      await calmB.nextOf('push');
      // Nothing was lost for the slow reader: it comes back and syncs every message.
      const conv = singleConversation('sam', 'sloth');
      await expect.poll(() => roomy.runtime.backends.conversations.maxSeq(appId, conv), { timeout: 20_000 }).toBe(n);
      const back = await connect('sloth');
      const seqs: number[] = [];
      let cursor = 0;
      for (;;) {
        const page = await back.request({ sync: { cursors: [{ conversation: conv, seq: cursor }], pageSize: 500 } });
        const msgs = page.syncPage!.messages!;
        seqs.push(...msgs.map((m) => Number(m.seq)));
        if (msgs.length) cursor = Number(msgs[msgs.length - 1]!.seq);
        if (!page.syncPage!.hasMore) break;
      }
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      for (const c of [sender, calmA, calmB, back]) c.close();
    } finally {
      await roomy.stop();
    }
  });

  it('closes an idle connection after the idle timeout and an unauthenticated one after the auth timeout', async () => {
    // The auth timeout is longer than the idle one: the idle client's Auth (sent as soon as its
    // connection opens, the token minted before) must get in even when the machine is busy.
    const strict = await startTestPlatform({ gate: { authTimeoutMs: 1500 }, heartbeat: { idleTimeoutMs: 300, intervalMs: 100 } });
    try {
      const { appId, secret } = await strict.createApp();
      const { token } = await mintToken(appId, secret, 'ida', 60);
      const idle = await RawClient.ws(strict.wsUrl);
      const ok = await idle.auth(token, 'ida-1');
      expect(Number(ok.authOk!.heartbeatIntervalMs)).toBe(100);
      const err = await idle.nextOf('error', 3000);
      expect(err.error!.code).toBe('IM_HEARTBEAT_TIMEOUT');
      await idle.closed();

      const silent = await RawClient.ws(strict.wsUrl);
      expect((await silent.nextOf('error', 10_000)).error!.code).toBe('IM_AUTH_TIMEOUT');
    } finally {
      await strict.stop();
    }
  });
});

describe('tokens and tenancy', () => {
  it('refuses expired, forged and cross-app tokens', async () => {
    const a = await platform.createApp();
    const b = await platform.createApp();
    const expired = await mintToken(a.appId, a.secret, 'eve', 1, Date.now() - 10_000);
    const c1 = await RawClient.ws(platform.wsUrl);
    expect((await c1.auth(expired.token, 'd')).error!.code).toBe('IM_TOKEN_EXPIRED');
    // A token naming app B but signed with app A's secret.
    const forged = await mintToken(b.appId, a.secret, 'eve', 60);
    const c2 = await RawClient.ws(platform.wsUrl);
    expect((await c2.auth(forged.token, 'd')).error!.code).toBe('IM_TOKEN_INVALID');
    const c3 = await RawClient.ws(platform.wsUrl);
    expect((await c3.auth('not.a.jwt', 'd')).error!.code).toBe('IM_TOKEN_INVALID');
    // An unknown AppId answers like a bad signature: whether an app exists is not revealed.
    const ghost = await mintToken('no-such-app', 'secret', 'eve', 60);
    const c4 = await RawClient.ws(platform.wsUrl);
    expect((await c4.auth(ghost.token, 'd')).error!.code).toBe('IM_TOKEN_INVALID');
    for (const c of [c1, c2, c3, c4]) await c.closed();
  });

  it('never lets a user of app A read or write app B, even with the same user ids', async () => {
    const a = await platform.createApp();
    const b = await platform.createApp();
    const conv = singleConversation('alice', 'bob');
    const aliceB = await online(b.appId, 'alice');
    await aliceB.request({ send: { clientMsgId: 'secret-1', to: 'bob', body: text('app B secret') } });

    const aliceA = await online(a.appId, 'alice');
    const history = await aliceA.request({ history: { conversation: conv } });
    expect(history.historyResult!.messages).toHaveLength(0);
    const sync = await aliceA.request({ sync: { cursors: [] } });
    expect(sync.syncPage!.conversations).toHaveLength(0);
    const pull = await aliceA.request({ pull: { conversation: conv, fromSeq: 1, toSeq: 5 } });
    expect(pull.pullResult!.messages).toHaveLength(0);
    // Someone else's conversation in the same app is refused outright.
    const other = await aliceA.request({ history: { conversation: singleConversation('bob', 'carol') } });
    expect(other.error!.code).toBe('IM_FORBIDDEN');
    const read = await aliceA.request({ read: { conversation: singleConversation('bob', 'carol'), seq: 1 } });
    expect(read.error!.code).toBe('IM_FORBIDDEN');
    // A send in app A does not land in app B's conversation.
    await aliceA.request({ send: { clientMsgId: 'secret-1', to: 'bob', body: text('app A') } });
    const bHistory = await aliceB.request({ history: { conversation: conv } });
    expect(bHistory.historyResult!.messages!.map((m) => new TextDecoder().decode(m.body!))).toEqual(['app B secret']);
    aliceA.close();
    aliceB.close();
  });

  it('revokes all tokens of a user: live connections are kicked and the old token is refused', async () => {
    const { appId } = await platform.createApp();
    const token = await platform.token(appId, 'rex');
    const c = await RawClient.ws(platform.wsUrl);
    expect((await c.auth(token, 'rex-1')).body).toBe('authOk');
    const res = await fetch(`${platform.httpUrl}/v1/apps/${appId}/revocations`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'rex' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ revoked: true, kicked: 1 });
    expect((await c.nextOf('kick')).kick!.reason).toBe(imcloud.v1.KickReason.KICK_REASON_TOKEN_REVOKED);
    await c.closed();
    const again = await RawClient.ws(platform.wsUrl);
    expect((await again.auth(token, 'rex-1')).error!.code).toBe('IM_TOKEN_REVOKED');
    // A token minted after the revocation works.
    const fresh = await RawClient.ws(platform.wsUrl);
    expect((await fresh.auth(await platform.token(appId, 'rex'), 'rex-1')).body).toBe('authOk');
    fresh.close();
  });
});

describe('multi-login policies', () => {
  /** `sender` sends `to` a message; each of `devices` gets its push (so none of them was displaced). */
  async function stillReaches(sender: RawClient, to: string, devices: RawClient[], label: string): Promise<void> {
    const reply = await sender.request({ send: { clientMsgId: `check-${label}`, to, body: text(label) } });
    expect(reply.body, JSON.stringify(reply.error)).toBe('sendAck');
    for (const d of devices) await d.next((f) => f.body === 'push' && f.push!.messages!.some((m) => m.clientMsgId === `check-${label}`));
  }

  it('single: a new login kicks every other device', async () => {
    const { appId } = await platform.createApp('single');
    const web = await online(appId, 'sue', 'sue-web', Platform.PLATFORM_WEB);
    const phone = await online(appId, 'sue', 'sue-phone', Platform.PLATFORM_IOS);
    const kick = await web.nextOf('kick');
    expect(kick.kick).toMatchObject({
      reason: imcloud.v1.KickReason.KICK_REASON_LOGIN_ELSEWHERE,
      byDevice: 'sue-phone',
      byPlatform: Platform.PLATFORM_IOS,
    });
    await web.closed();
    expect(phone.isClosed).toBe(false);
    phone.close();
  });

  it('per-platform: one device per platform', async () => {
    const { appId } = await platform.createApp('per-platform');
    const web1 = await online(appId, 'pat', 'pat-web-1', Platform.PLATFORM_WEB);
    const ios = await online(appId, 'pat', 'pat-ios', Platform.PLATFORM_IOS);
    // A displaced device is kicked and dropped from the routes before the new sign-in is
    // answered: a message sent now reaches exactly the devices that stay.
    const sender = await online(appId, 'sender');
    await stillReaches(sender, 'pat', [web1, ios], 'after-ios');
    expect(web1.all.some((f) => f.body === 'kick')).toBe(false);
    const web2 = await online(appId, 'pat', 'pat-web-2', Platform.PLATFORM_WEB);
    expect((await web1.nextOf('kick')).kick!.byDevice).toBe('pat-web-2');
    await web1.closed();
    await stillReaches(sender, 'pat', [ios, web2], 'after-web2');
    expect(ios.isClosed).toBe(false);
    expect(web2.isClosed).toBe(false);
    ios.close();
    web2.close();
    sender.close();
  });

  it('all: every device stays, but the same device logging in again replaces its old connection', async () => {
    const { appId } = await platform.createApp('all');
    const one = await online(appId, 'al', 'al-1');
    const two = await online(appId, 'al', 'al-2');
    const sender = await online(appId, 'sender');
    await stillReaches(sender, 'al', [one, two], 'after-two');
    expect(one.all.some((f) => f.body === 'kick')).toBe(false);
    const oneAgain = await online(appId, 'al', 'al-1');
    expect((await one.nextOf('kick')).kick!.reason).toBe(imcloud.v1.KickReason.KICK_REASON_LOGIN_ELSEWHERE);
    await stillReaches(sender, 'al', [two, oneAgain], 'after-one-again');
    expect(two.isClosed).toBe(false);
    two.close();
    oneAgain.close();
    sender.close();
  });
});

describe('HTTP APIs', () => {
  const admin = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };

  it('creates an app, mints tokens with the app secret, and refuses wrong credentials', async () => {
    const created = await fetch(`${platform.httpUrl}/v1/apps`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ appId: 'acme-chat', multiLogin: 'single' }),
    });
    expect(created.status).toBe(201);
    const app = (await created.json()) as { appId: string; secret: string; multiLogin: string };
    expect(app).toMatchObject({ appId: 'acme-chat', multiLogin: 'single' });
    expect(app.secret.length).toBeGreaterThan(20);

    const conflict = await fetch(`${platform.httpUrl}/v1/apps`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ appId: 'acme-chat' }),
    });
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { error: { code: string } }).error.code).toBe('IM_ADMIN_CONFLICT');

    const basic = {
      authorization: `Basic ${Buffer.from(`acme-chat:${app.secret}`).toString('base64')}`,
      'content-type': 'application/json',
    };
    const minted = await fetch(`${platform.httpUrl}/v1/apps/acme-chat/tokens`, {
      method: 'POST',
      headers: basic,
      body: JSON.stringify({ userId: 'zoe', ttlSec: 60 }),
    });
    expect(minted.status).toBe(201);
    const { token } = (await minted.json()) as { token: string };
    const c = await RawClient.ws(platform.wsUrl);
    expect((await c.auth(token, 'zoe-1')).authOk).toMatchObject({ appId: 'acme-chat', userId: 'zoe' });
    c.close();

    const wrong = { authorization: `Basic ${Buffer.from('acme-chat:nope').toString('base64')}` };
    expect((await fetch(`${platform.httpUrl}/v1/apps/acme-chat`, { headers: wrong })).status).toBe(401);
    const other = await platform.createApp();
    const cross = await fetch(`${platform.httpUrl}/v1/apps/${other.appId}/tokens`, {
      method: 'POST',
      headers: basic,
      body: JSON.stringify({ userId: 'zoe' }),
    });
    expect(cross.status).toBe(403);
    const invalid = await fetch(`${platform.httpUrl}/v1/apps/acme-chat/tokens`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ userId: 'no:colons' }),
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('IM_ADMIN_INVALID');
    const listed = await fetch(`${platform.httpUrl}/v1/apps`, { headers: admin });
    expect(JSON.stringify(await listed.json())).not.toContain(app.secret);

    const patched = await fetch(`${platform.httpUrl}/v1/apps/acme-chat`, {
      method: 'PATCH',
      headers: basic,
      body: JSON.stringify({ multiLogin: 'per-platform' }),
    });
    expect(((await patched.json()) as { multiLogin: string }).multiLogin).toBe('per-platform');
  });

  it("lets only the platform set an app's limits, and the gates hold the app to its frame rate across connections", async () => {
    const created = await fetch(`${platform.httpUrl}/v1/apps`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ appId: 'small-app', limits: { framesPerSec: 20 } }),
    });
    const app = (await created.json()) as { secret: string; limits: unknown };
    expect(app.limits).toEqual({ framesPerSec: 20 });
    const basic = {
      authorization: `Basic ${Buffer.from(`small-app:${app.secret}`).toString('base64')}`,
      'content-type': 'application/json',
    };
    const raise = await fetch(`${platform.httpUrl}/v1/apps/small-app`, {
      method: 'PATCH',
      headers: basic,
      body: JSON.stringify({ limits: { framesPerSec: 1_000_000 } }),
    });
    expect(raise.status).toBe(403);
    expect(((await raise.json()) as { error: { code: string } }).error.code).toBe('IM_ADMIN_FORBIDDEN');
    const byPlatform = await fetch(`${platform.httpUrl}/v1/apps/small-app`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ limits: { framesPerSec: 20, connectionsPerUser: 4 } }),
    });
    expect(((await byPlatform.json()) as { limits: unknown }).limits).toEqual({ framesPerSec: 20, connectionsPerUser: 4 });
    // Three connections, each well within its own limit, together over the app's 20 frames/s.
    const clients = await Promise.all(['u1', 'u2', 'u3'].map((u) => online('small-app', u)));
    for (let i = 0; i < 15; i++)
      for (const [k, c] of clients.entries()) c.send({ send: { clientMsgId: `m${k}-${i}`, to: 'u9', body: text('x') } });
    const limited = await clients[2]!.next((f) => f.body === 'error' && f.error!.code === 'IM_APP_RATE_LIMITED');
    expect(limited.error!.retryAfterMs).toBeGreaterThan(0);
    for (const c of clients) c.close();
  });

  it('dispatch answers with a gate that serves the AppId, heartbeat and backoff hints', async () => {
    const { appId } = await platform.createApp();
    const res = await fetch(`${platform.httpUrl}/v1/dispatch?appId=${appId}&userId=alice`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      gates: Array<{ ws: string }>;
      heartbeatIntervalMs: number;
      reconnect: { baseMs: number; maxMs: number };
    };
    expect(body.gates[0]!.ws).toBe(platform.wsUrl);
    expect(body.heartbeatIntervalMs).toBeGreaterThan(0);
    expect(body.reconnect.maxMs).toBeGreaterThan(body.reconnect.baseMs);
    const bad = await fetch(`${platform.httpUrl}/v1/dispatch?appId=NOT_VALID`);
    expect(bad.status).toBe(400);
  });

  it('serves health, readiness and metrics with error codes counted', async () => {
    const chat = await bystanders();
    await chat.stillChat('metrics');
    chat.close();
    const garbage = await RawClient.ws(platform.wsUrl);
    garbage.sendBytes(new Uint8Array([1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]));
    expect((await garbage.nextOf('error')).error!.code).toBe('IM_FRAME_MALFORMED');
    await garbage.closed();
    expect((await fetch(`${platform.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${platform.httpUrl}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${platform.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/imcloud_logic_sends_total\{app_id="[^"]+"\} \d+/);
    expect(metrics).toContain('imcloud_errors_total{code="IM_FRAME_MALFORMED",role="gate"}');
    expect(metrics).toContain('imcloud_gate_push_latency_seconds_bucket');
    // every step of the accept path was timed for the sends made so far
    for (const stage of ['bus_in', 'claim', 'allocate', 'window', 'store_confirm', 'complete']) {
      expect(metrics).toMatch(new RegExp(`imcloud_logic_send_stage_seconds_count\\{stage="${stage}"\\} [1-9]`));
    }
    const missing = await fetch(`${platform.httpUrl}/v1/nothing-here`);
    expect(missing.status).toBe(404);
  });
});
