import type { ArchivedConversation, ArchivedCursors, ConversationArchive } from '../../ports/conversation-archive.js';
import type { ConversationTouch } from '../../ports/conversation-state.js';

/** The conversation archive in memory: for testing the Redis conversation state without MongoDB. */
export class MemoryConversationArchive implements ConversationArchive {
  private readonly conversations = new Map<string, ArchivedConversation>();
  /** appId\0user → conversation → cursors */
  private readonly users = new Map<string, Map<string, ArchivedCursors>>();

  async record(appId: string, touches: ConversationTouch[]): Promise<void> {
    for (const t of touches) {
      const key = `${appId}\u0000${t.conversation}`;
      const known = this.conversations.get(key);
      this.conversations.set(key, { maxSeq: Math.max(known?.maxSeq ?? 0, t.seq), lastTs: Math.max(known?.lastTs ?? 0, t.ts) });
      for (const member of t.members) {
        const listed = this.userOf(appId, member);
        if (!listed.has(t.conversation)) listed.set(t.conversation, { conversation: t.conversation, readSeq: 0, deliveredSeq: 0 });
      }
    }
  }

  async conversation(appId: string, conversation: string): Promise<ArchivedConversation | null> {
    const known = this.conversations.get(`${appId}\u0000${conversation}`);
    return known ? { ...known } : null;
  }

  async cursors(appId: string, userId: string): Promise<ArchivedCursors[]> {
    return [...(this.users.get(`${appId}\u0000${userId}`)?.values() ?? [])].map((c) => ({ ...c }));
  }

  async saveCursors(appId: string, userId: string, cursors: ArchivedCursors): Promise<void> {
    const listed = this.userOf(appId, userId);
    const known = listed.get(cursors.conversation);
    listed.set(cursors.conversation, {
      conversation: cursors.conversation,
      readSeq: Math.max(known?.readSeq ?? 0, cursors.readSeq),
      deliveredSeq: Math.max(known?.deliveredSeq ?? 0, cursors.deliveredSeq),
    });
  }

  private userOf(appId: string, userId: string): Map<string, ArchivedCursors> {
    const key = `${appId}\u0000${userId}`;
    let listed = this.users.get(key);
    if (!listed) this.users.set(key, (listed = new Map()));
    return listed;
  }
}
