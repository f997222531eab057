// The ConversationState contract (services/ports/conversation-state.ts, docs/architecture.md §2
// steps 4 and 7), written once and run against every adapter: the in-memory one in the `unit`
// project, MongoDB on FerretDB in the integration suites. Every test uses fresh AppIds, users and
// conversations.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConversationEntry, ConversationState } from './conversation-state.js';

export interface ConversationStateFixture {
  conversations: ConversationState;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const byConv = (list: ConversationEntry[]): ConversationEntry[] => [...list].sort((a, b) => a.conversation.localeCompare(b.conversation));

export function conversationStateContract(name: string, make: () => Promise<ConversationStateFixture>): void {
  describe(`ConversationState contract: ${name}`, () => {
    let fx: ConversationStateFixture;
    let cs: ConversationState;
    let app: string;
    let conv: string;
    let alice: string;
    let bob: string;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const entry = (
      conversation: string,
      maxSeq: number,
      lastTs: number,
      readSeq = 0,
      deliveredSeq = 0,
      mentionSeq = 0,
    ): ConversationEntry => ({
      conversation,
      maxSeq,
      lastTs,
      readSeq,
      deliveredSeq,
      mentionSeq,
    });

    beforeEach(async () => {
      fx = await make();
      cs = fx.conversations;
      app = id('app');
      conv = `c:${id('conv')}`;
      alice = id('alice');
      bob = id('bob');
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('touch lists the conversation for every member, and only for them', async () => {
      await cs.touch(app, conv, [alice, bob], 1, T0 + 1);
      expect(await cs.list(app, alice)).toEqual([entry(conv, 1, T0 + 1)]);
      expect(await cs.list(app, bob)).toEqual([entry(conv, 1, T0 + 1)]);
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 1, T0 + 1));
      expect(await cs.maxSeq(app, conv)).toBe(1);

      const carol = id('carol');
      expect(await cs.list(app, carol)).toEqual([]);
      expect(await cs.get(app, carol, conv)).toBeNull();
      expect(await cs.get(app, alice, `c:${id('conv')}`)).toBeNull();
      expect(await cs.maxSeq(app, `c:${id('conv')}`)).toBe(0);
    });

    it('a user lists every conversation they are in', async () => {
      const group = `g:${id('group')}`;
      await cs.touch(app, conv, [alice, bob], 3, T0 + 3);
      await cs.touch(app, group, [alice, id('carol'), id('dave')], 9, T0 + 9);
      expect(byConv(await cs.list(app, alice))).toEqual(byConv([entry(conv, 3, T0 + 3), entry(group, 9, T0 + 9)]));
      expect(await cs.list(app, bob)).toEqual([entry(conv, 3, T0 + 3)]);
    });

    it('maxSeq only grows; a late touch with a lower seq changes nothing', async () => {
      await cs.touch(app, conv, [alice, bob], 5, T0 + 5);
      await cs.touch(app, conv, [alice, bob], 3, T0 + 3);
      expect(await cs.maxSeq(app, conv)).toBe(5);
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 5, T0 + 5));

      await cs.touch(app, conv, [alice, bob], 7, T0 + 7);
      await cs.touch(app, conv, [alice, bob], 7, T0 + 7);
      expect(await cs.maxSeq(app, conv)).toBe(7);
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 7, T0 + 7));
    });

    it('advance clamps to maxSeq, never moves backwards, and says whether it moved', async () => {
      await cs.touch(app, conv, [alice, bob], 5, T0 + 5);
      expect(await cs.advance(app, alice, conv, 'read', 3)).toEqual({ value: 3, moved: true });
      expect(await cs.advance(app, alice, conv, 'read', 2)).toEqual({ value: 3, moved: false });
      expect(await cs.advance(app, alice, conv, 'read', 3)).toEqual({ value: 3, moved: false });
      expect(await cs.advance(app, alice, conv, 'read', 100)).toEqual({ value: 5, moved: true });
      expect(await cs.advance(app, alice, conv, 'read', 100)).toEqual({ value: 5, moved: false });
      expect((await cs.get(app, alice, conv))!.readSeq).toBe(5);

      await cs.touch(app, conv, [alice, bob], 8, T0 + 8);
      expect(await cs.advance(app, alice, conv, 'read', 100)).toEqual({ value: 8, moved: true });
      expect(await cs.advance(app, alice, conv, 'read', 0)).toEqual({ value: 8, moved: false });
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 8, T0 + 8, 8, 0));
    });

    it("touch moves its sender's read cursor to the message, never back, and no one else's", async () => {
      await cs.touch(app, conv, [alice, bob], 4, T0 + 4, alice);
      expect((await cs.get(app, alice, conv))!.readSeq).toBe(4);
      expect((await cs.get(app, bob, conv))!.readSeq).toBe(0);
      await cs.touch(app, conv, [alice, bob], 6, T0 + 6, bob);
      await cs.touch(app, conv, [alice, bob], 5, T0 + 5, alice);
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 6, T0 + 6, 5, 0));
      expect((await cs.get(app, bob, conv))!.readSeq).toBe(6);
      await cs.touch(app, conv, [alice, bob], 3, T0 + 3, alice);
      expect((await cs.get(app, alice, conv))!.readSeq).toBe(5);
    });

    it('concurrent advances end at the highest, and exactly one of equal moves reports moved', async () => {
      await cs.touch(app, conv, [alice], 50, T0 + 50);
      const results = await Promise.all([10, 40, 20, 30, 40].map((s) => cs.advance(app, alice, conv, 'delivered', s)));
      expect((await cs.get(app, alice, conv))!.deliveredSeq).toBe(40);
      expect(results.every((r) => r.value >= 10 && r.value <= 40)).toBe(true);
      // Of the two advances to 40, one moved the cursor there and the other did not.
      const to40 = results.filter((_, i) => i === 1 || i === 4);
      expect(to40.filter((r) => r.moved)).toHaveLength(1);
    });

    it('read and delivered cursors are independent, and per user', async () => {
      await cs.touch(app, conv, [alice, bob], 10, T0 + 10);
      expect(await cs.advance(app, alice, conv, 'delivered', 7)).toEqual({ value: 7, moved: true });
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 10, T0 + 10, 0, 7));
      expect(await cs.advance(app, alice, conv, 'read', 4)).toEqual({ value: 4, moved: true });
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 10, T0 + 10, 4, 7));
      expect(await cs.advance(app, alice, conv, 'delivered', 5)).toEqual({ value: 7, moved: false });
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 10, T0 + 10, 0, 0));
    });

    it('a later touch with new members keeps the cursors of existing ones', async () => {
      await cs.touch(app, conv, [alice], 2, T0 + 2);
      await cs.advance(app, alice, conv, 'read', 2);
      await cs.advance(app, alice, conv, 'delivered', 1);
      await cs.touch(app, conv, [alice, bob], 3, T0 + 3);
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 3, T0 + 3, 2, 1));
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 3, T0 + 3, 0, 0));
    });

    it('persist means what touch means, for a batch, and is idempotent', async () => {
      const group = `g:${id('group')}`;
      const carol = id('carol');
      await cs.persist(app, [
        { conversation: conv, members: [alice, bob], seq: 4, ts: T0 + 4 },
        { conversation: group, members: [alice, carol], seq: 2, ts: T0 + 2 },
        { conversation: conv, members: [alice, bob], seq: 3, ts: T0 + 3 },
      ]);
      expect(await cs.maxSeq(app, conv)).toBe(4);
      expect(byConv(await cs.list(app, alice))).toEqual(byConv([entry(conv, 4, T0 + 4), entry(group, 2, T0 + 2)]));
      expect(await cs.list(app, carol)).toEqual([entry(group, 2, T0 + 2)]);
      expect(await cs.advance(app, bob, conv, 'read', 4)).toEqual({ value: 4, moved: true });

      // A redelivered batch, and touches and persists in either order, change nothing.
      await cs.persist(app, [{ conversation: conv, members: [alice, bob], seq: 4, ts: T0 + 4 }]);
      await cs.touch(app, conv, [alice, bob], 4, T0 + 4);
      await cs.persist(app, []);
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 4, T0 + 4, 4, 0));
      await cs.touch(app, conv, [alice, bob], 6, T0 + 6);
      await cs.persist(app, [{ conversation: conv, members: [alice, bob], seq: 5, ts: T0 + 5 }]);
      expect(await cs.maxSeq(app, conv)).toBe(6);
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 6, T0 + 6, 4, 0));
    });

    it('apps are isolated: the same users and conversation in two apps are separate', async () => {
      const other = id('app');
      await cs.touch(app, conv, [alice, bob], 6, T0 + 6);
      await cs.advance(app, alice, conv, 'read', 6);
      expect(await cs.list(other, alice)).toEqual([]);
      expect(await cs.get(other, alice, conv)).toBeNull();
      expect(await cs.maxSeq(other, conv)).toBe(0);

      await cs.touch(other, conv, [alice], 2, T0 + 2);
      expect(await cs.advance(other, alice, conv, 'read', 100)).toEqual({ value: 2, moved: true });
      expect(await cs.get(other, alice, conv)).toEqual(entry(conv, 2, T0 + 2, 2, 0));
      expect(await cs.get(app, alice, conv)).toEqual(entry(conv, 6, T0 + 6, 6, 0));
      expect(await cs.maxSeq(app, conv)).toBe(6);
      expect(await cs.list(other, bob)).toEqual([]);
    });

    it('a mention cursor starts at 0 for a member, moves like the others and stays apart from them; none for a non-member', async () => {
      await cs.touch(app, conv, [alice, bob], 5, T0 + 5);
      expect(await cs.advance(app, bob, conv, 'mention', 4)).toEqual({ value: 4, moved: true });
      expect(await cs.advance(app, bob, conv, 'mention', 3)).toEqual({ value: 4, moved: false });
      expect(await cs.get(app, bob, conv)).toEqual(entry(conv, 5, T0 + 5, 0, 0, 4));
      expect((await cs.list(app, bob))[0]).toEqual(entry(conv, 5, T0 + 5, 0, 0, 4));
      expect(await cs.advance(app, id('user'), conv, 'mention', 4)).toEqual({ value: 0, moved: false });
    });

    it('readCursors gives the read cursors of many users at once, 0 for users not in the conversation', async () => {
      const carol = id('carol');
      await cs.touch(app, conv, [alice, bob, carol], 9, T0 + 9);
      await cs.advance(app, alice, conv, 'read', 7);
      await cs.advance(app, carol, conv, 'read', 2);
      await cs.advance(app, bob, conv, 'delivered', 9);
      expect(await cs.readCursors(app, conv, [carol, id('nobody'), alice, bob])).toEqual([2, 0, 7, 0]);
      expect(await cs.readCursors(app, conv, [])).toEqual([]);
    });
  });
}
