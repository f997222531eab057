import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FrameInit } from '../../protocol/frame-codec.js';
import { CursorKeeper } from './cursor-keeper.js';
import { type Cursors, MemoryCursorStore } from './cursor-store.js';

/** A store and a connection that log, in one list, what happened in which order. */
function setup(opts: { online?: boolean; failSave?: boolean } = {}) {
  const log: string[] = [];
  const cursors = new Map<string, number>();
  const store = new MemoryCursorStore();
  const save = store.save.bind(store);
  store.save = async (scope: string, c: Cursors) => {
    log.push(`save ${JSON.stringify(c)}`);
    if (opts.failSave) throw new Error('disk full');
    return save(scope, c);
  };
  const link = {
    write(f: FrameInit): boolean {
      log.push(`ack ${f.pushAck?.cursors?.map((c) => `${c?.conversation}=${c?.seq}`).join(',')}`);
      return true;
    },
  };
  const errors: unknown[] = [];
  const keeper = new CursorKeeper({
    store,
    batchMs: 50,
    cursorOf: (c) => cursors.get(c) ?? 0,
    online: () => (opts.online === false ? undefined : link),
    report: (e) => errors.push(e),
  });
  const move = (conversation: string, seq: number) => {
    cursors.set(conversation, seq);
    keeper.cursorMoved(conversation);
  };
  return { log, store, keeper, move, errors };
}

/** Set up and signed in as alice on device d1. */
async function signedIn(opts: { online?: boolean; failSave?: boolean } = {}) {
  const s = setup(opts);
  await s.keeper.load('app', 'alice', 'd1');
  return s;
}

describe('CursorKeeper', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('saves the cursors that moved within one batch, then acknowledges them in one PushAck', async () => {
    const { log, move } = await signedIn();
    move('s:alice:bob', 3);
    await vi.advanceTimersByTimeAsync(20);
    move('s:alice:bob', 4);
    move('s:alice:carol', 1);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(30);
    expect(log).toEqual(['save {"s:alice:bob":4,"s:alice:carol":1}', 'ack s:alice:bob=4,s:alice:carol=1']);
  });

  it('splits a large batch into PushAcks of at most 100 cursors', async () => {
    const { log, move } = await signedIn();
    for (let i = 0; i < 250; i++) move(`s:alice:u${i}`, 1);
    await vi.advanceTimersByTimeAsync(50);
    expect(log.filter((l) => l.startsWith('ack')).map((l) => l.split(',').length)).toEqual([100, 100, 50]);
  });

  it('offline, it still saves (the next sync request carries the cursors)', async () => {
    const { log, move } = await signedIn({ online: false });
    move('s:alice:bob', 2);
    await vi.advanceTimersByTimeAsync(50);
    expect(log).toEqual(['save {"s:alice:bob":2}']);
  });

  it('reports a failed save and still acknowledges', async () => {
    const { log, move, errors } = await signedIn({ failSave: true });
    move('s:alice:bob', 2);
    await vi.advanceTimersByTimeAsync(50);
    expect(errors).toEqual([new Error('disk full')]);
    expect(log).toEqual(['save {"s:alice:bob":2}', 'ack s:alice:bob=2']);
  });

  it('close() saves at once instead of waiting for the batch', async () => {
    const { log, keeper, move } = await signedIn();
    move('s:alice:bob', 9);
    await keeper.close();
    expect(log).toEqual(['save {"s:alice:bob":9}', 'ack s:alice:bob=9']);
    await vi.advanceTimersByTimeAsync(100);
    expect(log).toHaveLength(2);
  });

  it('loads the stored cursors once per app, user and device; a failing store counts as empty', async () => {
    const { keeper, store, errors } = setup();
    await store.save('app/alice/d1', { 's:alice:bob': 7 });
    expect(await keeper.load('app', 'alice', 'd1')).toEqual({ 's:alice:bob': 7 });
    expect(await keeper.load('app', 'alice', 'd1')).toBeNull();
    store.load = () => Promise.reject(new Error('blocked'));
    expect(await keeper.load('app', 'bob', 'd1')).toEqual({});
    expect(errors).toEqual([new Error('blocked')]);
  });
});
