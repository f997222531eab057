// The durable half of the conversation index and cursors (ADR 0009, ADR 0026): what a
// ConversationState adapter whose own store may lose its data (the Redis one) writes, and
// merges back after a loss. Values here only grow: a late or repeated write never lowers one.
//
// A port between adapters, not for roles: real-backends.ts gives the MongoDB one to the Redis
// conversation state, and the Redis adapter's tests may give it the in-memory one.
import type { ConversationTouch } from './conversation-state.js';

export interface ArchivedConversation {
  maxSeq: number;
  lastTs: number;
}

export interface ArchivedCursors {
  conversation: string;
  readSeq: number;
  deliveredSeq: number;
}

export interface ConversationArchive {
  /**
   * Touches of messages that are already in the message store (ConversationState.persist):
   * afterwards conversation() reports at least their highest seq, and cursors() of every member
   * lists the conversation (at 0 where it was not listed). Idempotent. An adapter whose
   * conversation() reads the stored messages may skip the conversations it recorded before.
   */
  record(appId: string, touches: ConversationTouch[]): Promise<void>;
  /** The highest seq and latest ts recorded or stored for the conversation; null if none. */
  conversation(appId: string, conversation: string): Promise<ArchivedConversation | null>;
  /** Every conversation the user is listed in, with the cursors written for it. */
  cursors(appId: string, userId: string): Promise<ArchivedCursors[]>;
  /**
   * Raises the user's cursors in `cursors.conversation` to these values (max-wise, each on its
   * own), listing the conversation for the user if it was not yet.
   */
  saveCursors(appId: string, userId: string, cursors: ArchivedCursors): Promise<void>;
}
