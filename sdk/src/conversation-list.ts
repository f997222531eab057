// The client's view of its conversations: unread counts, read and delivery cursors of both
// sides, and the last message. Fed by sync summaries (the server's numbers win where they are
// newer), by delivered messages, and by read/delivery notices. Mirrors the server's rule that a
// user's own message marks everything before it as read, and never lets unread go negative.
import { groupOf } from '../../protocol/conversation-id.js';
import type { ChatMessage, ConversationInfo } from './types.js';

export interface SummaryInput {
  conversation: string;
  peer: string;
  maxSeq: number;
  readSeq: number;
  peerReadSeq: number;
  peerDeliveredSeq: number;
  lastTs: number;
  /** The last seq that @mentions this user while unread, else 0. */
  mentionedSeq: number;
}

export class ConversationList {
  private readonly items = new Map<string, ConversationInfo>();

  constructor(private readonly peerOf: (conversation: string) => string) {}

  get size(): number {
    return this.items.size;
  }

  get(conversation: string): ConversationInfo | undefined {
    const c = this.items.get(conversation);
    return c ? { ...c } : undefined;
  }

  /** Newest activity first. */
  list(): ConversationInfo[] {
    return [...this.items.values()]
      .map((c) => ({ ...c }))
      .sort((a, b) => b.lastTs - a.lastTs || a.conversation.localeCompare(b.conversation));
  }

  private entry(conversation: string): ConversationInfo {
    let c = this.items.get(conversation);
    if (!c) {
      c = {
        conversation,
        peer: this.peerOf(conversation),
        maxSeq: 0,
        readSeq: 0,
        unread: 0,
        peerReadSeq: 0,
        peerDeliveredSeq: 0,
        lastTs: 0,
        mentionedSeq: 0,
        mentioned: false,
      };
      const group = groupOf(conversation);
      if (group !== null) c.group = group;
      this.items.set(conversation, c);
    }
    return c;
  }

  private recount(c: ConversationInfo): void {
    if (c.readSeq > c.maxSeq) c.readSeq = c.maxSeq;
    c.unread = Math.max(0, c.maxSeq - c.readSeq);
    c.mentioned = c.mentionedSeq > c.readSeq;
    // Reading implies holding.
    if (c.peerReadSeq > c.peerDeliveredSeq) c.peerDeliveredSeq = c.peerReadSeq;
  }

  applySummary(s: SummaryInput): void {
    const c = this.entry(s.conversation);
    if (s.peer) c.peer = s.peer;
    c.maxSeq = Math.max(c.maxSeq, s.maxSeq);
    c.readSeq = Math.max(c.readSeq, s.readSeq);
    c.peerReadSeq = Math.max(c.peerReadSeq, s.peerReadSeq);
    c.peerDeliveredSeq = Math.max(c.peerDeliveredSeq, s.peerDeliveredSeq);
    c.lastTs = Math.max(c.lastTs, s.lastTs);
    c.mentionedSeq = Math.max(c.mentionedSeq, s.mentionedSeq);
    this.recount(c);
  }

  /** A message (or recall event) was delivered to the app in order. */
  onMessage(m: Pick<ChatMessage, 'conversation' | 'seq' | 'ts' | 'own' | 'mentionsMe'>, message?: ChatMessage): void {
    const c = this.entry(m.conversation);
    if (m.mentionsMe) c.mentionedSeq = Math.max(c.mentionedSeq, m.seq);
    c.maxSeq = Math.max(c.maxSeq, m.seq);
    c.lastTs = Math.max(c.lastTs, m.ts);
    // A sender has read everything up to its own message (the server moves its read cursor).
    if (m.own) c.readSeq = Math.max(c.readSeq, m.seq);
    else c.peerReadSeq = Math.max(c.peerReadSeq, m.seq);
    if (message) c.lastMessage = message;
    this.recount(c);
  }

  /** The last message was recalled: keep the preview honest. */
  onRecall(conversation: string, seq: number): void {
    const c = this.items.get(conversation);
    if (c?.lastMessage && c.lastMessage.seq === seq)
      c.lastMessage = { ...c.lastMessage, recalled: true, body: new Uint8Array(0), text: undefined };
  }

  /** Own read cursor moved (ReadAck, or a ReadNotice from another device of this user). */
  onOwnRead(conversation: string, readSeq: number): void {
    const c = this.entry(conversation);
    c.readSeq = Math.max(c.readSeq, readSeq);
    c.maxSeq = Math.max(c.maxSeq, c.readSeq);
    this.recount(c);
  }

  onPeerRead(conversation: string, seq: number): void {
    const c = this.entry(conversation);
    c.peerReadSeq = Math.max(c.peerReadSeq, seq);
    this.recount(c);
  }

  onPeerDelivered(conversation: string, seq: number): void {
    const c = this.entry(conversation);
    c.peerDeliveredSeq = Math.max(c.peerDeliveredSeq, seq);
    this.recount(c);
  }
}
