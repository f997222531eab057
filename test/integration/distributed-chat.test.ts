// Every role as its own OS process (2 gates, 2 logic, 2 consumers, dispatch, admin) on real
// Redis, RabbitMQ and FerretDB, with users spread over both gates using every feature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_SENDER, singleConversation } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import { type BackendEnv, type Cluster, startCluster } from '../support/cluster.js';
import { RawClient } from '../support/raw-client.js';
import { testLogDir } from '../support/test-log-dir.js';
import { requireEnv } from './real-clients.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());

const logDir = testLogDir('dist-test');
let cluster: Cluster;
let gateUrls: string[];

beforeAll(async () => {
  const backend: BackendEnv = {
    IMCLOUD_REDIS_URL: requireEnv('IMCLOUD_REDIS_URL'),
    IMCLOUD_RABBITMQ_URL: requireEnv('IMCLOUD_RABBITMQ_URL'),
    IMCLOUD_MONGODB_URL: requireEnv('IMCLOUD_MONGODB_URL'),
    IMCLOUD_MONGODB_DATABASE: `dist_${Date.now()}`,
  };
  // The recall window keeps its default (2 min): the recall test sends 60 messages between the
  // message and its recall, which a busy machine can stretch past any short window.
  cluster = await startCluster(backend, logDir);
  gateUrls = cluster.byRole('gate').map((g) => `ws://127.0.0.1:${g.httpPort}/ws`);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

async function admin(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') {
  const res = await fetch(`${cluster.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function newApp(multiLogin = 'all'): Promise<string> {
  const { status, json } = await admin('/v1/apps', { multiLogin });
  expect(status).toBe(201);
  return json.appId as string;
}

async function online(
  appId: string,
  userId: string,
  gate: 0 | 1,
  deviceId = `${userId}-g${gate}`,
  platform = imcloud.v1.Platform.PLATFORM_WEB,
) {
  const { json } = await admin(`/v1/apps/${appId}/tokens`, { userId });
  const client = await RawClient.ws(gateUrls[gate]!);
  const ok = await client.auth(json.token as string, deviceId, platform);
  expect(ok.body, JSON.stringify(ok.error)).toBe('authOk');
  return client;
}

async function send(client: RawClient, to: string, body: string, clientMsgId = `m-${Math.random().toString(36).slice(2)}`) {
  const reply = await client.request({ send: { clientMsgId, to, contentType: 'text', body: text(body) } }, 10_000);
  expect(reply.body, JSON.stringify(reply.error)).toBe('sendAck');
  return reply.sendAck!;
}

async function historyOf(client: RawClient, conversation: string): Promise<imcloud.v1.IMessage[]> {
  const out: imcloud.v1.IMessage[] = [];
  let from = 1;
  for (;;) {
    const page = await client.request({ history: { conversation, fromSeq: from, limit: 50 } });
    out.push(...page.historyResult!.messages!);
    if (!page.historyResult!.hasMore) return out;
    from = Number(out[out.length - 1]!.seq) + 1;
  }
}

describe('distributed: roles as processes on real servers', () => {
  it('dispatch hands out both gates, least-loaded first', async () => {
    const appId = await newApp();
    const res = await fetch(`${cluster.dispatchUrl}?appId=${appId}&userId=alice`);
    const body = (await res.json()) as { gates: Array<{ ws: string }> };
    expect(body.gates.map((g) => g.ws).sort()).toEqual([...gateUrls].sort());
  });

  it('chats across gates with acks, pushes, delivery and read notices', async () => {
    const appId = await newApp();
    const alice = await online(appId, 'alice', 0);
    const bob = await online(appId, 'bob', 1);
    const conv = singleConversation('alice', 'bob');
    const ack = await send(alice, 'bob', 'across gates');
    const push = await bob.nextOf('push', 10_000);
    expect(push.push!.messages![0]).toMatchObject({ msgId: ack.msgId, sender: 'alice' });
    bob.send({ pushAck: { cursors: [{ conversation: conv, seq: ack.seq }] } });
    expect((await alice.nextOf('deliveryNotice', 10_000)).deliveryNotice).toMatchObject({ user: 'bob', seq: Number(ack.seq) });
    const read = await bob.request({ read: { conversation: conv, seq: 99 } });
    expect(read.readAck).toMatchObject({ readSeq: 1, unread: 0 });
    expect((await alice.nextOf('readNotice', 10_000)).readNotice).toMatchObject({ user: 'bob', seq: 1 });
    alice.close();
    bob.close();
  });

  it('stores for offline users, who sync on the other gate in order; retries are stored once', async () => {
    const appId = await newApp();
    const alice = await online(appId, 'alice', 0);
    for (let i = 1; i <= 6; i++) await send(alice, 'carol', `o${i}`, `o-${i}`);
    const again = await send(alice, 'carol', 'o3', 'o-3');
    expect(again.duplicate).toBe(true);
    expect(Number(again.seq)).toBe(3);
    const carol = await online(appId, 'carol', 1);
    const page = await carol.request({ sync: { cursors: [] } });
    expect(page.syncPage!.messages!.map((m) => str(m.body))).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'o6']);
    const conv = singleConversation('alice', 'carol');
    await expect.poll(async () => (await historyOf(carol, conv)).length, { timeout: 15_000 }).toBe(6);
    alice.close();
    carol.close();
  });

  it('gives racing senders on different gates, and all their devices, one order', async () => {
    const appId = await newApp();
    const devices = [
      await online(appId, 'ann', 0, 'ann-a'),
      await online(appId, 'ann', 1, 'ann-b'),
      await online(appId, 'ben', 1, 'ben-a'),
      await online(appId, 'ben', 0, 'ben-b'),
    ];
    const conv = singleConversation('ann', 'ben');
    const n = 25;
    const acks = await Promise.all([
      ...Array.from({ length: n }, (_, i) => send(devices[0]!, 'ben', `a${i}`, `ann-${i}`)),
      ...Array.from({ length: n }, (_, i) => send(devices[2]!, 'ann', `b${i}`, `ben-${i}`)),
    ]);
    const truth = new Map(acks.map((a) => [Number(a.seq), a.clientMsgId]));
    expect([...truth.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
    for (const d of devices) {
      const expected = d === devices[0] || d === devices[2] ? n : 2 * n;
      await expect.poll(() => d.pushed(conv).length, { timeout: 15_000 }).toBe(expected);
      for (const m of d.pushed(conv)) expect(truth.get(Number(m.seq))).toBe(m.clientMsgId);
    }
    for (const d of devices) d.close();
  });

  it('resyncs a dropped connection on the other gate with no loss and no duplicates', async () => {
    const appId = await newApp();
    const alice = await online(appId, 'alice', 0);
    let bob = await online(appId, 'bob', 0);
    const conv = singleConversation('alice', 'bob');
    for (let i = 1; i <= 4; i++) await send(alice, 'bob', `r${i}`);
    await expect.poll(() => bob.pushed(conv).length, { timeout: 10_000 }).toBe(4);
    bob.close();
    await bob.closed();
    for (let i = 5; i <= 8; i++) await send(alice, 'bob', `r${i}`);
    bob = await online(appId, 'bob', 1);
    const page = await bob.request({ sync: { cursors: [{ conversation: conv, seq: 4 }] } });
    expect(page.syncPage!.messages!.map((m) => str(m.body))).toEqual(['r5', 'r6', 'r7', 'r8']);
    alice.close();
    bob.close();
  });

  it('applies the single-login policy across gates', async () => {
    const appId = await newApp('single');
    const first = await online(appId, 'sue', 0, 'sue-web');
    const second = await online(appId, 'sue', 1, 'sue-phone', imcloud.v1.Platform.PLATFORM_IOS);
    expect((await first.nextOf('kick', 10_000)).kick!.byDevice).toBe('sue-phone');
    await first.closed();
    expect(second.isClosed).toBe(false);
    second.close();
  });

  it('recalls across gates and pages history from the store', async () => {
    const appId = await newApp();
    const alice = await online(appId, 'alice', 1);
    const bob = await online(appId, 'bob', 0);
    const conv = singleConversation('alice', 'bob');
    const target = await send(alice, 'bob', 'regret');
    for (let i = 0; i < 60; i++) await send(alice, 'bob', `h${i}`);
    const recall = await alice.request({ recall: { clientMsgId: 'rc', conversation: conv, seq: target.seq } });
    expect(recall.body).toBe('sendAck');
    await expect
      .poll(() => bob.pushed(conv).some((m) => m.kind === imcloud.v1.MessageKind.MESSAGE_KIND_RECALL), { timeout: 10_000 })
      .toBe(true);
    await expect.poll(async () => (await historyOf(bob, conv)).length, { timeout: 15_000 }).toBe(62);
    const history = await historyOf(bob, conv);
    expect(history.map((m) => Number(m.seq))).toEqual(Array.from({ length: 62 }, (_, i) => i + 1));
    expect(history[0]).toMatchObject({ recalled: true });
    expect(history[0]!.body?.length ?? 0).toBe(0);
    alice.close();
    bob.close();
  });

  it('revokes a user through the admin process and kicks them on every gate', async () => {
    const appId = await newApp();
    const a = await online(appId, 'rex', 0, 'rex-1');
    const b = await online(appId, 'rex', 1, 'rex-2');
    const { json } = await admin(`/v1/apps/${appId}/revocations`, { userId: 'rex' });
    expect(json).toMatchObject({ revoked: true, kicked: 2 });
    for (const c of [a, b]) expect((await c.nextOf('kick', 10_000)).kick!.reason).toBe(imcloud.v1.KickReason.KICK_REASON_TOKEN_REVOKED);
  });

  it('keeps tenants apart across processes', async () => {
    const appA = await newApp();
    const appB = await newApp();
    const inB = await online(appB, 'alice', 0);
    await send(inB, 'bob', 'B only');
    const inA = await online(appA, 'alice', 1);
    const history = await inA.request({ history: { conversation: singleConversation('alice', 'bob') } });
    expect(history.historyResult!.messages).toHaveLength(0);
    const forbidden = await inA.request({ pull: { conversation: singleConversation('bob', 'carol'), fromSeq: 1, toSeq: 2 } });
    expect(forbidden.error!.code).toBe('IM_FORBIDDEN');
    inA.close();
    inB.close();
  });

  it('speaks TCP on the second gate too', async () => {
    const appId = await newApp();
    const gate2 = cluster.byRole('gate')[1]!;
    const { json } = await admin(`/v1/apps/${appId}/tokens`, { userId: 'tia' });
    const tcp = await RawClient.tcp(gate2.tcpPort);
    expect((await tcp.auth(json.token as string, 'tia-tcp')).body).toBe('authOk');
    const bob = await online(appId, 'bob', 0);
    await send(tcp, 'bob', 'via tcp');
    expect(str((await bob.nextOf('push', 10_000)).push!.messages![0]!.body)).toBe('via tcp');
    tcp.close();
    bob.close();
  });

  it('groups across gates: one order for every member, joiners read from their event, the admin API changes them through logic', async () => {
    const appId = await newApp();
    const [owner, m1, m2] = [await online(appId, 'gia', 0), await online(appId, 'hal', 1), await online(appId, 'ivy', 0)];
    const created = await owner.request(
      { groupCreate: { clientMsgId: 'g-create', groupId: 'crew', name: 'Crew', members: ['hal', 'ivy'] } },
      10_000,
    );
    expect(created.sendAck, JSON.stringify(created.error)).toMatchObject({ conversation: 'g:crew', seq: 1 });
    const sends = await Promise.all(
      [owner, m1, m2].flatMap((c, i) =>
        [1, 2, 3].map((n) =>
          c.request({ send: { clientMsgId: `gs-${i}-${n}`, groupId: 'crew', contentType: 'text', body: text(`${i}.${n}`) } }, 10_000),
        ),
      ),
    );
    expect(sends.every((r) => r.body === 'sendAck')).toBe(true);
    const seqs = (c: RawClient) => historyOf(c, 'g:crew').then((ms) => ms.map((m) => [Number(m.seq), m.msgId]));
    await expect.poll(async () => (await seqs(m1)).length, { timeout: 15_000 }).toBe(10);
    expect(await seqs(m2)).toEqual(await seqs(m1));
    expect(await seqs(owner)).toEqual(await seqs(m1));

    // The tenant's backend adds a member through the admin process; logic records the event.
    const added = await admin(`/v1/apps/${appId}/groups/crew/members`, { userIds: ['jo'] });
    expect(added.json, JSON.stringify(added.json)).toMatchObject({ conversation: 'g:crew', seq: 11 });
    const jo = await online(appId, 'jo', 1);
    const synced = await jo.request({ sync: { cursors: [] } });
    expect(synced.syncPage!.messages!.map((m) => Number(m.seq))).toEqual([11]);
    expect(synced.syncPage!.conversations!.find((c) => c.conversation === 'g:crew')).toMatchObject({ maxSeq: 11, minSeq: 11 });
    const early = await jo.request({ pull: { conversation: 'g:crew', fromSeq: 1, toSeq: 11 } });
    expect(early.pullResult).toMatchObject({ minSeq: 11 });
    expect(early.pullResult!.messages!.map((m) => Number(m.seq))).toEqual([11]);
    const outsider = await online(appId, 'kim', 0);
    const refused = await outsider.request({ send: { clientMsgId: 'k1', groupId: 'crew', contentType: 'text', body: text('hi') } });
    expect(refused.error!.code).toBe('IM_GROUP_NOT_MEMBER');
    for (const c of [owner, m1, m2, jo, outsider]) c.close();
  });

  it('groups across gates: a removed member gets nothing after the removal; the owner recalls; mentions and who-read counts', async () => {
    const appId = await newApp();
    const [owner, kept, gone] = [await online(appId, 'ola', 0), await online(appId, 'pia', 1), await online(appId, 'quin', 1)];
    const g = 'g:club';
    const created = await owner.request(
      { groupCreate: { clientMsgId: 'c', groupId: 'club', name: 'Club', members: ['pia', 'quin'] } },
      10_000,
    );
    expect(created.body, JSON.stringify(created.error)).toBe('sendAck');
    const sendAs = (c: RawClient, id: string, body: string, mentions: string[] = []) =>
      c.request({ send: { clientMsgId: id, groupId: 'club', contentType: 'text', body: text(body), mentions } }, 10_000);
    const hi = await sendAs(gone, 'q1', 'hi from quin');
    const removed = await owner.request({ groupChange: { clientMsgId: 'r', groupId: 'club', remove: { userIds: ['quin'] } } }, 10_000);
    expect(removed.sendAck, JSON.stringify(removed.error)).toBeTruthy();
    const removedSeq = Number(removed.sendAck!.seq);
    const after = await sendAs(kept, 'p1', '@ola after quin left', ['ola']);
    // quin on gate 1 gets the removal and nothing after it; reads stop there too.
    const push = await gone.next((f) => f.body === 'push' && Number(f.push!.messages![0]!.seq) === removedSeq, 10_000);
    expect(push.push!.messages![0]!.kind).toBe(imcloud.v1.MessageKind.MESSAGE_KIND_SYSTEM);
    expect((await historyOf(gone, g)).map((m) => Number(m.seq)).at(-1)).toBe(removedSeq);
    expect((await sendAs(gone, 'q2', 'still here?')).error!.code).toBe('IM_GROUP_NOT_MEMBER');
    expect(gone.all.some((f) => f.body === 'push' && Number(f.push!.messages![0]!.seq) === Number(after.sendAck!.seq))).toBe(false);
    // The mention reaches ola's summary (she has not read past it); the owner (gate 0) recalls
    // quin's message (which moves her read cursor past it); pia's read is counted.
    const summary = (await owner.request({ sync: { cursors: [] } })).syncPage!.conversations!.find((c) => c.conversation === g);
    expect(Number(summary!.mentionedSeq)).toBe(Number(after.sendAck!.seq));
    const recall = await owner.request({ recall: { clientMsgId: 'rc', conversation: g, seq: hi.sendAck!.seq } }, 10_000);
    expect(recall.body, JSON.stringify(recall.error)).toBe('sendAck');
    await expect.poll(async () => (await historyOf(kept, g)).find((m) => m.clientMsgId === 'q1')?.recalled, { timeout: 15_000 }).toBe(true);
    await kept.request({ read: { conversation: g, seq: Number(recall.sendAck!.seq) } });
    const readers = await owner.request({ readers: { conversation: g, seq: Number(after.sendAck!.seq) } });
    expect(readers.readersResult).toMatchObject({ readCount: 1, memberCount: 1, readers: ['pia'] });
    for (const c of [owner, kept, gone]) c.close();
  });

  it('groups across gates: a group switches diffusion both ways while members on both gates send; nobody loses, repeats or reorders', async () => {
    // An app whose groups leave write diffusion above 4 members (and come back at 3).
    const { status, json } = await admin('/v1/apps', { limits: { groupWriteDiffusionMax: 4 } });
    expect(status).toBe(201);
    const appId = json.appId as string;
    const [ana, ben, cy] = [await online(appId, 'ana', 0), await online(appId, 'ben', 1), await online(appId, 'cy', 1)];
    const modeOf = async () => (await admin(`/v1/apps/${appId}/groups/wave`)).json.diffusion;
    expect(
      (await ana.request({ groupCreate: { clientMsgId: 'w0', groupId: 'wave', name: 'W', members: ['ben', 'cy'] } }, 10_000)).body,
    ).toBe('sendAck');
    const modes = [await modeOf()];
    const flow = Promise.all(
      [ana, ben].map(async (c, i) => {
        for (let n = 1; n <= 15; n++) {
          const r = await c.request(
            { send: { clientMsgId: `wave-${i}-${n}`, groupId: 'wave', contentType: 'text', body: text(`${i}.${n}`) } },
            10_000,
          );
          expect(r.body, JSON.stringify(r.error)).toBe('sendAck');
        }
      }),
    );
    await admin(`/v1/apps/${appId}/groups/wave/members`, { userIds: ['dee', 'eli'] });
    modes.push(await modeOf());
    await admin(`/v1/apps/${appId}/groups/wave/members/dee`, undefined, 'DELETE');
    await admin(`/v1/apps/${appId}/groups/wave/members/eli`, undefined, 'DELETE');
    modes.push(await modeOf());
    await flow;
    expect(modes).toEqual(['write', 'read', 'write']);
    // cy was a member throughout: every seq once and in order, every message sent.
    await expect.poll(async () => (await historyOf(cy, 'g:wave')).length, { timeout: 15_000 }).toBe(34);
    const seen = await historyOf(cy, 'g:wave');
    expect(seen.map((m) => Number(m.seq))).toEqual(Array.from({ length: 34 }, (_, i) => i + 1));
    for (const i of [0, 1]) {
      const mine = seen.filter((m) => m.clientMsgId?.startsWith(`wave-${i}-`)).map((m) => m.clientMsgId);
      expect(mine).toEqual(Array.from({ length: 15 }, (_, n) => `wave-${i}-${n + 1}`));
    }
    for (const c of [ana, ben, cy]) c.close();
  });

  it("the app's backend sends over HTTP through the admin process: as a user and as the system, to users on both gates and one who syncs later, stored with the mark, a retry deduped", async () => {
    const { json: app } = await admin('/v1/apps', {});
    const secret = `Basic ${Buffer.from(`${app.appId}:${app.secret}`).toString('base64')}`;
    const appId = app.appId as string;
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${cluster.adminUrl}/v1/apps/${appId}/messages${path}`, {
        method: 'POST',
        headers: { authorization: secret, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const bob = await online(appId, 'bob', 1);
    const asAlice = await post('', { from: 'alice', to: 'bob', body: 'from the backend', clientMsgId: 'hs-1' });
    expect(asAlice).toMatchObject({ status: 200, json: { conversation: singleConversation('alice', 'bob'), seq: 1, duplicate: false } });
    expect((await bob.nextOf('push', 10_000)).push!.messages![0]).toMatchObject({ sender: 'alice', system: false, seq: 1 });
    expect((await post('', { from: 'alice', to: 'bob', body: 'from the backend', clientMsgId: 'hs-1' })).json).toEqual({
      ...asAlice.json,
      duplicate: true,
    });

    const batch = await post('/batch', { system: true, to: ['bob', 'carol'], body: 'system notice', clientMsgId: 'hs-2' });
    const results = batch.json.results as Array<Record<string, unknown>>;
    expect(results.map((r) => [r.to, r.conversation, r.seq])).toEqual([
      ['bob', singleConversation(SYSTEM_SENDER, 'bob'), 1],
      ['carol', singleConversation(SYSTEM_SENDER, 'carol'), 1],
    ]);
    expect((await bob.nextOf('push', 10_000)).push!.messages![0]).toMatchObject({ sender: SYSTEM_SENDER, system: true });
    const carol = await online(appId, 'carol', 0);
    const page = await carol.request({ sync: { cursors: [] } });
    expect(page.syncPage!.messages!.map((m) => [m.sender, m.system, str(m.body)])).toEqual([[SYSTEM_SENDER, true, 'system notice']]);
    // The durable copy (FerretDB, by the consumers) carries the mark too.
    const conv = singleConversation(SYSTEM_SENDER, 'carol');
    await expect.poll(async () => (await historyOf(carol, conv)).map((m) => m.system), { timeout: 15_000 }).toEqual([true]);
    bob.close();
    carol.close();
  });
});
