// Send from the app's backend (docs/adr/0035-server-side-send.md): the admin API's messages take
// a client's path through logic, so SDK users get them, online or by sync, once, in order; a
// system message is marked so, and only the backend can send one.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_SENDER, singleConversation } from '../../protocol/conversation-id.js';
import type { ImClient } from '../../sdk/src/index.js';
import { RawClient } from '../support/raw-client.js';
import { admin, client, inConversation, type Platform, type Probe, startPlatform, until } from './sdk-fixture.js';

const MAX_BODY = 2048;
let platform: Platform;
const clients: ImClient[] = [];

beforeAll(async () => {
  platform = await startPlatform({ maxBodyBytes: MAX_BODY });
});
afterAll(async () => {
  await platform?.runtime.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

interface Tenant {
  appId: string;
  secret: string;
}
interface Answer {
  status: number;
  retryAfter: string | null;
  json: Record<string, unknown> & { error?: { code: string } };
}

let tenants = 0;
async function tenant(at = platform): Promise<Tenant> {
  return (await admin(at, 'POST', '/v1/apps', { appId: `send-${++tenants}` })) as unknown as Tenant;
}

const basic = (t: Tenant, secret = t.secret) => `Basic ${Buffer.from(`${t.appId}:${secret}`).toString('base64')}`;

/** A POST to the app's messages API with its secret (or other credentials); the raw body when given a string. */
async function post(t: Tenant, path: string, body: unknown, authorization = basic(t), at = platform): Promise<Answer> {
  const res = await fetch(`${at.base}/v1/apps/${t.appId}/messages${path}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as Answer['json'] };
}

function user(t: Tenant, userId: string, connect = true): Promise<Probe> {
  return client(platform, t.appId, userId, {}, connect, (c) => clients.push(c));
}

describe('send from the backend over HTTP', () => {
  it('as a user and as the system to an online and an offline user: one ack, dedupe by clientMsgId, system marked only on the system one', async () => {
    const t = await tenant();
    const bob = await user(t, 'bob');
    const asAlice = { from: 'alice', to: 'bob', body: 'hi from the backend', clientMsgId: 'm-1' };
    const first = await post(t, '', asAlice);
    expect(first).toMatchObject({ status: 200, json: { conversation: singleConversation('alice', 'bob'), seq: 1, duplicate: false } });
    const retry = await post(t, '', asAlice);
    expect(retry.json).toEqual({ ...first.json, duplicate: true });

    const notice = { system: true, to: 'bob', body: Buffer.from('maintenance at 3').toString('base64'), encoding: 'base64' };
    const sys = await post(t, '', { ...notice, clientMsgId: 'n-1' });
    expect(sys).toMatchObject({ status: 200, json: { conversation: singleConversation(SYSTEM_SENDER, 'bob'), seq: 1 } });
    // clientMsgId is unique per sender, and the system sender is one sender of the app: a reused
    // one is a retry of the first, whoever it names.
    const reused = await post(t, '', { ...notice, to: 'carol', clientMsgId: 'n-1' });
    expect(reused.json).toEqual({ ...sys.json, duplicate: true });
    const toCarol = await post(t, '', { ...notice, to: 'carol', contentType: 'notice', clientMsgId: 'n-2' });
    expect(toCarol.json).toMatchObject({ conversation: singleConversation(SYSTEM_SENDER, 'carol'), seq: 1, duplicate: false });

    await until('both arrive', () => bob.messages.length >= 2);
    const fromAlice = inConversation(bob, singleConversation('alice', 'bob'));
    expect(fromAlice).toHaveLength(1);
    expect(fromAlice[0]).toMatchObject({ sender: 'alice', senderDevice: 'admin', text: 'hi from the backend' });
    expect(fromAlice[0]!.system).toBeUndefined();
    expect(inConversation(bob, sys.json.conversation as string)).toMatchObject([
      { sender: SYSTEM_SENDER, system: true, text: 'maintenance at 3', seq: 1 },
    ]);

    // carol was offline: she finds it when she syncs.
    const carol = await user(t, 'carol');
    await until('carol syncs it', () => carol.messages.length >= 1);
    expect(carol.messages).toMatchObject([{ sender: SYSTEM_SENDER, system: true, contentType: 'notice', seq: 1 }]);
    expect(new TextDecoder().decode(carol.messages[0]!.body)).toBe('maintenance at 3');
    // Retried sends were answered from dedupe: nothing arrived twice.
    expect(bob.messages).toHaveLength(2);
  });

  it('a batch sends one body to many users, each with its own ack; a retried batch is answered from dedupe', async () => {
    const t = await tenant();
    const online = [await user(t, 'u1'), await user(t, 'u2')];
    const to = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const batch = { system: true, to, body: 'release 2.0 is out', clientMsgId: 'release-2' };
    const first = await post(t, '/batch', batch);
    expect(first.status).toBe(200);
    const results = first.json.results as Array<Record<string, unknown>>;
    expect(results.map((r) => [r.to, r.conversation, r.seq, r.duplicate])).toEqual(
      to.map((u) => [u, singleConversation(SYSTEM_SENDER, u), 1, false]),
    );
    expect(new Set(results.map((r) => r.clientMsgId)).size).toBe(to.length);
    const again = (await post(t, '/batch', batch)).json.results as Array<Record<string, unknown>>;
    expect(again).toEqual(results.map((r) => ({ ...r, duplicate: true })));
    for (const p of online) await until('the notice arrives', () => p.messages.length >= 1);
    const late = await user(t, 'u5');
    await until('u5 syncs it', () => late.messages.length >= 1);
    for (const p of [...online, late]) expect(p.messages).toMatchObject([{ system: true, text: 'release 2.0 is out' }]);
    const tooMany = await post(t, '/batch', { ...batch, to: Array.from({ length: 501 }, (_, i) => `u${i}`) });
    expect(tooMany).toMatchObject({ status: 400, json: { error: { code: 'IM_ADMIN_INVALID' } } });
  });

  it('to a group: as a member, or as the system without being one; a non-member user is refused', async () => {
    const t = await tenant();
    const [alice, bob] = [await user(t, 'alice'), await user(t, 'bob')];
    const create = await fetch(`${platform.base}/v1/apps/${t.appId}/groups`, {
      method: 'POST',
      headers: { authorization: basic(t), 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: 'team', name: 'Team', owner: 'alice', members: ['bob'] }),
    });
    expect(create.status).toBe(201);
    const asBob = await post(t, '', { from: 'bob', group: 'team', body: 'hello team', clientMsgId: 'g-1' });
    expect(asBob.json).toMatchObject({ conversation: 'g:team', seq: 2 });
    const sys = await post(t, '', { system: true, group: 'team', body: 'welcome, team', clientMsgId: 'g-2' });
    expect(sys.json).toMatchObject({ conversation: 'g:team', seq: 3 });
    for (const p of [alice, bob]) await until('both arrive', () => inConversation(p, 'g:team').some((m) => m.seq === 3));
    const seen = inConversation(alice, 'g:team').filter((m) => m.kind === 'normal');
    expect(seen.map((m) => [m.seq, m.sender, m.system ?? false, m.text])).toEqual([
      [2, 'bob', false, 'hello team'],
      [3, SYSTEM_SENDER, true, 'welcome, team'],
    ]);
    const stranger = await post(t, '', { from: 'mallory', group: 'team', body: 'let me in', clientMsgId: 'g-3' });
    expect(stranger).toMatchObject({ status: 403, json: { error: { code: 'IM_GROUP_NOT_MEMBER' } } });
    const nowhere = await post(t, '', { system: true, group: 'nope', body: 'x', clientMsgId: 'g-4' });
    expect(nowhere).toMatchObject({ status: 404, json: { error: { code: 'IM_GROUP_NOT_FOUND' } } });
    // The system sender is nobody's fellow member: the group routes refuse it as owner or member.
    for (const [path, body] of [
      ['', { groupId: 'sys', name: 'Sys', owner: SYSTEM_SENDER }],
      ['/team/members', { userIds: [SYSTEM_SENDER] }],
    ] as const) {
      const res = await fetch(`${platform.base}/v1/apps/${t.appId}/groups${path}`, {
        method: 'POST',
        headers: { authorization: basic(t), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, path).toBe(400);
    }
  });

  it('to a group in read diffusion: members online and one who syncs later all get it marked system', async () => {
    const t = await tenant();
    await admin(platform, 'PATCH', `/v1/apps/${t.appId}`, { limits: { groupWriteDiffusionMax: 1 } });
    const alice = await user(t, 'alice');
    const create = await fetch(`${platform.base}/v1/apps/${t.appId}/groups`, {
      method: 'POST',
      headers: { authorization: basic(t), 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: 'big', name: 'Big', owner: 'alice', members: ['bob', 'carol'] }),
    });
    expect(create.status).toBe(201);
    await expect(platform.runtime.backends.groups.get(t.appId, 'big')).resolves.toMatchObject({ diffusion: 'read' });
    const sys = await post(t, '', { system: true, group: 'big', body: 'read me', clientMsgId: 'rd-1' });
    expect(sys.json).toMatchObject({ conversation: 'g:big', seq: 2 });
    const bob = await user(t, 'bob');
    for (const p of [alice, bob]) await until('it arrives', () => inConversation(p, 'g:big').some((m) => m.seq === 2));
    for (const p of [alice, bob])
      expect(inConversation(p, 'g:big').find((m) => m.seq === 2)).toMatchObject({ sender: SYSTEM_SENDER, system: true, text: 'read me' });
  });

  it('refuses wrong credentials, another app, bad input and a body over the limit with catalog codes', async () => {
    const [t, other] = [await tenant(), await tenant()];
    const ok = { from: 'alice', to: 'bob', body: 'x', clientMsgId: 'c-1' };
    expect(await post(t, '', ok, basic(t, 'wrong-secret'))).toMatchObject({
      status: 401,
      json: { error: { code: 'IM_ADMIN_UNAUTHORIZED' } },
    });
    expect(await post(t, '', ok, basic(other))).toMatchObject({ status: 403, json: { error: { code: 'IM_ADMIN_FORBIDDEN' } } });
    const big = await post(t, '', { ...ok, body: 'x'.repeat(MAX_BODY + 1) });
    expect(big).toMatchObject({ status: 413, json: { error: { code: 'IM_BODY_TOO_LARGE' } } });
    expect((await post(t, '', '{"from":')).status).toBe(400);
    for (const bad of [
      { ...ok, system: true },
      { to: 'bob', body: 'x', clientMsgId: 'c-2' },
      { ...ok, group: 'team' },
      { ...ok, to: SYSTEM_SENDER },
      { ...ok, from: SYSTEM_SENDER },
      { ...ok, body: '***', encoding: 'base64' },
      { ...ok, clientMsgId: 'has space' },
      { ...ok, extra: 1 },
    ])
      expect(await post(t, '', bad), JSON.stringify(bad)).toMatchObject({ status: 400, json: { error: { code: 'IM_ADMIN_INVALID' } } });
    // The platform admin token acts on any app.
    const byPlatform = await post(t, '', ok, `Bearer ${platform.runtime.adminToken}`);
    expect(byPlatform).toMatchObject({ status: 200, json: { seq: 1 } });
  });

  it('a client cannot send a system message or sign in as the system sender; its reply to the system sender is an ordinary message of their conversation', async () => {
    const t = await tenant();
    const mallory = await RawClient.ws(`${platform.base.replace('http', 'ws')}/ws`);
    const tok = (await admin(platform, 'POST', `/v1/apps/${t.appId}/tokens`, { userId: 'mallory' })).token as string;
    expect((await mallory.auth(tok, 'm-d1')).body).toBe('authOk');
    const body = new TextEncoder().encode('I am the system');
    const claims = await mallory.request({ send: { clientMsgId: 'fake-1', to: 'bob', body, system: true } });
    expect(claims.error).toMatchObject({ code: 'IM_SYSTEM_SENDER_RESERVED', fatal: false });
    // A reply to the app: stored in mallory's conversation with the system sender, not marked system.
    const reply = await mallory.request({ send: { clientMsgId: 'reply-1', to: SYSTEM_SENDER, body } });
    expect(reply.sendAck).toMatchObject({ conversation: `s:${SYSTEM_SENDER}:mallory`, seq: 1 });
    const thread = await mallory.request({ history: { conversation: `s:${SYSTEM_SENDER}:mallory`, limit: 10 } });
    expect(thread.historyResult!.messages!.map((m) => [m.sender, m.system])).toEqual([['mallory', false]]);
    const withSystem = await mallory.request({ groupCreate: { clientMsgId: 'fake-3', groupId: 'g', name: 'G', members: [SYSTEM_SENDER] } });
    expect(withSystem.error).toMatchObject({ code: 'IM_SYSTEM_SENDER_RESERVED' });
    // Nor can it sign in as the system sender: tokens are not minted for it.
    const mint = await fetch(`${platform.base}/v1/apps/${t.appId}/tokens`, {
      method: 'POST',
      headers: { authorization: basic(t), 'content-type': 'application/json' },
      body: JSON.stringify({ userId: SYSTEM_SENDER }),
    });
    expect(mint.status).toBe(400);
    // The connection still works: refusals are not fatal.
    expect((await mallory.request({ send: { clientMsgId: 'real-1', to: 'bob', body } })).body).toBe('sendAck');
    mallory.close();
  });
});

describe("the app's rate limit", () => {
  let slow: Platform;
  beforeAll(async () => {
    slow = await startPlatform({ appRateLimitPerSec: 2 });
  });
  afterAll(async () => {
    await slow?.runtime.stop();
  });

  it('answers 429 with Retry-After once the app is over its rate', async () => {
    const t = await tenant(slow);
    const answers: Answer[] = [];
    for (let i = 0; i < 20 && !answers.some((a) => a.status === 429); i++)
      answers.push(await post(t, '', { from: 'alice', to: 'bob', body: `n${i}`, clientMsgId: `r-${i}` }, basic(t), slow));
    const refused = answers.find((a) => a.status === 429);
    expect(refused).toMatchObject({ json: { error: { code: 'IM_APP_RATE_LIMITED' } } });
    expect(Number(refused!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 200)).toBe(true);
  });
});
