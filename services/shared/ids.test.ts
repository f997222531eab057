import { describe, expect, it } from 'vitest';
import { decodeId, ID_EPOCH_MS, IdGenerator } from './ids.js';

describe('IdGenerator', () => {
  it('makes unique, increasing ids that carry time and worker id', () => {
    let now = ID_EPOCH_MS + 1_000_000;
    const gen = new IdGenerator(7, () => now);
    const ids: bigint[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i % 1000 === 0) now += 1;
      ids.push(BigInt(gen.next()));
    }
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(decodeId(ids[0]!.toString())).toMatchObject({ workerId: 7, ms: ID_EPOCH_MS + 1_000_001 });
  });

  it('never goes backwards when the clock steps back', () => {
    let now = ID_EPOCH_MS + 5000;
    const gen = new IdGenerator(1, () => now);
    const a = BigInt(gen.next());
    now -= 3000;
    const b = BigInt(gen.next());
    expect(b > a).toBe(true);
  });

  it('gives two workers disjoint ids in the same millisecond', () => {
    const now = () => ID_EPOCH_MS + 42;
    const a = new IdGenerator(1, now);
    const b = new IdGenerator(2, now);
    const all = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      all.add(a.next());
      all.add(b.next());
    }
    expect(all.size).toBe(6000);
  });

  it('rejects worker ids outside 0..1023', () => {
    expect(() => new IdGenerator(1024)).toThrow(RangeError);
    expect(() => new IdGenerator(-1)).toThrow(RangeError);
  });
});
