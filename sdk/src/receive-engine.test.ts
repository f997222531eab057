import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeFrame, encodeFrame, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { ImClientError } from './client-error.js';
import { ConversationList } from './conversation-list.js';
import type { Outgoing } from './conversation-sender.js';
import { MemoryCursorStore } from './cursor-store.js';
import type { Link } from './gate-connection.js';
import { ReceiveEngine } from './receive-engine.js';
import type { ChatMessage, ImClientEvents } from './types.js';

const BOB = 's:alice:bob';
const CAROL = 's:alice:carol';

/** A frame as the decoder hands it out (defaults filled in). */
const frame = (init: FrameInit): Frame => decodeFrame(encodeFrame(init));
const msg = (conversation: string, seq: number, text = `${conversation.split(':')[2]}${seq}`): imcloud.v1.IMessage => ({
  conversation,
  seq,
  msgId: String(seq),
  sender: conversation.split(':')[2],
  contentType: 'text',
  body: new TextEncoder().encode(text),
});
const push = (...messages: imcloud.v1.IMessage[]) => frame({ push: { messages } });

class FakeLink implements Link {
  current = true;
  written: FrameInit[] = [];
  closed?: { code: number; reason: string };
  write(f: FrameInit): boolean {
    this.written.push(f);
    return true;
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
    this.current = false;
  }
}

/** A request the engine made; the test answers it as the server would. */
interface Asked {
  body: FrameInit;
  link: Link;
  answer(init: FrameInit): void;
  fail(err: ImClientError): void;
}

function setup() {
  const store = new MemoryCursorStore();
  const list = new ConversationList((c) => c.split(':')[2]);
  const asked: Asked[] = [];
  const events: Array<{ event: keyof ImClientEvents; payload: unknown }> = [];
  const errors: unknown[] = [];
  const state = { link: new FakeLink() as FakeLink | undefined, syncsCompleted: 0 };
  const engine = new ReceiveEngine({
    deviceId: 'alice-dev',
    list,
    cursorStore: store,
    gapGraceMs: 300,
    syncPageSize: 2,
    ackBatchMs: 50,
    userId: () => 'alice',
    online: () => state.link,
    request: (body, link) =>
      new Promise<Frame>((resolve, reject) => asked.push({ body, link, answer: (init) => resolve(frame(init)), fail: reject })),
    emit: (event, payload) => void events.push({ event, payload }),
    conversationsChanged: () => undefined,
    report: (err) => void errors.push(err),
    syncCompleted: () => void (state.syncsCompleted += 1),
  });
  const texts = () => events.filter((e) => e.event === 'message').map((e) => (e.payload as ChatMessage).text);
  const of = (event: keyof ImClientEvents) => events.filter((e) => e.event === event).map((e) => e.payload);
  return { engine, store, list, asked, errors, state, texts, of, link: state.link! };
}

