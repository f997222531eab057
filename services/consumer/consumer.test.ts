import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryBackends } from '../adapters/memory/memory-backends.js';
import { encodeStoreRecord } from '../logic/message-codec.js';
import type { StoredMessage } from '../ports/stored-message.js';
import { compileConfig } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import { roleConfig } from '../shared/role-config.js';
import { Consumer } from './consumer.js';

const CONVERSATION = 'alice:bob';

function message(seq: number): StoredMessage {
  return {
    conversation: CONVERSATION,
    seq,
    msgId: String(1000 + seq),
    sender: 'alice',
    senderDevice: 'd1',
    clientMsgId: `m${seq}`,
    ts: Date.now(),
    kind: 0,
    contentType: 'text/plain',
    body: new Uint8Array([seq]),
    recallsSeq: 0,
    recalled: false,
  };
}

/** A consumer on memory backends whose store records every insertMany batch size. */
async function consumerFixture(consumer: { lingerMs: number; maxBatch: number }) {
  const backends = createMemoryBackends();
  const batches: number[] = [];
  const insertMany = backends.store.insertMany.bind(backends.store);
  backends.store.insertMany = (appId, messages) => {
    batches.push(messages.length);
    return insertMany(appId, messages);
  };
  const role = new Consumer(
    roleConfig(compileConfig({ consumer }), 'consumer'),
    backends,
    createLogger('consumer', 'test', 'silent'),
    createMetrics(),
  );
  await role.start();
  const publish = (seqs: number[]) =>
    Promise.all(
      seqs.map((seq) =>
        backends.bus.publishStore(encodeStoreRecord({ appId: 'app1', message: message(seq), members: ['alice', 'bob'], traceId: '' })),
      ),
    );
  // Deliveries, inserts and settlements run on setImmediate and promises, which stay real.
  const turns = async (n = 20) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  };
  return { backends, batches, publish, turns, stop: () => role.stop() };
}

describe('Consumer batching (consumer.lingerMs, consumer.maxBatch)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the first record of a batch for lingerMs, then writes what came meanwhile in one insert', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const f = await consumerFixture({ lingerMs: 50, maxBatch: 500 });
    await f.publish([1, 2, 3]);
    await f.turns();
    vi.advanceTimersByTime(49);
    await f.turns();
    expect(f.batches).toEqual([]);
    expect(await f.backends.store.count('app1', CONVERSATION)).toBe(0);

    vi.advanceTimersByTime(1);
    await f.turns();
    expect(f.batches).toEqual([3]);
    expect(await f.backends.store.count('app1', CONVERSATION)).toBe(3);
    await f.stop();
  });

  it('writes a full batch at once, and then what queued behind it, without waiting for the linger', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const f = await consumerFixture({ lingerMs: 50, maxBatch: 2 });
    await f.publish([1, 2, 3]);
    await f.turns();
    // Under load a write takes the place of the linger: the batch that follows goes right after it.
    expect(f.batches).toEqual([2, 1]);
    expect(await f.backends.store.count('app1', CONVERSATION)).toBe(3);
    await f.stop();
  });

  it('writes what it holds when stopped, without waiting for the linger', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const f = await consumerFixture({ lingerMs: 10_000, maxBatch: 500 });
    await f.publish([1, 2]);
    await f.turns();
    expect(f.batches).toEqual([]);
    await f.stop();
    expect(f.batches).toEqual([2]);
    expect(await f.backends.store.count('app1', CONVERSATION)).toBe(2);
  });
});
