import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-message-store.js';
import { MemoryRecentWindow } from '../adapters/memory/memory-recent-window.js';
import type { StoredMessage } from '../ports/stored-message.js';
import { MessageReader } from './message-reader.js';

const APP = 'app';
const CONV = 's:a:b';
const GRACE = 1000;
const limits = { size: 100, retentionMs: 60_000 };

function message(seq: number, ts: number): StoredMessage {
  return {
    conversation: CONV,
    seq,
    msgId: `m${seq}`,
    sender: 'a',
    senderDevice: 'a-1',
    clientMsgId: `c${seq}`,
    ts,
    kind: 0,
    contentType: 'text',
    body: new Uint8Array([seq]),
    recallsSeq: 0,
    recalled: false,
  };
}

function world() {
  let now = 10_000;
  const window = new MemoryRecentWindow(() => now);
  const store = new MemoryMessageStore();
  const reader = new MessageReader(window, store, GRACE, () => now);
  const shape = async (from: number, to: number) => {
    const r = await reader.range(APP, CONV, from, to);
    return { slots: r.slots.map((s) => ('empty' in s ? `${s.seq}:empty` : `${s.seq}`)), retryAfterMs: r.retryAfterMs };
  };
  return { window, store, shape, advance: (ms: number) => (now += ms), now: () => now };
}

describe('MessageReader.range', () => {
  it('reads from the window and the store together', async () => {
    const w = world();
    await w.store.insertMany(APP, [message(1, 9_000), message(2, 9_100)]);
    await w.window.append(APP, message(3, 9_200), limits);
    expect(await w.shape(1, 3)).toEqual({ slots: ['1', '2', '3'], retryAfterMs: 0 });
  });

  it('calls a missing seq empty once a later stored message is older than the grace period', async () => {
    const w = world();
    await w.store.insertMany(APP, [message(1, w.now()), message(3, w.now())]);
    expect(await w.shape(1, 3)).toEqual({ slots: ['1'], retryAfterMs: GRACE });
    w.advance(GRACE);
    expect(await w.shape(1, 3)).toEqual({ slots: ['1', '2:empty', '3'], retryAfterMs: 0 });
    // A range that ends inside the gap is judged by the first stored message after it.
    expect(await w.shape(2, 2)).toEqual({ slots: ['2:empty'], retryAfterMs: 0 });
  });

  it('never calls a seq empty on the strength of a later message that is only in the window', async () => {
    // Redis lost the window with seq 2 in it (acked, still queued for the store); seq 3 came after.
    const w = world();
    await w.store.insertMany(APP, [message(1, w.now())]);
    await w.window.append(APP, message(3, w.now()), limits);
    w.advance(GRACE * 5);
    // Long past the grace, but the store has not caught up: ask again soon, and not empty.
    const waiting = await w.shape(1, 3);
    expect(waiting.slots).toEqual(['1']);
    expect(waiting.retryAfterMs).toBeGreaterThan(0);
    expect(waiting.retryAfterMs).toBeLessThanOrEqual(GRACE);
    // The consumer writes 2 and 3 (in queue order): 2 is there after all.
    await w.store.insertMany(APP, [message(2, w.now() - GRACE * 5), message(3, w.now() - GRACE * 5)]);
    expect(await w.shape(1, 3)).toEqual({ slots: ['1', '2', '3'], retryAfterMs: 0 });
  });

  it('waits out the rest of the grace period from the later message in the window', async () => {
    const w = world();
    await w.store.insertMany(APP, [message(1, w.now())]);
    await w.window.append(APP, message(3, w.now()), limits);
    w.advance(300);
    expect(await w.shape(1, 3)).toEqual({ slots: ['1'], retryAfterMs: GRACE - 300 });
  });

  it('asks again after the whole grace period when nothing later exists yet', async () => {
    const w = world();
    await w.store.insertMany(APP, [message(1, w.now())]);
    w.advance(GRACE * 3);
    expect(await w.shape(1, 2)).toEqual({ slots: ['1'], retryAfterMs: GRACE });
  });
});
