import { describe, expect, it } from 'vitest';
import { TurnBatcher } from './turn-batcher.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('TurnBatcher', () => {
  it('keeps a key moving when its send throws instead of returning a rejected promise', async () => {
    const sent: number[][] = [];
    const batcher = new TurnBatcher<string, number>({
      idOf: (k) => k,
      maxItems: 10,
      send: (_key, items) => {
        sent.push(items);
        if (items[0] === 1) throw new Error('sync failure');
        return Promise.resolve();
      },
    });
    batcher.add('a', 1);
    await turn();
    batcher.add('a', 2);
    batcher.add('a', 3);
    await turn();
    expect(sent).toEqual([[1], [2, 3]]);
  });

  it('lets maxInFlight batches of a key go at once before the next waits', async () => {
    const sent: number[][] = [];
    const done: Array<() => void> = [];
    const batcher = new TurnBatcher<string, number>({
      idOf: (k) => k,
      maxItems: 10,
      maxInFlight: 2,
      send: (_key, items) => {
        sent.push(items);
        return new Promise<void>((resolve) => done.push(resolve));
      },
    });
    for (const n of [1, 2, 3]) {
      batcher.add('a', n);
      await turn();
    }
    batcher.add('a', 4);
    await turn();
    expect(sent).toEqual([[1], [2]]);
    done[1]!();
    await turn();
    expect(sent).toEqual([[1], [2], [3, 4]]);
  });

  it("with turnEnd 'nextTick', sends a turn's items before the next I/O turn, together with its promise continuations", async () => {
    const sent: number[][] = [];
    const batcher = new TurnBatcher<string, number>({
      idOf: (k) => k,
      maxItems: 10,
      maxInFlight: Infinity,
      turnEnd: 'nextTick',
      send: (_key, items) => {
        sent.push(items);
        return Promise.resolve();
      },
    });
    batcher.add('a', 1);
    void Promise.resolve().then(() => batcher.add('a', 2));
    let immediateRan = false;
    setImmediate(() => (immediateRan = true));
    await new Promise((r) => process.nextTick(r));
    expect(sent).toEqual([[1, 2]]);
    expect(immediateRan).toBe(false);
  });
});