describe('ReceiveEngine', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('delivers pushes once and in seq order, and pulls a gap still open after the grace', async () => {
    const { engine, asked, texts, link } = setup();
    engine.handle(push(msg(BOB, 1), msg(BOB, 3)));
    engine.handle(push(msg(BOB, 1)));
    expect(texts()).toEqual(['bob1']);
    await vi.advanceTimersByTimeAsync(299);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // The range reaches the first message held (3), so the server can judge whether 2 is empty.
    expect(asked.map((a) => a.body.pull)).toEqual([{ conversation: BOB, fromSeq: 2, toSeq: 3 }]);
    asked[0].answer({ pullResult: { messages: [msg(BOB, 2), msg(BOB, 3)] } });
    await vi.advanceTimersByTimeAsync(50);
    expect(texts()).toEqual(['bob1', 'bob2', 'bob3']);
    // Cursor 1 was acknowledged in the batch after the first push, cursor 3 after the pull.
    expect(link.written.map((f) => f.pushAck)).toEqual([
      { cursors: [{ conversation: BOB, seq: 1 }] },
      { cursors: [{ conversation: BOB, seq: 3 }] },
    ]);
  });

  it('does not pull a gap that a late push fills within the grace', async () => {
    const { engine, asked, texts } = setup();
    engine.handle(push(msg(BOB, 1), msg(BOB, 3)));
    await vi.advanceTimersByTimeAsync(100);
    engine.handle(push(msg(BOB, 2)));
    await vi.advanceTimersByTimeAsync(1000);
    expect(texts()).toEqual(['bob1', 'bob2', 'bob3']);
    expect(asked).toEqual([]);
  });

  it('skips an empty slot with a skipped event and no message', () => {
    const { engine, texts, of } = setup();
    engine.handle(push(msg(BOB, 1), { conversation: BOB, seq: 2, empty: true }, msg(BOB, 3)));
    expect(texts()).toEqual(['bob1', 'bob3']);
    expect(of('skipped')).toEqual([{ conversation: BOB, fromSeq: 2, toSeq: 2, reason: 'empty' }]);
  });

  it('delivers an acknowledged own send as an own message; its push later is a duplicate', () => {
    const { engine, of } = setup();
    const out: Outgoing = {
      clientMsgId: 'c1',
      conversation: BOB,
      body: { send: { clientMsgId: 'c1', to: 'bob', contentType: 'text', body: new TextEncoder().encode('hi') } },
    };
    engine.ownMessageAcked(out, { clientMsgId: 'c1', conversation: BOB, seq: 1, msgId: '1', ts: 5, duplicate: false });
    engine.handle(push({ ...msg(BOB, 1, 'hi'), sender: 'alice' }));
    expect(of('message')).toMatchObject([{ seq: 1, text: 'hi', own: true, sender: 'alice', senderDevice: 'alice-dev' }]);
  });

  it('syncs page by page from the stored cursors; a conversation new to the device starts where the server says', async () => {
    const { engine, store, asked, texts, of, state } = setup();
    await store.save('app/alice/alice-dev', { [BOB]: 5 });
    await engine.loadCursors('app', 'alice');
    const syncing = engine.sync(state.link!);
    expect(asked[0].body.sync).toEqual({ cursors: [{ conversation: BOB, seq: 5 }], pageSize: 2 });
    asked[0].answer({
      syncPage: {
        conversations: [
          { conversation: BOB, peer: 'bob', maxSeq: 7 },
          { conversation: CAROL, peer: 'carol', minSeq: 8, maxSeq: 9 },
        ],
        messages: [msg(BOB, 6), msg(BOB, 7), msg(CAROL, 8)],
        hasMore: true,
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    // The next request carries the advanced cursors: that acknowledges the first page.
    expect(asked[1].body.sync?.cursors).toEqual([
      { conversation: BOB, seq: 7 },
      { conversation: CAROL, seq: 8 },
    ]);
    asked[1].answer({ syncPage: { messages: [msg(CAROL, 9)], hasMore: false } });
    await syncing;
    expect(texts()).toEqual(['bob6', 'bob7', 'carol8', 'carol9']);
    expect(of('skipped')).toEqual([{ conversation: CAROL, fromSeq: 1, toSeq: 7, reason: 'history' }]);
    expect(of('synced')).toEqual([{ conversations: 2, messages: 4, pages: 2 }]);
    expect(state.syncsCompleted).toBe(1);
  });

  it('keeps its place in a conversation first seen after a sync, and syncs it from there on the next connection', async () => {
    const { engine, asked, state } = setup();
    const first = engine.sync(state.link!);
    asked[0].answer({ syncPage: {} });
    await first;
    engine.handle(push(msg(CAROL, 1), msg(CAROL, 2)));
    // The connection drops; the next one syncs carol's conversation from its cursor.
    engine.connectionLost();
    state.link = new FakeLink();
    void engine.sync(state.link);
    expect(asked[1].body.sync?.cursors).toEqual([{ conversation: CAROL, seq: 2 }]);
  });

  it('waits as the server asks when a sync page is not ready yet', async () => {
    const { engine, asked, state, of } = setup();
    const syncing = engine.sync(state.link!);
    asked[0].answer({ syncPage: { retryAfterMs: 500 } });
    await vi.advanceTimersByTimeAsync(499);
    expect(asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toHaveLength(2);
    asked[1].answer({ syncPage: {} });
    await syncing;
    expect(of('synced')).toEqual([{ conversations: 0, messages: 0, pages: 2 }]);
  });

  it('closes a connection whose sync fails, and reports why', async () => {
    const { engine, asked, errors, state } = setup();
    const syncing = engine.sync(state.link!);
    asked[0].fail(new ImClientError('SDK_TIMEOUT', 'no answer to sync in time'));
    await syncing;
    expect(state.link!.closed).toEqual({ code: 4004, reason: 'sync failed' });
    expect(errors).toMatchObject([{ code: 'SDK_TIMEOUT' }]);
  });

  it('updates the conversation list from delivery and read notices', () => {
    const { engine, list, of } = setup();
    engine.handle(frame({ deliveryNotice: { conversation: BOB, user: 'bob', seq: 4 } }));
    engine.handle(frame({ readNotice: { conversation: BOB, user: 'bob', seq: 3 } }));
    engine.handle(frame({ readNotice: { conversation: BOB, user: 'alice', seq: 2 } }));
    expect(list.get(BOB)).toMatchObject({ peerDeliveredSeq: 4, peerReadSeq: 3, readSeq: 2 });
    expect(of('delivered')).toEqual([{ conversation: BOB, user: 'bob', seq: 4 }]);
    expect(of('read')).toEqual([
      { conversation: BOB, user: 'bob', seq: 3 },
      { conversation: BOB, user: 'alice', seq: 2 },
    ]);
  });
});
