import type { MessageQuery, MessageStore } from '../../ports/message-store.js';
import type { StoredMessage } from '../../ports/stored-message.js';

export class MemoryMessageStore implements MessageStore {
  /** Per conversation: seq → message. */
  private readonly conversations = new Map<string, Map<number, StoredMessage>>();

  private static readonly NONE: ReadonlyMap<number, StoredMessage> = new Map();

  /** The conversation's messages; reads of an unknown conversation create nothing. */
  private conv(appId: string, conversation: string, create = false): Map<number, StoredMessage> {
    const key = `${appId}\u0000${conversation}`;
    let c = this.conversations.get(key);
    if (!c) {
      if (!create) return MemoryMessageStore.NONE as Map<number, StoredMessage>;
      this.conversations.set(key, (c = new Map()));
    }
    return c;
  }

  async insertMany(appId: string, messages: StoredMessage[]): Promise<number> {
    let inserted = 0;
    for (const m of messages) {
      const c = this.conv(appId, m.conversation, true);
      if (c.has(m.seq)) continue;
      c.set(m.seq, { ...m });
      inserted++;
    }
    return inserted;
  }

  async get(appId: string, conversation: string, seq: number): Promise<StoredMessage | null> {
    const m = this.conv(appId, conversation).get(seq);
    return m ? { ...m } : null;
  }

  async query(appId: string, conversation: string, q: MessageQuery): Promise<StoredMessage[]> {
    const all = [...this.conv(appId, conversation).values()]
      .filter(
        (m) =>
          (q.fromSeq === undefined || m.seq >= q.fromSeq) &&
          (q.toSeq === undefined || m.seq <= q.toSeq) &&
          (q.fromTs === undefined || m.ts >= q.fromTs) &&
          (q.toTs === undefined || m.ts <= q.toTs),
      )
      .sort((a, b) => a.seq - b.seq);
    const page = q.newestFirst ? all.slice(Math.max(0, all.length - q.limit)) : all.slice(0, q.limit);
    return page.map((m) => ({ ...m }));
  }

  async markRecalled(appId: string, conversation: string, seq: number): Promise<void> {
    const m = this.conv(appId, conversation).get(seq);
    if (m) {
      m.recalled = true;
      m.body = new Uint8Array(0);
    }
  }

  async count(appId: string, conversation: string): Promise<number> {
    return this.conv(appId, conversation).size;
  }
}
