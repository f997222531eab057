// Per-user conversation index and cursors: which conversations a user is in, the max seq of
// each conversation, and the user's delivered and read cursors. Cursors only move forward.

export interface ConversationEntry {
  conversation: string;
  maxSeq: number;
  lastTs: number;
  readSeq: number;
  deliveredSeq: number;
}

export type CursorKind = 'read' | 'delivered';

export interface ConversationTouch {
  conversation: string;
  members: string[];
  seq: number;
  ts: number;
}

export interface ConversationState {
  /**
   * A message with `seq` exists in `conversation`; every member now lists it. maxSeq only grows.
   * `readBy` (its sender) has read up to `seq`: the read cursor moves as with advance(), in the
   * same step, so a sender's own messages never count as unread.
   */
  touch(appId: string, conversation: string, members: string[], seq: number, ts: number, readBy?: string): Promise<void>;
  /**
   * The durable record of touches, written by the consumer once the messages are stored (a
   * real adapter keeps touch() in a fast store and rebuilds from this after losing it). Same
   * meaning as touch(); idempotent.
   */
  persist(appId: string, touches: ConversationTouch[]): Promise<void>;
  maxSeq(appId: string, conversation: string): Promise<number>;
  list(appId: string, userId: string): Promise<ConversationEntry[]>;
  get(appId: string, userId: string, conversation: string): Promise<ConversationEntry | null>;
  /**
   * Moves a cursor to max(current, min(seq, maxSeq)). Returns the cursor after the move and
   * whether it moved.
   */
  advance(appId: string, userId: string, conversation: string, kind: CursorKind, seq: number): Promise<{ value: number; moved: boolean }>;
}
