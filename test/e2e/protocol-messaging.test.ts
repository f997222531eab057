// The message path through raw protocol frames (no SDK): acks, pushes, offline sync, retries,
// racing senders, resync, read receipts, recall and history: the guarantees of
// docs/architecture.md §2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { RawClient } from '../support/raw-client.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());

let platform: TestPlatform;
// Long enough that no send here is slow enough to count as resumed late (logic reallocates the
// seq of a send that took half of it) and that the empty-slot test's first pull falls inside it.
const EMPTY_SLOT_GRACE_MS = 3000;

beforeAll(async () => {
  platform = await startTestPlatform({ logic: { emptySlotGraceMs: EMPTY_SLOT_GRACE_MS } });
});
afterAll(async () => {
  await platform?.stop();
});

async function online(
  appId: string,
  userId: string,
  deviceId = `${userId}-d1`,
  transport: 'ws' | 'tcp' = 'ws',
  on: TestPlatform = platform,
): Promise<RawClient> {
  const token = await on.token(appId, userId);
  const client = transport === 'ws' ? await RawClient.ws(on.wsUrl) : await RawClient.tcp(on.tcpPort);
  const ok = await client.auth(token, deviceId);
  expect(ok.body, JSON.stringify(ok.error)).toBe('authOk');
  return client;
}

