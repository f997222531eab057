import { describe, expect, it } from 'vitest';
import { MAX_BATCH, MAX_BATCH_BYTES, PublishBatcher, packBatch, unpackBatch } from './publish-batch.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('packBatch / unpackBatch', () => {
  it('round-trips frames, empty ones included', () => {
    const frames = [bytes('a'), bytes(''), bytes('hello')];
    expect(unpackBatch(packBatch(frames), 3).map((b) => b.toString())).toEqual(['a', '', 'hello']);
  });

  it('refuses a body that does not hold the announced frames', () => {
    const body = packBatch([bytes('abc'), bytes('de')]);
    expect(() => unpackBatch(body, 3)).toThrow(/says 3 frames but holds 2/);
    expect(() => unpackBatch(body.subarray(0, body.length - 1), 2)).toThrow(/truncated batch: frame 2/);
    expect(() => unpackBatch(body.subarray(0, 9), 2)).toThrow(/length prefix is cut off/);
  });
});

describe('PublishBatcher', () => {
  it('sends what one turn published for a key as one batch and settles every caller with it', async () => {
    const sent: Array<{ key: string; frames: string[] }> = [];
    const batcher = new PublishBatcher<string>(
      (k) => k,
      async (key, body, count) => {
        sent.push({ key, frames: count === 1 ? [Buffer.from(body).toString()] : unpackBatch(Buffer.from(body), count).map(String) });
      },
    );
    await Promise.all([batcher.publish('a', bytes('1')), batcher.publish('b', bytes('2')), batcher.publish('a', bytes('3'))]);
    await batcher.publish('a', bytes('4'));
    expect(sent).toEqual([
      { key: 'a', frames: ['1', '3'] },
      { key: 'b', frames: ['2'] },
      { key: 'a', frames: ['4'] },
    ]);
  });

  it('rejects every caller of a batch whose publish failed', async () => {
    const batcher = new PublishBatcher<string>(
      (k) => k,
      async () => {
        throw new Error('broker gone');
      },
    );
    const results = await Promise.allSettled([batcher.publish('a', bytes('1')), batcher.publish('a', bytes('2'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it(`starts a new batch after ${MAX_BATCH} frames`, async () => {
    const counts: number[] = [];
    const batcher = new PublishBatcher<string>(
      (k) => k,
      async (_key, _body, count) => {
        counts.push(count);
      },
    );
    await Promise.all(Array.from({ length: MAX_BATCH + 1 }, (_, i) => batcher.publish('a', bytes(String(i)))));
    expect(counts).toEqual([MAX_BATCH, 1]);
  });

  it(`keeps a batch under ${MAX_BATCH_BYTES} bytes; a larger frame goes alone`, async () => {
    const counts: number[] = [];
    const batcher = new PublishBatcher<string>(
      (k) => k,
      async (_key, body, count) => {
        counts.push(count);
        if (count > 1) expect(body.length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      },
    );
    const third = new Uint8Array(Math.floor(MAX_BATCH_BYTES / 3));
    await Promise.all([third, third, third, third, new Uint8Array(MAX_BATCH_BYTES * 2), third].map((b) => batcher.publish('a', b)));
    expect(counts).toEqual([2, 2, 1, 1]);
  });

  it('collects while a batch of the key awaits its confirm, and sends the rest once it is confirmed', async () => {
    const sent: string[][] = [];
    const confirms: Array<() => void> = [];
    const batcher = new PublishBatcher<string>(
      (k) => k,
      (_key, body, count) => {
        sent.push(count === 1 ? [Buffer.from(body).toString()] : unpackBatch(Buffer.from(body), count).map(String));
        return new Promise<void>((resolve) => confirms.push(resolve));
      },
      1,
    );
    const turn = () => new Promise((r) => setImmediate(r));
    const first = batcher.publish('a', bytes('1'));
    await turn();
    expect(sent).toEqual([['1']]);
    const later = [batcher.publish('a', bytes('2'))];
    await turn();
    later.push(batcher.publish('a', bytes('3')));
    const other = batcher.publish('b', bytes('x'));
    await turn();
    // '2' and '3' wait for the confirm of '1' (two turns apart, one batch); key 'b' does not.
    expect(sent).toEqual([['1'], ['x']]);
    confirms[0]!();
    await first;
    await turn();
    expect(sent).toEqual([['1'], ['x'], ['2', '3']]);
    confirms[1]!();
    confirms[2]!();
    await Promise.all([...later, other]);
  });

  it('sends a full batch even while the key is at its in-flight limit', async () => {
    const counts: number[] = [];
    const confirms: Array<() => void> = [];
    const batcher = new PublishBatcher<string>(
      (k) => k,
      (_key, _body, count) => {
        counts.push(count);
        return new Promise<void>((resolve) => confirms.push(resolve));
      },
      1,
    );
    void batcher.publish('a', bytes('first'));
    await new Promise((r) => setImmediate(r));
    const all = Array.from({ length: MAX_BATCH + 1 }, (_, i) => batcher.publish('a', bytes(String(i))));
    expect(counts).toEqual([1, MAX_BATCH]);
    for (const c of confirms) c();
    await new Promise((r) => setImmediate(r));
    expect(counts).toEqual([1, MAX_BATCH, 1]);
    for (const c of confirms) c();
    await Promise.all(all);
  });
});
