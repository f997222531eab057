import type { Collection } from 'mongodb';
import type { ArchivedConversation, ArchivedCursors, ConversationArchive } from '../../ports/conversation-archive.js';
import type { ConversationTouch } from '../../ports/conversation-state.js';
import { type ConversationDoc, docId, type MessageDoc, ONE_BATCH, type UserConversationDoc, upsertEach } from './mongo-database.js';

/** Conversations, and members of conversations, remembered as recorded by this process (then forgotten all at once). */
const RECORDED_MEMORY = 100_000;

/**
 * The conversation archive (ADR 0009) in `conversations` (per conversation) and
 * `user_conversations` (per user and conversation: the cursors). Upserts are the slow writes of
 * a MongoDB-wire store (ADR 0011), so a conversation's first appearance and each member's first
 * appearance in it (a group gains members later) are written once per process, and its highest
 * seq is read back from the newest stored message.
 */
export class MongoConversationArchive implements ConversationArchive {
  private readonly recorded = new Set<string>();
  private readonly recordedMembers = new Set<string>();

  constructor(
    private readonly conversations: Collection<ConversationDoc>,
    private readonly userConversations: Collection<UserConversationDoc>,
    private readonly messages: Collection<MessageDoc>,
  ) {}

  async record(appId: string, touches: ConversationTouch[]): Promise<void> {
    if (touches.length === 0) return;
    const firsts = new Map<string, ConversationTouch>();
    for (const t of touches) {
      if (this.recorded.has(`${appId}\u0000${t.conversation}`)) continue;
      const prev = firsts.get(t.conversation);
      if (!prev || t.seq > prev.seq) firsts.set(t.conversation, t);
    }
    await upsertEach(
      this.conversations,
      [...firsts.values()].map((t) => ({
        filter: { _id: docId(appId, t.conversation) },
        update: { $max: { maxSeq: t.seq, lastTs: t.ts }, $setOnInsert: { appId, conversation: t.conversation } },
      })),
    );
    const members = new Set<string>();
    for (const t of touches) {
      for (const m of t.members)
        if (!this.recordedMembers.has(`${appId}\u0000${m}\u0000${t.conversation}`)) members.add(`${m}\u0000${t.conversation}`);
    }
    await upsertEach(
      this.userConversations,
      [...members].map((key) => {
        const [userId, conversation] = key.split('\u0000') as [string, string];
        return {
          filter: { _id: docId(appId, userId, conversation) },
          update: { $setOnInsert: { appId, userId, conversation, readSeq: 0, deliveredSeq: 0 } },
        };
      }),
    );
    if (this.recorded.size > RECORDED_MEMORY) this.recorded.clear();
    if (this.recordedMembers.size > RECORDED_MEMORY) this.recordedMembers.clear();
    for (const conversation of firsts.keys()) this.recorded.add(`${appId}\u0000${conversation}`);
    for (const key of members) this.recordedMembers.add(`${appId}\u0000${key}`);
  }

  async conversation(appId: string, conversation: string): Promise<ArchivedConversation | null> {
    const [doc, newest] = await Promise.all([
      this.conversations.findOne({ _id: docId(appId, conversation) }),
      this.messages.findOne({ appId, conversation }, { projection: { _id: 0, seq: 1, ts: 1 }, sort: { seq: -1 } }),
    ]);
    if (!doc && !newest) return null;
    return { maxSeq: Math.max(doc?.maxSeq ?? 0, newest?.seq ?? 0), lastTs: Math.max(doc?.lastTs ?? 0, newest?.ts ?? 0) };
  }

  async cursors(appId: string, userId: string): Promise<ArchivedCursors[]> {
    const docs = await this.userConversations.find({ appId, userId }, { batchSize: ONE_BATCH }).toArray();
    return docs.map((d) => ({ conversation: d.conversation, readSeq: d.readSeq, deliveredSeq: d.deliveredSeq }));
  }

  async saveCursors(appId: string, userId: string, cursors: ArchivedCursors): Promise<void> {
    const { conversation, readSeq, deliveredSeq } = cursors;
    await upsertEach(
      this.userConversations,
      [
        {
          filter: { _id: docId(appId, userId, conversation) },
          update: { $max: { readSeq, deliveredSeq }, $setOnInsert: { appId, userId, conversation } },
        },
      ],
      1,
    );
  }
}
