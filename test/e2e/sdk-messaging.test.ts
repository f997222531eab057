// The SDK against a whole in-process platform (every role, in-memory backends) over real WebSocket
// connections on loopback: the guarantees of docs/architecture.md §2 seen from the client side.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import type { FrameInit } from '../../protocol/frame-codec.js';
import type { ImClient, ImClientOptions, SkippedEvent } from '../../sdk/src/index.js';
import type { Runtime } from '../../services/runtime.js';
import * as fixture from './sdk-fixture.js';
import { inConversation, type Platform, type Probe, range, startPlatform, texts, until } from './sdk-fixture.js';

// Long enough that no send here is slow enough to count as resumed late (logic gives the send of
// a seq taken more than half of it ago a new seq), short enough for the empty-slot test to wait.
const EMPTY_SLOT_GRACE_MS = 3000;

let runtime: Runtime;
let main: Platform;
const clients: ImClient[] = [];

beforeAll(async () => {
  // The recall window stays at its default (2 min): the expired case has a platform of its own.
  main = await startPlatform({ emptySlotGraceMs: EMPTY_SLOT_GRACE_MS });
  ({ runtime } = main);
});

afterAll(async () => {
  await runtime?.stop();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

// ── helpers (sdk-fixture.ts, on the main platform unless told) ────────────────────────────────

const admin = (method: string, path: string, body?: unknown, at: Platform = main) => fixture.admin(at, method, path, body);
const newApp = (multiLogin?: 'all' | 'per-platform' | 'single', at: Platform = main) => fixture.newApp(at, 'sdk-e2e', multiLogin);
const token = (appId: string, userId: string, at: Platform = main) => fixture.token(at, appId, userId);

async function client(
  appId: string,
  userId: string,
  opts: Partial<ImClientOptions> = {},
  connect = true,
  at: Platform = main,
): Promise<Probe> {
  // Closed after each test, connected or not.
  return fixture.client(at, appId, userId, opts, connect, (c) => clients.push(c));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ── tests ────────────────────────────────────────────────────────────────────────────────────

describe('SDK messaging against the embedded platform', () => {
  it('delivers to a user who was offline, in order and once, over several sync pages', async () => {
    const app = await newApp();
    const alice = await client(app, 'alice');
    const sent = [];
    for (let i = 1; i <= 12; i++) sent.push(await alice.client.send('bob', `offline ${i}`));
    expect(sent.map((a) => a.seq)).toEqual(range(12));

    const bob = await client(app, 'bob', { syncPageSize: 5 }, false);
    const synced = bob.client.once('synced');
    await bob.client.connect();
    const summary = await synced;
    expect(summary.pages).toBeGreaterThanOrEqual(3);
    const conv = singleConversation('alice', 'bob');
    expect(texts(inConversation(bob, conv))).toEqual(range(12).map((i) => `offline ${i}`));
    expect(inConversation(bob, conv).map((m) => m.seq)).toEqual(range(12));
    expect(bob.client.conversation(conv)).toMatchObject({ peer: 'alice', maxSeq: 12, unread: 12 });
    // Alice's own view: her messages, in order, and nothing unread.
    expect(inConversation(alice, conv).map((m) => [m.seq, m.own])).toEqual(range(12).map((s) => [s, true]));
    expect(alice.client.conversation(conv)).toMatchObject({ unread: 0 });
    // Bob's device acknowledged: Alice hears it has been delivered.
    await until('delivery notice', () => (alice.client.conversation(conv)?.peerDeliveredSeq ?? 0) === 12);
  });

  it('stores and delivers once a send whose connection dropped after the frame was written; the retry gets the original ack', async () => {
    const app = await newApp();
    const bob = await client(app, 'bob');
    let dropped = false;
    const writtenIds: string[] = [];
    const alice = await client(app, 'alice', {
      hooks: {
        written: (frame: FrameInit) => {
          if (!frame.send) return;
          writtenIds.push(frame.send.clientMsgId ?? '');
          if (!dropped) {
            dropped = true;
            // The Send is on the wire; the SendAck can only arrive on a connection that is gone.
            alice.client.dropConnection();
          }
        },
      },
    });
    const ack = await alice.client.send('bob', 'sent once');
    expect(writtenIds.length).toBeGreaterThanOrEqual(2);
    expect(new Set(writtenIds)).toEqual(new Set([ack.clientMsgId]));
    expect(ack.duplicate).toBe(true);
    expect(alice.states.some((s) => s.state === 'offline')).toBe(true);

    const conv = singleConversation('alice', 'bob');
    // A later message: a second copy of the first would have a seq below it and reach bob first.
    const later = await alice.client.send('bob', 'later');
    await until('bob has the later message', () => inConversation(bob, conv).some((m) => m.seq === later.seq));
    const got = inConversation(bob, conv);
    expect(got.map((m) => [m.seq, m.msgId, m.clientMsgId, m.text])).toEqual([
      [ack.seq, ack.msgId, ack.clientMsgId, 'sent once'],
      [later.seq, later.msgId, later.clientMsgId, 'later'],
    ]);
    expect(later.seq).toBe(ack.seq + 1);
    const history = await bob.client.history(conv, { limit: 50 });
    expect(history.messages.filter((m) => m.clientMsgId === ack.clientMsgId)).toHaveLength(1);
    expect(history.messages).toHaveLength(2);
  });

  it('answers a retry after a lost SendAck with the original ack (same seq, msgId and ts)', async () => {
    const app = await newApp();
    const bob = await client(app, 'bob');
    let original: { seq: number; msgId: string; ts: number } | undefined;
    const alice = await client(app, 'alice', {
      timeouts: { ack: 400 },
      hooks: {
        incoming: (frame) => {
          if (frame.body !== 'sendAck' || original) return;
          const a = frame.sendAck!;
          original = { seq: Number(a.seq), msgId: a.msgId ?? '', ts: Number(a.ts) };
          return false; // lost on the way
        },
      },
    });
    const ack = await alice.client.send('bob', 'ack lost');
    expect(original).toBeDefined();
    expect(ack).toMatchObject({ ...original, duplicate: true });
    const conv = singleConversation('alice', 'bob');
    // A later message reaches both after anything the retry could have caused.
    const later = await alice.client.send('bob', 'later');
    await until('bob has the later message', () => inConversation(bob, conv).some((m) => m.seq === later.seq));
    expect(inConversation(bob, conv).map((m) => m.seq)).toEqual([original!.seq, later.seq]);
    expect(later.seq).toBe(original!.seq + 1);
    // Alice's own view of the conversation has it once, too.
    expect(inConversation(alice, conv).map((m) => m.seq)).toEqual([original!.seq, later.seq]);
  });

  it('deduplicates an application-level resend that reuses the clientMsgId', async () => {
    const app = await newApp();
    const bob = await client(app, 'bob');
    const alice = await client(app, 'alice');
    const first = await alice.client.send('bob', 'same id', { clientMsgId: 'fixed-id-1' });
    const second = await alice.client.send('bob', 'same id', { clientMsgId: 'fixed-id-1' });
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
    const conv = singleConversation('alice', 'bob');
    const later = await alice.client.send('bob', 'later');
    await until('bob has the later message', () => inConversation(bob, conv).some((m) => m.seq === later.seq));
    expect(inConversation(bob, conv).map((m) => [m.seq, m.text])).toEqual([
      [first.seq, 'same id'],
      [first.seq + 1, 'later'],
    ]);
  });

  it('two users racing in one conversation: every device of both sees one identical order', async () => {
    const app = await newApp('all');
    const a1 = await client(app, 'alice', { deviceId: 'alice-1' });
    const a2 = await client(app, 'alice', { deviceId: 'alice-2', platform: 'ios' });
    const b1 = await client(app, 'bob', { deviceId: 'bob-1' });
    const b2 = await client(app, 'bob', { deviceId: 'bob-2', platform: 'android' });
    const conv = singleConversation('alice', 'bob');
    const N = 25;
    // All sends are issued at once; the SDK keeps one in flight per conversation per client.
    const [fromAlice, fromBob] = await Promise.all([
      Promise.all(range(N).map((i) => a1.client.send('bob', `a${i}`))),
      Promise.all(range(N).map((i) => b1.client.send('alice', `b${i}`))),
    ]);
    // A sender's own order is kept: its seqs increase in call order.
    for (const acks of [fromAlice, fromBob]) expect(acks.map((a) => a.seq)).toEqual([...acks.map((a) => a.seq)].sort((x, y) => x - y));

    const devices = [a1, a2, b1, b2];
    // One more message after the race: every device has it once it has everything before it.
    const last = await a1.client.send('bob', 'last');
    expect(last.seq).toBe(2 * N + 1);
    await until('every device has every message', () => devices.every((d) => inConversation(d, conv).some((m) => m.seq === last.seq)));
    const views = devices.map((d) =>
      inConversation(d, conv)
        .filter((m) => m.seq <= 2 * N)
        .map((m) => `${m.seq}:${m.clientMsgId}:${m.text}`),
    );
    for (const view of views) {
      expect(view).toHaveLength(2 * N);
      expect(view).toEqual(views[0]);
    }
    expect(inConversation(a2, conv).map((m) => m.seq)).toEqual(range(2 * N + 1));
    // Interleaved, not one sender's block after the other's (both really raced).
    const senders = inConversation(b2, conv).map((m) => m.sender);
    expect(senders.slice(0, N).includes('alice') && senders.slice(0, N).includes('bob')).toBe(true);
  });

  it('a dropped connection resyncs: no loss, no duplicates', async () => {
    const app = await newApp();
    const bob = await client(app, 'bob');
    const alice = await client(app, 'alice');
    const conv = singleConversation('alice', 'bob');
    const N = 40;
    for (let i = 1; i <= N; i++) {
      await alice.client.send('bob', `m${i}`);
      if (i === 10 || i === 25) {
        // Drop only a live connection; what Alice sends meanwhile reaches Bob through sync.
        await until('bob online', () => bob.client.state === 'online');
        bob.client.dropConnection();
      }
      if (i === 18) alice.client.dropConnection();
    }
    await alice.client.send('bob', 'last');
    await until('bob has all', () => inConversation(bob, conv).some((m) => m.seq === N + 1), 15_000);
    expect(inConversation(bob, conv).map((m) => m.seq)).toEqual(range(N + 1));
    expect(texts(inConversation(bob, conv))).toEqual([...range(N).map((i) => `m${i}`), 'last']);
    expect(bob.states.filter((s) => s.state === 'online').length).toBeGreaterThanOrEqual(3);
  });

  it('detects lost pushes as seq gaps and pulls them', async () => {
    const app = await newApp();
    let pushes = 0;
    let pulls = 0;
    const bob = await client(app, 'bob', {
      hooks: {
        incoming: (frame) => (frame.body === 'push' ? ++pushes % 3 !== 0 : undefined), // every third push is lost
        outgoing: (frame) => {
          if (frame.pull) pulls += 1;
        },
      },
      timeouts: { gapGrace: 50 },
    });
    const alice = await client(app, 'alice');
    const conv = singleConversation('alice', 'bob');
    for (let i = 1; i <= 15; i++) await alice.client.send('bob', `g${i}`);
    // The last push may be the lost one; no later push reveals that gap, a sync does.
    await until('bob has 14+', () => inConversation(bob, conv).length >= 14);
    expect(pulls).toBeGreaterThan(0);
    bob.client.dropConnection();
    await until('bob has all after resync', () => inConversation(bob, conv).length >= 15);
    expect(inConversation(bob, conv).map((m) => m.seq)).toEqual(range(15));
  });

  it('skips a seq that was allocated but never acknowledged (an empty slot) without waiting forever', async () => {
    const app = await newApp();
    const bob = await client(app, 'bob');
    const skipped: SkippedEvent[] = [];
    bob.client.on('skipped', (e) => skipped.push(e));
    const alice = await client(app, 'alice');
    const conv = singleConversation('alice', 'bob');
    await alice.client.send('bob', 'before');
    // A logic instance that dies right after allocating leaves exactly this behind.
    const lost = await runtime.backends.seq.next(app, conv);
    const after = await alice.client.send('bob', 'after');
    expect(after.seq).toBe(lost + 1);
    // 'after' waits behind the missing seq until the server declares it empty (grace period).
    await until('bob gets the message after the empty slot', () => inConversation(bob, conv).length === 2, 20_000);
    expect(inConversation(bob, conv).map((m) => [m.seq, m.text])).toEqual([
      [1, 'before'],
      [3, 'after'],
    ]);
    expect(skipped).toEqual([{ conversation: conv, fromSeq: 2, toSeq: 2, reason: 'empty' }]);
    expect(inConversation(alice, conv).map((m) => m.seq)).toEqual([1, 3]);
  });

  describe('multi-login policies', () => {
    const kicked = (p: Probe) => p.states.find((s) => s.state === 'kicked');

    it("'all': every device stays signed in, and each gets the messages", async () => {
      const app = await newApp('all');
      const d1 = await client(app, 'alice', { deviceId: 'web-1', platform: 'web' });
      const d2 = await client(app, 'alice', { deviceId: 'web-2', platform: 'web' });
      const d3 = await client(app, 'alice', { deviceId: 'ios-1', platform: 'ios' });
      const bob = await client(app, 'bob');
      await bob.client.send('alice', 'to all devices');
      const conv = singleConversation('alice', 'bob');
      // A device displaced by a later sign-in would have been dropped from the routes and got nothing.
      await until('all devices got it', () => [d1, d2, d3].every((d) => inConversation(d, conv).length === 1));
      for (const d of [d1, d2, d3]) {
        expect(d.client.state).toBe('online');
        expect(kicked(d)).toBeUndefined();
      }
    });

    it("'per-platform': a second device of the same platform displaces the first; other platforms stay", async () => {
      const app = await newApp('per-platform');
      const web1 = await client(app, 'alice', { deviceId: 'web-1', platform: 'web' });
      const ios = await client(app, 'alice', { deviceId: 'ios-1', platform: 'ios' });
      // A device the iOS sign-in displaced is dropped from the routes before that sign-in is
      // answered: a message sent now reaches web-1 only if it was not displaced.
      const bob = await client(app, 'bob');
      await bob.client.send('alice', 'to web and ios');
      await until('web-1 and ios got it', () =>
        [web1, ios].every((d) => inConversation(d, singleConversation('alice', 'bob')).length === 1),
      );
      expect(web1.client.state).toBe('online');
      expect(kicked(web1)).toBeUndefined();
      const web2 = await client(app, 'alice', { deviceId: 'web-2', platform: 'web' });
      await until('web-1 kicked', () => kicked(web1) !== undefined);
      expect(kicked(web1)).toMatchObject({
        willReconnect: false,
        kick: { reason: 'login-elsewhere', byDevice: 'web-2', byPlatform: 'web' },
      });
      await sleep(600); // it must not come back by itself
      expect(web1.client.state).toBe('kicked');
      expect(ios.client.state).toBe('online');
      expect(web2.client.state).toBe('online');
      // A kicked client fails what it still had to send.
      await expect(web1.client.send('bob', 'x')).rejects.toMatchObject({ code: 'SDK_CLOSED' });
    });

    it("'single': any new sign-in displaces the previous one", async () => {
      const app = await newApp('single');
      const web = await client(app, 'alice', { deviceId: 'web-1', platform: 'web' });
      const ios = await client(app, 'alice', { deviceId: 'ios-1', platform: 'ios' });
      await until('web kicked', () => kicked(web) !== undefined);
      expect(kicked(web)!.kick).toMatchObject({ reason: 'login-elsewhere', byDevice: 'ios-1', byPlatform: 'ios' });
      expect(ios.client.state).toBe('online');
      // Messages now reach only the surviving device.
      const bob = await client(app, 'bob');
      await bob.client.send('alice', 'only ios');
      const conv = singleConversation('alice', 'bob');
      await until('ios got it', () => inConversation(ios, conv).length === 1);
      expect(inConversation(web, conv)).toHaveLength(0);
    });
  });

  it('read receipts: read seq is clamped to max seq, unread never negative, the peer is told', async () => {
    const app = await newApp();
    const alice = await client(app, 'alice');
    const bob = await client(app, 'bob');
    const conv = singleConversation('alice', 'bob');
    for (let i = 1; i <= 3; i++) await alice.client.send('bob', `r${i}`);
    await until('bob has 3', () => inConversation(bob, conv).length === 3);
    expect(bob.client.conversation(conv)).toMatchObject({ maxSeq: 3, readSeq: 0, unread: 3 });

    const reads: number[] = [];
    alice.client.on('read', (e) => {
      if (e.user === 'bob') reads.push(e.seq);
    });
    expect(await bob.client.markRead(conv, 2)).toEqual({ conversation: conv, readSeq: 2, unread: 1 });
    expect(bob.client.conversation(conv)!.unread).toBe(1);
    // Beyond the end: clamped.
    expect(await bob.client.markRead(conv, 1000)).toEqual({ conversation: conv, readSeq: 3, unread: 0 });
    // Backwards: the cursor does not move back, unread stays 0.
    expect(await bob.client.markRead(conv, 1)).toEqual({ conversation: conv, readSeq: 3, unread: 0 });
    await until('alice hears of both reads', () => reads.includes(3));
    expect(reads).toEqual([2, 3]);
    expect(alice.client.conversation(conv)).toMatchObject({ peerReadSeq: 3, peerDeliveredSeq: 3 });

    // A fresh device of bob gets the same numbers from sync.
    const bob2 = await client(app, 'bob', { deviceId: 'bob-other' });
    expect(bob2.client.conversation(conv)).toMatchObject({ maxSeq: 3, readSeq: 3, unread: 0 });
    for (const c of bob2.client.conversations()) {
      expect(c.unread).toBeGreaterThanOrEqual(0);
      expect(c.readSeq).toBeLessThanOrEqual(c.maxSeq);
    }
  });

  it('recall works inside the window and is refused for others', async () => {
    const app = await newApp();
    const alice = await client(app, 'alice');
    const bob = await client(app, 'bob');
    const conv = singleConversation('alice', 'bob');
    const fresh = await alice.client.send('bob', 'oops');
    const recallAck = await alice.client.recall(conv, fresh.seq);
    expect(recallAck.seq).toBe(fresh.seq + 1); // the recall is an event with its own seq
    await until('bob sees the recall', () => bob.recalls.length === 1);
    expect(bob.recalls[0]).toMatchObject({ conversation: conv, seq: fresh.seq, eventSeq: recallAck.seq, by: 'alice' });
    expect(alice.recalls.map((r) => r.seq)).toEqual([fresh.seq]);
    const history = await bob.client.history(conv);
    expect(history.messages.find((m) => m.seq === fresh.seq)).toMatchObject({ recalled: true, body: new Uint8Array(0) });
    expect(history.messages.find((m) => m.seq === recallAck.seq)).toMatchObject({ kind: 'recall', recallsSeq: fresh.seq });

    await expect(bob.client.recall(conv, (await alice.client.send('bob', 'mine')).seq)).rejects.toMatchObject({
      code: 'IM_RECALL_NOT_SENDER',
    });
  });

  it('recall is refused once the window has passed, and the refusal does not block the conversation', async () => {
    // A platform of its own with a short window: the main one keeps the default (2 min), so that
    // a slow machine never lets a window pass before a recall that must get in.
    const windowMs = 200;
    const short = await startPlatform({ recallWindowMs: windowMs });
    try {
      const app = await newApp(undefined, short);
      const alice = await client(app, 'alice', {}, true, short);
      const conv = singleConversation('alice', 'bob');
      const old = await alice.client.send('bob', 'too late');
      // Past the window by the clock that stamped the message (the same machine's).
      await until('the recall window to pass', () => Date.now() > old.ts + windowMs + 1);
      await expect(alice.client.recall(conv, old.seq)).rejects.toMatchObject({ code: 'IM_RECALL_WINDOW_EXPIRED' });
      // A refused recall does not block the conversation's lane.
      await expect(alice.client.send('bob', 'still works')).resolves.toMatchObject({ seq: old.seq + 1 });
      await Promise.all(clients.splice(0).map((c) => c.close()));
    } finally {
      await short.runtime.stop();
    }
  });

  it('history pages by seq (both directions) and by time return every message once', async () => {
    const app = await newApp();
    const alice = await client(app, 'alice');
    const conv = singleConversation('alice', 'bob');
    const acks = [];
    for (let i = 1; i <= 23; i++) acks.push(await alice.client.send('bob', `h${i}`));

    const forward: number[] = [];
    for (let from = 1, more = true; more; ) {
      const page = await alice.client.history(conv, { fromSeq: from, limit: 5 });
      forward.push(...page.messages.map((m) => m.seq));
      more = page.hasMore;
      from = page.messages[page.messages.length - 1]!.seq + 1;
    }
    expect(forward).toEqual(range(23));

    const backward: number[][] = [];
    for (let to = 0, more = true; more; ) {
      const page = await alice.client.history(conv, { toSeq: to, limit: 6, newestFirst: true });
      backward.push(page.messages.map((m) => m.seq));
      more = page.hasMore;
      to = page.messages[0]!.seq - 1;
    }
    expect(backward[0]).toEqual(range(6, 18));
    expect(backward.reverse().flat()).toEqual(range(23));

    const byTime = await alice.client.history(conv, { fromTs: acks[4]!.ts, toTs: acks[14]!.ts, limit: 100 });
    const seqs = byTime.messages.map((m) => m.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    for (const a of acks.slice(4, 15)) expect(seqs).toContain(a.seq);
    for (const m of byTime.messages) expect(m.ts).toBeGreaterThanOrEqual(acks[4]!.ts);
  });

  it('stops for good on a revoked token and on logout', async () => {
    const app = await newApp();
    const oldToken = await token(app, 'alice');
    const alice = await client(app, 'alice');
    await admin('POST', `/v1/apps/${app}/revocations`, { userId: 'alice' });
    await until('alice kicked', () => alice.client.state === 'kicked');
    expect(alice.states.at(-1)).toMatchObject({ kick: { reason: 'token-revoked' }, willReconnect: false });

    // A token issued before the revocation is refused: a fatal auth error, no reconnect loop.
    const again = await client(app, 'alice', { deviceId: 'alice-again', getToken: () => oldToken }, false);
    await expect(again.client.connect()).rejects.toMatchObject({ code: 'IM_TOKEN_REVOKED' });
    expect(again.states.at(-1)).toMatchObject({ state: 'offline', willReconnect: false, reason: 'IM_TOKEN_REVOKED' });
    expect(again.states.filter((st) => st.state === 'connecting')).toHaveLength(1);

    const bob = await client(app, 'bob');
    await bob.client.logout();
    expect(bob.client.state).toBe('offline');
    await sleep(300);
    expect(bob.states.at(-1)).toMatchObject({ state: 'offline', willReconnect: false });
    expect(bob.states.filter((st) => st.state === 'connecting')).toHaveLength(1);
  });
});
