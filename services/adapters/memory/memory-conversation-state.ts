import type { ConversationEntry, ConversationState, ConversationTouch, CursorKind } from '../../ports/conversation-state.js';

interface ConversationMeta {
  maxSeq: number;
  lastTs: number;
}

interface Cursors {
  read: number;
  delivered: number;
  mention: number;
}

export class MemoryConversationState implements ConversationState {
  private readonly meta = new Map<string, ConversationMeta>();
  /** appId\0user → conversation → cursors */
  private readonly users = new Map<string, Map<string, Cursors>>();

  private metaOf(appId: string, conversation: string): ConversationMeta | undefined {
    return this.meta.get(`${appId}\u0000${conversation}`);
  }

  /** The user's conversations; reads for an unknown user create nothing. */
  private userConvs(appId: string, userId: string, create = false): Map<string, Cursors> {
    const key = `${appId}\u0000${userId}`;
    let m = this.users.get(key);
    if (!m) {
      m = new Map();
      if (create) this.users.set(key, m);
    }
    return m;
  }

  async touch(appId: string, conversation: string, members: string[], seq: number, ts: number, readBy?: string): Promise<void> {
    const key = `${appId}\u0000${conversation}`;
    const m = this.meta.get(key);
    if (!m) this.meta.set(key, { maxSeq: seq, lastTs: ts });
    else if (seq > m.maxSeq) {
      m.maxSeq = seq;
      m.lastTs = ts;
    }
    for (const user of members) {
      const convs = this.userConvs(appId, user, true);
      if (!convs.has(conversation)) convs.set(conversation, { read: 0, delivered: 0, mention: 0 });
    }
    if (readBy !== undefined && members.includes(readBy)) await this.advance(appId, readBy, conversation, 'read', seq);
  }

  async persist(appId: string, touches: ConversationTouch[]): Promise<void> {
    // In memory the fast and the durable copy are one.
    for (const t of touches) await this.touch(appId, t.conversation, t.members, t.seq, t.ts);
  }

  async maxSeq(appId: string, conversation: string): Promise<number> {
    return this.metaOf(appId, conversation)?.maxSeq ?? 0;
  }

  private entry(appId: string, conversation: string, c: Cursors): ConversationEntry {
    const m = this.metaOf(appId, conversation) ?? { maxSeq: 0, lastTs: 0 };
    return { conversation, maxSeq: m.maxSeq, lastTs: m.lastTs, readSeq: c.read, deliveredSeq: c.delivered, mentionSeq: c.mention };
  }

  async readCursors(appId: string, conversation: string, users: string[]): Promise<number[]> {
    return users.map((u) => this.userConvs(appId, u).get(conversation)?.read ?? 0);
  }

  async list(appId: string, userId: string): Promise<ConversationEntry[]> {
    return [...this.userConvs(appId, userId)].map(([conv, c]) => this.entry(appId, conv, c));
  }

  async get(appId: string, userId: string, conversation: string): Promise<ConversationEntry | null> {
    const c = this.userConvs(appId, userId).get(conversation);
    return c ? this.entry(appId, conversation, c) : null;
  }

  async advance(
    appId: string,
    userId: string,
    conversation: string,
    kind: CursorKind,
    seq: number,
  ): Promise<{ value: number; moved: boolean }> {
    const c = this.userConvs(appId, userId).get(conversation);
    if (!c) return { value: 0, moved: false };
    const max = this.metaOf(appId, conversation)?.maxSeq ?? 0;
    const target = Math.min(seq, max);
    const field = kind;
    if (target <= c[field]) return { value: c[field], moved: false };
    c[field] = target;
    return { value: target, moved: true };
  }
}
