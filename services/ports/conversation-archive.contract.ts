// The ConversationArchive contract (services/ports/conversation-archive.ts), written once and run
// against every adapter: the in-memory one in the `unit` project, MongoDB on FerretDB in the
// integration suites. Every test uses fresh AppIds, users and conversations.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchivedCursors, ConversationArchive } from './conversation-archive.js';
import type { ConversationTouch } from './conversation-state.js';

export interface ConversationArchiveFixture {
  archive: ConversationArchive;
  /** A second instance on the same durable state, as another process would have. */
  peer: ConversationArchive;
  /** Puts the touched messages into the message store the archive reads, if it reads one. */
  store(appId: string, touches: ConversationTouch[]): Promise<void>;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const byConv = (list: ArchivedCursors[]): ArchivedCursors[] => [...list].sort((a, b) => a.conversation.localeCompare(b.conversation));

export function conversationArchiveContract(name: string, make: () => Promise<ConversationArchiveFixture>): void {
  describe(`ConversationArchive contract: ${name}`, () => {
    let fx: ConversationArchiveFixture;
    let archive: ConversationArchive;
    let app: string;
    let conv: string;
    let alice: string;
    let bob: string;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const cursors = (conversation: string, readSeq = 0, deliveredSeq = 0): ArchivedCursors => ({ conversation, readSeq, deliveredSeq });
    const touch = (conversation: string, members: string[], seq: number): ConversationTouch => ({
      conversation,
      members,
      seq,
      ts: T0 + seq,
    });
    /** What the consumer does: store the messages, then persist their touches. */
    const stored = async (appId: string, touches: ConversationTouch[]) => {
      await fx.store(appId, touches);
      await archive.record(appId, touches);
    };

    beforeEach(async () => {
      fx = await make();
      archive = fx.archive;
      app = id('app');
      conv = `c:${id('conv')}`;
      alice = id('alice');
      bob = id('bob');
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('record lists a conversation for its members at cursor 0, with its highest seq', async () => {
      const group = `g:${id('group')}`;
      const carol = id('carol');
      await stored(app, [touch(conv, [alice, bob], 4), touch(group, [alice, carol], 2), touch(conv, [alice, bob], 3)]);
      expect(await archive.conversation(app, conv)).toEqual({ maxSeq: 4, lastTs: T0 + 4 });
      expect(await archive.conversation(app, group)).toEqual({ maxSeq: 2, lastTs: T0 + 2 });
      expect(byConv(await archive.cursors(app, alice))).toEqual(byConv([cursors(conv), cursors(group)]));
      expect(await archive.cursors(app, carol)).toEqual([cursors(group)]);
      expect(await archive.cursors(app, id('dave'))).toEqual([]);
      expect(await archive.conversation(app, `c:${id('conv')}`)).toBeNull();
    });

    it('later messages raise the seq; a redelivered batch lowers nothing', async () => {
      await stored(app, [touch(conv, [alice, bob], 5)]);
      await stored(app, [touch(conv, [alice, bob], 7)]);
      expect(await archive.conversation(app, conv)).toEqual({ maxSeq: 7, lastTs: T0 + 7 });
      await archive.record(app, [touch(conv, [alice, bob], 5)]);
      await archive.record(app, []);
      expect(await archive.conversation(app, conv)).toEqual({ maxSeq: 7, lastTs: T0 + 7 });
      expect(await fx.peer.conversation(app, conv)).toEqual({ maxSeq: 7, lastTs: T0 + 7 });
    });

    it('a member who comes to a conversation later (a group joiner) is listed too, in a later batch', async () => {
      const group = `g:${id('group')}`;
      const erin = id('erin');
      await stored(app, [touch(group, [alice, bob], 1)]);
      await stored(app, [touch(group, [alice], 2)]);
      await stored(app, [touch(group, [erin], 3)]);
      expect(await archive.cursors(app, erin)).toEqual([cursors(group)]);
      expect(await fx.peer.cursors(app, erin)).toEqual([cursors(group)]);
      expect(await archive.conversation(app, group)).toEqual({ maxSeq: 3, lastTs: T0 + 3 });
    });

    it('saveCursors raises each cursor on its own, never lowers one, and only for that user', async () => {
      await stored(app, [touch(conv, [alice, bob], 9)]);
      await archive.saveCursors(app, alice, cursors(conv, 3, 5));
      expect(await archive.cursors(app, alice)).toEqual([cursors(conv, 3, 5)]);
      await fx.peer.saveCursors(app, alice, cursors(conv, 2, 6));
      expect(await archive.cursors(app, alice)).toEqual([cursors(conv, 3, 6)]);
      expect(await fx.peer.cursors(app, alice)).toEqual([cursors(conv, 3, 6)]);
      expect(await archive.cursors(app, bob)).toEqual([cursors(conv)]);
      // Recording the conversation again keeps the cursors.
      await stored(app, [touch(conv, [alice, bob], 9)]);
      expect(await archive.cursors(app, alice)).toEqual([cursors(conv, 3, 6)]);
    });

    it('cursors saved before the conversation is recorded list it, and recording keeps them', async () => {
      await archive.saveCursors(app, bob, cursors(conv, 1, 2));
      expect(await archive.cursors(app, bob)).toEqual([cursors(conv, 1, 2)]);
      await stored(app, [touch(conv, [alice, bob], 2)]);
      expect(await archive.cursors(app, bob)).toEqual([cursors(conv, 1, 2)]);
      expect(await archive.cursors(app, alice)).toEqual([cursors(conv)]);
    });

    it('apps are isolated', async () => {
      const other = id('app');
      await stored(app, [touch(conv, [alice], 6)]);
      await archive.saveCursors(app, alice, cursors(conv, 6, 6));
      expect(await archive.cursors(other, alice)).toEqual([]);
      expect(await archive.conversation(other, conv)).toBeNull();
      await stored(other, [touch(conv, [alice], 2)]);
      expect(await archive.cursors(other, alice)).toEqual([cursors(conv)]);
      expect(await archive.conversation(other, conv)).toEqual({ maxSeq: 2, lastTs: T0 + 2 });
      expect(await archive.conversation(app, conv)).toEqual({ maxSeq: 6, lastTs: T0 + 6 });
    });
  });
}