async function send(client: RawClient, to: string, body: string, clientMsgId = `m-${Math.random().toString(36).slice(2)}`) {
  const reply = await client.request({ send: { clientMsgId, to, contentType: 'text', body: text(body) } });
  expect(reply.body, JSON.stringify(reply.error)).toBe('sendAck');
  return reply.sendAck!;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('single chat', () => {
  it('acks the sender with seq and id, pushes to the receiver, and reports delivery back', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bob = await online(appId, 'bob');
    const ack = await send(alice, 'bob', 'hello');
    expect(ack.conversation).toBe(singleConversation('alice', 'bob'));
    expect(Number(ack.seq)).toBe(1);
    expect(ack.msgId).toMatch(/^\d{15,20}$/);
    expect(ack.duplicate).toBe(false);

    const push = await bob.nextOf('push');
    const [m] = push.push!.messages!;
    expect(m!.sender).toBe('alice');
    expect(str(m!.body)).toBe('hello');
    expect(m!.msgId).toBe(ack.msgId);

    bob.send({ pushAck: { cursors: [{ conversation: ack.conversation, seq: 1 }] } });
    const notice = await alice.nextOf('deliveryNotice');
    expect(notice.deliveryNotice).toMatchObject({ conversation: ack.conversation, user: 'bob', seq: 1 });
    alice.close();
    bob.close();
  });

  it("delivers to every device of the receiver and to the sender's other devices", async () => {
    const { appId } = await platform.createApp('all');
    const alice1 = await online(appId, 'alice', 'a-phone');
    const alice2 = await online(appId, 'alice', 'a-laptop');
    const bob1 = await online(appId, 'bob', 'b-phone');
    const bob2 = await online(appId, 'bob', 'b-laptop', 'tcp');
    const ack = await send(alice1, 'bob', 'to all of you');
    for (const c of [alice2, bob1, bob2]) {
      const p = await c.nextOf('push');
      expect(p.push!.messages![0]!.msgId).toBe(ack.msgId);
    }
    // The sending connection gets the ack, not a push of its own message: once bob's answer has
    // reached it (pushed to it after anything about the first message), it holds only that.
    const answer = await send(bob1, 'alice', 'answer');
    await waitFor(() => alice1.pushed().length > 0, 'the answer pushed to the first sender');
    expect(alice1.pushed().map((m) => m.msgId)).toEqual([answer.msgId]);
    for (const c of [alice1, alice2, bob1, bob2]) c.close();
  });

  it('stores messages for an offline user, who gets them on sync, in order, with unread counts', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    for (let i = 1; i <= 5; i++) await send(alice, 'carol', `offline ${i}`);
    const carol = await online(appId, 'carol');
    const page = await carol.request({ sync: { cursors: [], pageSize: 100 } });
    expect(page.body).toBe('syncPage');
    const conv = singleConversation('alice', 'carol');
    const summary = page.syncPage!.conversations!.find((c) => c.conversation === conv)!;
    expect(Number(summary.maxSeq)).toBe(5);
    expect(Number(summary.unread)).toBe(5);
    expect(summary.peer).toBe('alice');
    expect(page.syncPage!.messages!.map((m) => [Number(m.seq), str(m.body)])).toEqual([1, 2, 3, 4, 5].map((i) => [i, `offline ${i}`]));
    expect(page.syncPage!.hasMore).toBe(false);
    alice.close();
    carol.close();
  });

  it('pages a long sync; asking for the next page acknowledges the previous one', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    for (let i = 1; i <= 25; i++) await send(alice, 'dave', `m${i}`);
    const dave = await online(appId, 'dave');
    const conv = singleConversation('alice', 'dave');
    const seen: number[] = [];
    let cursor: number | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await dave.request({
        sync: { cursors: cursor === undefined ? [] : [{ conversation: conv, seq: cursor }], pageSize: 10 },
      });
      for (const m of page.syncPage!.messages!) seen.push(Number(m.seq));
      if (seen.length > 0) cursor = seen[seen.length - 1];
      if (!page.syncPage!.hasMore) break;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    // The third request carried cursor 20, which acknowledged the second page.
    const entry = await platform.runtime.backends.conversations.get(appId, 'dave', conv);
    expect(entry!.deliveredSeq).toBe(20);
    alice.close();
    dave.close();
  });

  it('answers a retried clientMsgId with the original ack and stores and delivers it once', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bob = await online(appId, 'bob');
    const first = await send(alice, 'bob', 'once', 'retry-1');
    const again = await send(alice, 'bob', 'once', 'retry-1');
    expect(again).toMatchObject({ seq: first.seq, msgId: first.msgId, ts: first.ts, duplicate: true });
    const conv = first.conversation!;
    // A later message, stored and pushed after anything the retry could have caused.
    const later = await send(alice, 'bob', 'later', 'retry-2');
    await waitFor(async () => (await platform.runtime.backends.store.count(appId, conv)) === 2, 'both messages to be stored');
    await waitFor(() => bob.pushed(conv).some((m) => m.msgId === later.msgId), 'the later message to be pushed');
    expect(bob.pushed(conv).map((m) => m.msgId)).toEqual([first.msgId, later.msgId]);
    expect(Number(later.seq)).toBe(Number(first.seq) + 1);
    alice.close();
    bob.close();
  });

  it('resumes a send whose store publish failed with the same seq and id, never a second message', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bus = platform.runtime.backends.bus;
    const original = bus.publishStore.bind(bus);
    let failures = 1;
    bus.publishStore = async (body) => {
      if (failures-- > 0) throw new Error('broker unavailable');
      return original(body);
    };
    try {
      const failed = await alice.request({ send: { clientMsgId: 'resume-1', to: 'bob', body: text('x') } });
      expect(failed.error?.code).toBe('IM_UNAVAILABLE');
      expect(failed.error?.retryAfterMs).toBeGreaterThan(0);
      const ack = await send(alice, 'bob', 'x', 'resume-1');
      const after = await send(alice, 'bob', 'y');
      expect(Number(ack.seq)).toBe(1);
      expect(Number(after.seq)).toBe(2);
      await waitFor(async () => (await platform.runtime.backends.store.count(appId, ack.conversation!)) === 2, 'two stored messages');
    } finally {
      bus.publishStore = original;
    }
    alice.close();
  });

  it('gives two racing senders and all their devices one identical order', async () => {
    const { appId } = await platform.createApp('all');
    const devices = [
      await online(appId, 'ann', 'ann-1'),
      await online(appId, 'ann', 'ann-2'),
      await online(appId, 'ben', 'ben-1'),
      await online(appId, 'ben', 'ben-2', 'tcp'),
    ];
    const [ann1, , ben1] = devices;
    const conv = singleConversation('ann', 'ben');
    const n = 30;
    const acks = await Promise.all([
      ...Array.from({ length: n }, (_, i) => send(ann1!, 'ben', `ann ${i}`, `ann-${i}`)),
      ...Array.from({ length: n }, (_, i) => send(ben1!, 'ann', `ben ${i}`, `ben-${i}`)),
    ]);
    expect(new Set(acks.map((a) => Number(a.seq))).size).toBe(2 * n);
    const truth = new Map(acks.map((a) => [Number(a.seq), a.clientMsgId]));
    expect([...truth.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
    // Each device holds pushes (others' messages and its user's other devices) plus, for the
    // senders, their own acks: together every seq, each mapped to the same message.
    for (const d of devices) {
      await waitFor(() => d.pushed(conv).length >= (d === ann1 || d === ben1 ? n : 2 * n), 'pushes to arrive');
      const seen = new Map<number, string>();
      for (const m of d.pushed(conv)) {
        expect(seen.has(Number(m.seq))).toBe(false);
        seen.set(Number(m.seq), m.clientMsgId!);
      }
      for (const [seq, id] of seen) expect(truth.get(seq)).toBe(id);
    }
    for (const d of devices) d.close();
  });

  it('resyncs a dropped connection from its cursor with no loss and no duplicates', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    let bob = await online(appId, 'bob');
    const conv = singleConversation('alice', 'bob');
    for (let i = 1; i <= 5; i++) await send(alice, 'bob', `a${i}`);
    await waitFor(() => bob.pushed(conv).length === 5, 'five pushes');
    const cursor = Math.max(...bob.pushed(conv).map((m) => Number(m.seq)));
    bob.close();
    await bob.closed();
    for (let i = 6; i <= 9; i++) await send(alice, 'bob', `a${i}`);
    bob = await online(appId, 'bob');
    const page = await bob.request({ sync: { cursors: [{ conversation: conv, seq: cursor }] } });
    expect(page.syncPage!.messages!.map((m) => str(m.body))).toEqual(['a6', 'a7', 'a8', 'a9']);
    alice.close();
    bob.close();
  });

  it('clamps the read seq to the max seq, so unread is never negative', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bob = await online(appId, 'bob');
    const conv = singleConversation('alice', 'bob');
    for (let i = 0; i < 3; i++) await send(alice, 'bob', `r${i}`);
    const ack = await bob.request({ read: { conversation: conv, seq: 1000 } });
    expect(ack.readAck).toMatchObject({ conversation: conv, readSeq: 3, unread: 0 });
    const notice = await alice.nextOf('readNotice');
    expect(notice.readNotice).toMatchObject({ conversation: conv, user: 'bob', seq: 3 });
    const backwards = await bob.request({ read: { conversation: conv, seq: 1 } });
    expect(Number(backwards.readAck!.readSeq)).toBe(3);
    const page = await bob.request({ sync: { cursors: [] } });
    const summary = page.syncPage!.conversations!.find((c) => c.conversation === conv)!;
    expect(Number(summary.unread)).toBe(0);
    expect(Number(summary.readSeq)).toBe(3);
    // The sender's own messages never count as unread for it.
    const alicePage = await alice.request({ sync: { cursors: [] } });
    const aliceSummary = alicePage.syncPage!.conversations!.find((c) => c.conversation === conv)!;
    expect(Number(aliceSummary.unread)).toBe(0);
    expect(Number(aliceSummary.peerReadSeq)).toBe(3);
    alice.close();
    bob.close();
  });

  it('recalls within the window as an event, and refuses outside it or by another user', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bob = await online(appId, 'bob');
    const conv = singleConversation('alice', 'bob');
    const target = await send(alice, 'bob', 'oops');
    await bob.nextOf('push');
    const notMine = await bob.request({ recall: { clientMsgId: 'rc-bob', conversation: conv, seq: target.seq } });
    expect(notMine.error?.code).toBe('IM_RECALL_NOT_SENDER');
    const recall = await alice.request({ recall: { clientMsgId: 'rc-1', conversation: conv, seq: target.seq } });
    expect(recall.body).toBe('sendAck');
    expect(Number(recall.sendAck!.seq)).toBe(2);
    const event = (await bob.nextOf('push')).push!.messages![0]!;
    expect(event.kind).toBe(imcloud.v1.MessageKind.MESSAGE_KIND_RECALL);
    expect(Number(event.recallsSeq)).toBe(Number(target.seq));
    const history = await bob.request({ history: { conversation: conv } });
    const original = history.historyResult!.messages!.find((m) => Number(m.seq) === Number(target.seq))!;
    expect(original.recalled).toBe(true);
    expect(original.body?.length ?? 0).toBe(0);
    const again = await alice.request({ recall: { clientMsgId: 'rc-2', conversation: conv, seq: target.seq } });
    expect(again.error?.code).toBe('IM_BAD_REQUEST');

    alice.close();
    bob.close();
  });

  it('refuses a recall once the window has passed', async () => {
    // A platform of its own with a short window: the one above keeps the default (2 min), so
    // that a slow machine never lets its window pass before the recall that must get in.
    const windowMs = 200;
    const short = await startTestPlatform({ logic: { recallWindowMs: windowMs } });
    try {
      const { appId } = await short.createApp();
      const alice = await online(appId, 'alice', 'alice-d1', 'ws', short);
      const conv = singleConversation('alice', 'bob');
      const late = await send(alice, 'bob', 'too late to recall');
      // Past the window by the clock that stamped the message (the same machine's).
      await waitFor(() => Date.now() > Number(late.ts) + windowMs + 1, 'the recall window to pass', 5000);
      const refused = await alice.request({ recall: { clientMsgId: 'rc-3', conversation: conv, seq: late.seq } });
      expect(refused.error?.code).toBe('IM_RECALL_WINDOW_EXPIRED');
      alice.close();
    } finally {
      await short.stop();
    }
  });

  it('pages history by seq and by time, returning every message once', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const conv = singleConversation('alice', 'erin');
    const acks = [];
    for (let i = 1; i <= 23; i++) acks.push(await send(alice, 'erin', `h${i}`));
    await waitFor(async () => (await platform.runtime.backends.store.count(appId, conv)) === 23, 'stored history');
    const seen: number[] = [];
    let from = 1;
    for (;;) {
      const page = await alice.request({ history: { conversation: conv, fromSeq: from, limit: 10 } });
      const seqs = page.historyResult!.messages!.map((m) => Number(m.seq));
      seen.push(...seqs);
      if (!page.historyResult!.hasMore) break;
      from = seqs[seqs.length - 1]! + 1;
    }
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    // Newest first paging walks backwards and still returns ascending pages.
    const newest = await alice.request({ history: { conversation: conv, limit: 5, newestFirst: true } });
    expect(newest.historyResult!.messages!.map((m) => Number(m.seq))).toEqual([19, 20, 21, 22, 23]);
    expect(newest.historyResult!.hasMore).toBe(true);
    // By time: exactly the messages stamped inside the range.
    const fromTs = Number(acks[4]!.ts);
    const toTs = Number(acks[9]!.ts);
    const byTime = await alice.request({ history: { conversation: conv, fromTs, toTs, limit: 100 } });
    const expected = acks.filter((a) => Number(a.ts) >= fromTs && Number(a.ts) <= toTs).map((a) => Number(a.seq));
    expect(byTime.historyResult!.messages!.map((m) => Number(m.seq))).toEqual(expected);
    alice.close();
  });

  it('reports a seq that was allocated but never acked as an empty slot after the grace period', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice');
    const bob = await online(appId, 'bob');
    const conv = singleConversation('alice', 'bob');
    await send(alice, 'bob', 'one');
    // A logic that died after taking seq 2: the seq exists, the message never will.
    expect(await platform.runtime.backends.seq.next(appId, conv)).toBe(2);
    await send(alice, 'bob', 'three');
    const early = await bob.request({ pull: { conversation: conv, fromSeq: 1, toSeq: 3 } });
    expect(early.pullResult!.messages!.map((m) => Number(m.seq))).toEqual([1]);
    expect(early.pullResult!.retryAfterMs).toBeGreaterThan(0);
    // Ask again when told to, until the server has judged seq 2.
    let late = early;
    for (let i = 0; i < 20 && late.pullResult!.retryAfterMs! > 0; i++) {
      await new Promise((r) => setTimeout(r, Number(late.pullResult!.retryAfterMs)));
      late = await bob.request({ pull: { conversation: conv, fromSeq: 1, toSeq: 3 } });
    }
    expect(late.pullResult!.messages!.map((m) => [Number(m.seq), Boolean(m.empty)])).toEqual([
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(late.pullResult!.retryAfterMs).toBe(0);
    // A range that ends inside the gap is judged by the first message after it.
    const inside = await bob.request({ pull: { conversation: conv, fromSeq: 2, toSeq: 2 } });
    expect(inside.pullResult!.messages!.map((m) => [Number(m.seq), Boolean(m.empty)])).toEqual([[2, true]]);
    alice.close();
    bob.close();
  });

  it('works the same over TCP', async () => {
    const { appId } = await platform.createApp();
    const alice = await online(appId, 'alice', 'a-tcp', 'tcp');
    const bob = await online(appId, 'bob', 'b-tcp', 'tcp');
    const ack = await send(alice, 'bob', 'over tcp');
    const push = await bob.nextOf('push');
    expect(push.push!.messages![0]!.msgId).toBe(ack.msgId);
    const pong = await alice.request({ ping: { clientTime: 42 } });
    expect(Number(pong.pong!.clientTime)).toBe(42);
    alice.close();
    bob.close();
  });
});
