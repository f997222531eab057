// The SeqAllocator contract (services/ports/seq-allocator.ts), written once and run against
// every adapter: the in-memory one in the `unit` project, Redis + MongoDB in the integration
// suites. Every test uses fresh AppIds and conversation ids, so one server can serve them all.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqAllocator } from './seq-allocator.js';

export interface SeqAllocatorFixture {
  seq: SeqAllocator;
  cleanup(): Promise<void>;
}

export function seqAllocatorContract(name: string, make: () => Promise<SeqAllocatorFixture>): void {
  describe(`SeqAllocator contract: ${name}`, () => {
    let fx: SeqAllocatorFixture;
    let seq: SeqAllocator;
    const id = (kind: string): string => `${kind}-${randomUUID()}`;

    beforeEach(async () => {
      fx = await make();
      seq = fx.seq;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('issues 1, 2, 3 for a new conversation and current() reports the highest', async () => {
      const app = id('app');
      const conv = id('conv');
      expect(await seq.current(app, conv)).toBe(0);
      expect(await seq.next(app, conv)).toBe(1);
      expect(await seq.current(app, conv)).toBe(1);
      expect(await seq.next(app, conv)).toBe(2);
      expect(await seq.next(app, conv)).toBe(3);
      expect(await seq.current(app, conv)).toBe(3);
    });

    it('current() does not allocate', async () => {
      const app = id('app');
      const conv = id('conv');
      await seq.current(app, conv);
      await seq.current(app, conv);
      expect(await seq.next(app, conv)).toBe(1);
      await seq.current(app, conv);
      expect(await seq.next(app, conv)).toBe(2);
    });

    it('counters are independent per conversation and per app', async () => {
      const [appA, appB] = [id('app'), id('app')];
      const [c1, c2] = [id('conv'), id('conv')];
      expect(await seq.next(appA, c1)).toBe(1);
      expect(await seq.next(appA, c1)).toBe(2);
      expect(await seq.next(appA, c2)).toBe(1);
      expect(await seq.next(appB, c1)).toBe(1);
      expect(await seq.next(appA, c1)).toBe(3);
      expect(await seq.next(appB, c1)).toBe(2);
      expect(await seq.next(appA, c2)).toBe(2);
      expect(await seq.current(appA, c1)).toBe(3);
      expect(await seq.current(appA, c2)).toBe(2);
      expect(await seq.current(appB, c1)).toBe(2);
      expect(await seq.current(appB, c2)).toBe(0);
    });

    it('200 concurrent next() calls get 200 distinct values without gaps', async () => {
      const app = id('app');
      const conv = id('conv');
      const other = id('conv');
      const calls = Array.from({ length: 200 }, (_, i) => seq.next(app, i % 4 === 0 ? other : conv));
      const got = await Promise.all(calls);
      const mine = got.filter((_, i) => i % 4 !== 0).sort((a, b) => a - b);
      const others = got.filter((_, i) => i % 4 === 0).sort((a, b) => a - b);
      expect(mine).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      expect(others).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(await seq.current(app, conv)).toBe(150);
      expect(await seq.next(app, conv)).toBe(151);

      const solo = id('conv');
      const all = await Promise.all(Array.from({ length: 200 }, () => seq.next(app, solo)));
      expect([...all].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await seq.current(app, solo)).toBe(200);
    });
  });
}
