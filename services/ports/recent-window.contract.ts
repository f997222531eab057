// The RecentWindow contract (services/ports/recent-window.ts, docs/architecture.md §2 step 4),
// written once and run against every adapter: the in-memory one in the `unit` project, Redis in the
// integration suites. Every test uses fresh AppIds and conversation ids.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecentWindow, RecentWindowLimits } from './recent-window.js';
import type { StoredMessage } from './stored-message.js';
import { plain, seqs, span } from './stored-message-checks.js';

export interface RecentWindowFixture {
  window: RecentWindow;
  cleanup(): Promise<void>;
}

const HOUR = 3_600_000;
const roomy: RecentWindowLimits = { size: 100, retentionMs: HOUR };

export function recentWindowContract(name: string, make: () => Promise<RecentWindowFixture>): void {
  describe(`RecentWindow contract: ${name}`, () => {
    let fx: RecentWindowFixture;
    let window: RecentWindow;
    let app: string;
    let conv: string;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const msg = (seq: number, overrides: Partial<StoredMessage> = {}): StoredMessage => ({
      conversation: conv,
      seq,
      msgId: String(7_000_000_000_000_000_000n + BigInt(seq)),
      sender: 'alice',
      senderDevice: 'phone-1',
      clientMsgId: `cm-${seq}`,
      ts: Date.now(),
      kind: 1,
      contentType: 'text/plain',
      body: new TextEncoder().encode(`body ${seq} ✓`),
      recallsSeq: 0,
      recalled: false,
      ...overrides,
    });
    const all = (): Promise<StoredMessage[]> => window.range(app, conv, 0, Number.MAX_SAFE_INTEGER);

    beforeEach(async () => {
      fx = await make();
      window = fx.window;
      app = id('app');
      conv = `c:${id('conv')}`;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('keeps every field and is idempotent per seq: the first write wins', async () => {
      const first = msg(1, { kind: 3, contentType: 'application/json', recallsSeq: 0, senderDevice: 'web-9' });
      await window.append(app, first, roomy);
      await window.append(app, first, roomy);
      await window.append(app, msg(1, { body: new Uint8Array([1, 2, 3]), msgId: '1', ts: 5 }), roomy);

      const held = await window.range(app, conv, 1, 1);
      expect(held.map(plain)).toEqual([plain(first)]);
      expect((await all()).length).toBe(1);
    });

    it('range returns what the window holds between from and to, ascending', async () => {
      for (let s = 1; s <= 10; s++) await window.append(app, msg(s), roomy);
      expect(seqs(await window.range(app, conv, 3, 7))).toEqual([3, 4, 5, 6, 7]);
      expect(seqs(await window.range(app, conv, 10, 10))).toEqual([10]);
      expect(seqs(await window.range(app, conv, 8, 20))).toEqual([8, 9, 10]);
      expect(await window.range(app, conv, 11, 20)).toEqual([]);
      expect(await window.range(app, `c:${id('conv')}`, 1, 10)).toEqual([]);
    });

    it('out-of-order appends come back in seq order', async () => {
      for (const s of [5, 3, 4, 1, 2, 3, 7]) await window.append(app, msg(s), roomy);
      expect(seqs(await all())).toEqual([1, 2, 3, 4, 5, 7]);
      expect(seqs(await window.range(app, conv, 2, 6))).toEqual([2, 3, 4, 5]);
    });

    it('old messages are trimmed, keeping at least `size` newest and never more than size × 10', async () => {
      const limits: RecentWindowLimits = { size: 3, retentionMs: 60_000 };
      const old = Date.now() - HOUR;
      for (let s = 1; s <= 50; s++) await window.append(app, msg(s, { ts: old + s }), limits);
      const held = seqs(await all());
      expect(held.length).toBeLessThanOrEqual(30);
      expect(held.slice(-3)).toEqual([48, 49, 50]);
      expect(held).toEqual([...held].sort((a, b) => a - b));
    });

    it('every message younger than retentionMs is kept beyond `size`, up to size × 10', async () => {
      const limits: RecentWindowLimits = { size: 3, retentionMs: HOUR };
      for (let s = 1; s <= 20; s++) await window.append(app, msg(s), limits);
      expect(seqs(await all())).toEqual(span(1, 20));

      for (let s = 21; s <= 45; s++) await window.append(app, msg(s), limits);
      expect(seqs(await all())).toEqual(span(16, 45));
    });

    it('young messages outlive old ones: after old traffic, every young message is still held', async () => {
      const limits: RecentWindowLimits = { size: 3, retentionMs: 60_000 };
      const old = Date.now() - HOUR;
      for (let s = 1; s <= 5; s++) await window.append(app, msg(s, { ts: old + s }), limits);
      for (let s = 6; s <= 15; s++) await window.append(app, msg(s), limits);
      const held = seqs(await all());
      expect(held.slice(held.indexOf(6))).toEqual(span(6, 15));
      expect(held.length).toBeLessThanOrEqual(30);
    });

    it('markRecalled drops the body and keeps the rest; a redelivered append does not restore it', async () => {
      const m1 = msg(1);
      const m2 = msg(2);
      await window.append(app, m1, roomy);
      await window.append(app, m2, roomy);
      await window.markRecalled(app, conv, 1);
      await window.markRecalled(app, conv, 99);
      await window.markRecalled(app, `c:${id('conv')}`, 1);

      const expected = [plain({ ...m1, recalled: true, body: new Uint8Array(0) }), plain(m2)];
      expect((await all()).map(plain)).toEqual(expected);
      await window.append(app, m1, roomy);
      expect((await all()).map(plain)).toEqual(expected);
    });

    it('apps are isolated: the same conversation id in two apps has separate windows', async () => {
      const other = id('app');
      const mine = [msg(1), msg(2)];
      for (const m of mine) await window.append(app, m, roomy);
      expect(await window.range(other, conv, 0, 100)).toEqual([]);

      const theirs = msg(1, { sender: 'mallory', body: new Uint8Array([9]) });
      await window.append(other, theirs, roomy);
      await window.markRecalled(other, conv, 2);
      expect((await window.range(other, conv, 0, 100)).map(plain)).toEqual([plain(theirs)]);
      expect((await all()).map(plain)).toEqual(mine.map(plain));
    });
  });
}
