import { describe, expect, it } from 'vitest';
import { busContract } from '../../ports/bus.contract.js';
import { MemoryBus } from './memory-bus.js';

busContract('memory', async (opts = {}) => {
  const bus = new MemoryBus({ deliveryLimit: 4, upstreamMaxBytes: opts.upstreamMaxBytes, eventsQueueMaxLength: opts.eventsQueueMaxLength });
  return { bus, deliveryLimit: 4, quietMs: 50, cleanup: () => bus.close() };
});

describe('MemoryBus upstream bound', () => {
  it('takes a burst that its consumers have room for, even past the byte bound, and refuses beyond that room', async () => {
    const bus = new MemoryBus({ upstreamMaxBytes: 1_000 });
    const taken: number[] = [];
    await bus.consumeUpstream(
      'stable',
      async (d) => {
        taken.push(d.body[0]!);
        await new Promise(() => undefined); // never settles: the consumer's room is its prefetch
      },
      { prefetch: 20 },
    );
    // 20 frames of 100 bytes in one turn: 2,000 bytes, all within the consumer's room.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => bus.publishUpstream('stable', 'app', new Uint8Array(100).fill(i))),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected').length;
    // Room for 20, then 1,000 bytes (10 frames) may wait: nothing refused yet.
    expect(refused).toBe(0);
    const more = await Promise.allSettled(Array.from({ length: 5 }, () => bus.publishUpstream('stable', 'app', new Uint8Array(100))));
    expect(more.every((o) => o.status === 'rejected')).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(taken).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await bus.close();
  });
});
