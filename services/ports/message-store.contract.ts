// The MessageStore contract (services/ports/message-store.ts, docs/architecture.md §2 step 8 and
// §9), written once and run against every adapter: the in-memory one in the `unit` project, MongoDB
// on FerretDB in the integration suites. Every test uses fresh AppIds and conversation ids.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageStore } from './message-store.js';
import type { StoredMessage } from './stored-message.js';
import { plain, seqs, span } from './stored-message-checks.js';

export interface MessageStoreFixture {
  store: MessageStore;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;

export function messageStoreContract(name: string, make: () => Promise<MessageStoreFixture>): void {
  describe(`MessageStore contract: ${name}`, () => {
    let fx: MessageStoreFixture;
    let store: MessageStore;
    let app: string;
    let conv: string;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    /** ts = T0 + seq seconds, so ts ranges and seq ranges can be told apart. */
    const msg = (seq: number, overrides: Partial<StoredMessage> = {}): StoredMessage => ({
      conversation: conv,
      seq,
      msgId: String(7_000_000_000_000_000_000n + BigInt(seq)),
      sender: seq % 2 ? 'alice' : 'bob',
      senderDevice: 'phone-1',
      clientMsgId: `cm-${seq}`,
      ts: T0 + seq * 1000,
      kind: 1,
      contentType: 'text/plain',
      body: new TextEncoder().encode(`body ${seq} ✓`),
      recallsSeq: 0,
      recalled: false,
      ...overrides,
    });
    const batch = (from: number, to: number): StoredMessage[] => span(from, to).map((s) => msg(s));

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
      app = id('app');
      conv = `c:${id('conv')}`;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('insertMany is idempotent on (conversation, seq) and returns how many were new', async () => {
      expect(await store.insertMany(app, batch(1, 5))).toBe(5);
      expect(await store.insertMany(app, batch(4, 8))).toBe(3);
      expect(await store.insertMany(app, batch(1, 8))).toBe(0);
      expect(await store.insertMany(app, [])).toBe(0);
      // Duplicates inside one batch count once.
      expect(await store.insertMany(app, [msg(9), msg(9), msg(10)])).toBe(2);
      expect(await store.count(app, conv)).toBe(10);
      expect(seqs(await store.query(app, conv, { limit: 100 }))).toEqual(span(1, 10));
    });

    it('an existing message is left alone by a later insert of the same seq', async () => {
      const original = msg(4);
      await store.insertMany(app, [original]);
      expect(await store.insertMany(app, [msg(4, { body: new Uint8Array([6, 6, 6]), sender: 'eve', msgId: '1' })])).toBe(0);
      expect(plain((await store.get(app, conv, 4))!)).toEqual(plain(original));
    });

    it('a batch may span conversations', async () => {
      const other = `c:${id('conv')}`;
      expect(await store.insertMany(app, [msg(1), msg(1, { conversation: other }), msg(2, { conversation: other })])).toBe(3);
      expect(await store.count(app, conv)).toBe(1);
      expect(await store.count(app, other)).toBe(2);
      expect((await store.get(app, other, 2))!.conversation).toBe(other);
    });

    it('get returns every field, or null', async () => {
      const m = msg(3, {
        kind: 4,
        contentType: 'application/json',
        recallsSeq: 2,
        senderDevice: 'web-7',
        body: new Uint8Array([0, 1, 254, 255]),
        mentions: ['bob', 'carol'],
      });
      await store.insertMany(app, [m, msg(5)]);
      expect(plain((await store.get(app, conv, 3))!)).toEqual(plain(m));
      // A message without mentions reads back without the field.
      expect((await store.get(app, conv, 5))!.mentions).toBeUndefined();
      expect(await store.get(app, conv, 4)).toBeNull();
      expect(await store.get(app, `c:${id('conv')}`, 3)).toBeNull();
    });

    it('query by seq range: inclusive bounds, limit takes the oldest, newestFirst the newest, always ascending', async () => {
      // Inserted out of order.
      await store.insertMany(app, [...batch(11, 20), ...batch(1, 10)]);
      expect(seqs(await store.query(app, conv, { fromSeq: 5, toSeq: 8, limit: 100 }))).toEqual([5, 6, 7, 8]);
      expect(seqs(await store.query(app, conv, { fromSeq: 5, limit: 3 }))).toEqual([5, 6, 7]);
      expect(seqs(await store.query(app, conv, { fromSeq: 5, limit: 3, newestFirst: true }))).toEqual([18, 19, 20]);
      expect(seqs(await store.query(app, conv, { toSeq: 6, limit: 2, newestFirst: true }))).toEqual([5, 6]);
      expect(seqs(await store.query(app, conv, { toSeq: 6, limit: 2 }))).toEqual([1, 2]);
      expect(seqs(await store.query(app, conv, { fromSeq: 19, toSeq: 30, limit: 100 }))).toEqual([19, 20]);
      expect(await store.query(app, conv, { fromSeq: 21, limit: 100 })).toEqual([]);
      expect(seqs(await store.query(app, conv, { limit: 100 }))).toEqual(span(1, 20));
      const page = await store.query(app, conv, { fromSeq: 2, toSeq: 2, limit: 1 });
      expect(page.map(plain)).toEqual([plain(msg(2))]);
    });

    it('query by ts range: inclusive bounds, with limit and newestFirst', async () => {
      await store.insertMany(app, batch(1, 20));
      const ts = (s: number): number => T0 + s * 1000;
      expect(seqs(await store.query(app, conv, { fromTs: ts(5), toTs: ts(8), limit: 100 }))).toEqual([5, 6, 7, 8]);
      expect(seqs(await store.query(app, conv, { fromTs: ts(5) - 1, toTs: ts(8) + 1, limit: 100 }))).toEqual([5, 6, 7, 8]);
      expect(seqs(await store.query(app, conv, { fromTs: ts(5) + 1, toTs: ts(8) - 1, limit: 100 }))).toEqual([6, 7]);
      expect(seqs(await store.query(app, conv, { fromTs: ts(10), limit: 3 }))).toEqual([10, 11, 12]);
      expect(seqs(await store.query(app, conv, { toTs: ts(10), limit: 3, newestFirst: true }))).toEqual([8, 9, 10]);
      expect(seqs(await store.query(app, conv, { fromSeq: 3, toTs: ts(6), limit: 100 }))).toEqual([3, 4, 5, 6]);
      expect(await store.query(app, conv, { fromTs: ts(21), limit: 100 })).toEqual([]);
    });

    it('markRecalled flags the message and drops its body; nothing else changes', async () => {
      await store.insertMany(app, batch(1, 3));
      await store.markRecalled(app, conv, 2);
      await store.markRecalled(app, conv, 99);
      await store.markRecalled(app, `c:${id('conv')}`, 2);

      expect(plain((await store.get(app, conv, 2))!)).toEqual(plain(msg(2, { recalled: true, body: new Uint8Array(0) })));
      expect(plain((await store.get(app, conv, 1))!)).toEqual(plain(msg(1)));
      expect(await store.get(app, conv, 99)).toBeNull();
      expect(await store.count(app, conv)).toBe(3);
      expect((await store.query(app, conv, { limit: 100 })).map((m) => m.recalled)).toEqual([false, true, false]);
      // A redelivered store record does not bring the body back.
      expect(await store.insertMany(app, [msg(2)])).toBe(0);
      expect((await store.get(app, conv, 2))!.body).toHaveLength(0);
    });

    it('count is per conversation and 0 for an unknown one', async () => {
      expect(await store.count(app, conv)).toBe(0);
      await store.insertMany(app, batch(1, 7));
      expect(await store.count(app, conv)).toBe(7);
      expect(await store.count(app, `c:${id('conv')}`)).toBe(0);
    });

    it('apps are isolated: the same conversation and seq in two apps are two messages', async () => {
      const other = id('app');
      await store.insertMany(app, batch(1, 3));
      expect(await store.count(other, conv)).toBe(0);
      expect(await store.get(other, conv, 1)).toBeNull();
      expect(await store.query(other, conv, { limit: 100 })).toEqual([]);

      const theirs = msg(1, { sender: 'mallory', body: new Uint8Array([1]) });
      expect(await store.insertMany(other, [theirs])).toBe(1);
      await store.markRecalled(other, conv, 2);
      await store.markRecalled(other, conv, 1);
      expect(plain((await store.get(app, conv, 1))!)).toEqual(plain(msg(1)));
      expect(plain((await store.get(app, conv, 2))!)).toEqual(plain(msg(2)));
      expect(await store.count(app, conv)).toBe(3);
      expect(await store.count(other, conv)).toBe(1);
    });
  });
}
