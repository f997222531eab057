// Per-user conversation index and cursors: which conversations a user is in, the max seq of
// each conversation, and the user's delivered and read cursors. Cursors only move forward.

export interface ConversationEntry {
  conversation: string;
  maxSeq: number;
  lastTs: number;
  readSeq: number;
  deliveredSeq: number;
  /** The last seq that @mentions the user (0: none). Kept in the fast copy only: a Redis loss forgets it. */
  mentionSeq: number;
}

export type CursorKind = 'read' | 'delivered' | 'mention';

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
   * The same touches again, for durability: the consumer calls it with a batch once their
   * messages are in the MessageStore, off the send path. Same meaning as touch() (which the send
   * path called for them, in either order); idempotent.
   *
   * Why the port has it, and not only the Redis adapter (ADR 0026): when a durable write is
   * affordable, and what it may lean on, only the roles know: after the store accepted the
   * messages, batched, never while a client waits for its ack. An adapter whose touch() writes
   * to a store that may lose its data (Redis) records here what it rebuilds from after a loss,
   * and may read a conversation's highest seq back from the stored messages; an adapter with
   * one store (memory) treats persist() as touch().
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
  /** The read cursors of `users` in `conversation`, in their order (0 where a user has none). */
  readCursors(appId: string, conversation: string, users: string[]): Promise<number[]>;
}
