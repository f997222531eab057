// The SeqHighWater contract (services/ports/seq-high-water.ts), written once and run against
// every adapter: the in-memory one in the `unit` project, MongoDB on FerretDB in the integration
// suites. Every test uses fresh AppIds and conversation ids, so one server can serve them all.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeqHighWater } from './seq-high-water.js';

export interface SeqHighWaterFixture {
  highWater: SeqHighWater;
  /** A second instance on the same durable state, as another process would have. */
  peer: SeqHighWater;
  cleanup(): Promise<void>;
}

export function seqHighWaterContract(name: string, make: () => Promise<SeqHighWaterFixture>): void {
  describe(`SeqHighWater contract: ${name}`, () => {
    let fx: SeqHighWaterFixture;
    let hw: SeqHighWater;
    const id = (kind: string): string => `${kind}-${randomUUID()}`;

    beforeEach(async () => {
      fx = await make();
      hw = fx.highWater;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('a new conversation starts at 0; each reservation returns the mark after it', async () => {
      const [app, conv] = [id('app'), id('conv')];
      expect(await hw.reserve(app, conv, 100)).toBe(100);
      expect(await hw.reserve(app, conv, 100)).toBe(200);
      expect(await hw.reserve(app, conv, 1)).toBe(201);
      expect(await hw.reserve(app, conv, 1_000)).toBe(1_201);
    });

    it('marks are independent per conversation and per app', async () => {
      const [appA, appB] = [id('app'), id('app')];
      const [c1, c2] = [id('conv'), id('conv')];
      expect(await hw.reserve(appA, c1, 100)).toBe(100);
      expect(await hw.reserve(appA, c2, 300)).toBe(300);
      expect(await hw.reserve(appB, c1, 200)).toBe(200);
      expect(await hw.reserve(appA, c1, 100)).toBe(200);
      expect(await hw.reserve(appB, c2, 100)).toBe(100);
    });

    it('reservations from two instances, one after the other, continue one mark', async () => {
      const [app, conv] = [id('app'), id('conv')];
      const marks: number[] = [];
      for (let i = 0; i < 6; i++) marks.push(await (i % 2 ? fx.peer : hw).reserve(app, conv, 10));
      expect(marks).toEqual([10, 20, 30, 40, 50, 60]);
    });

    it('two first reservations of a new conversation at the same moment get blocks that do not overlap', async () => {
      // The overlap every implementation must survive (see the port).
      const app = id('app');
      const convs = Array.from({ length: 30 }, () => id('conv'));
      const marks = await Promise.all(convs.map((conv) => Promise.all([hw.reserve(app, conv, 10), fx.peer.reserve(app, conv, 10)])));
      for (const pair of marks) expect([...pair].sort((a, b) => a - b)).toEqual([10, 20]);
    });
    it('any number of reservations of one conversation at once, from two instances and of mixed sizes, get blocks that never overlap', async () => {
      const [app, conv] = [id('app'), id('conv')];
      const sizes = Array.from({ length: 24 }, (_, i) => [10, 100, 1][i % 3]!);
      const ends = await Promise.all(sizes.map((size, i) => (i % 2 ? fx.peer : hw).reserve(app, conv, size)));
      const blocks = sizes.map((size, i) => [ends[i]! - size + 1, ends[i]!] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < blocks.length; i++) expect(blocks[i]![0], JSON.stringify(blocks)).toBeGreaterThan(blocks[i - 1]![1]);
      // And the next reservation starts above every one of them.
      const next = await hw.reserve(app, conv, 5);
      expect(next - 4).toBeGreaterThan(Math.max(...ends));
    });
  });
}
