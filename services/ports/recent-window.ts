// The last messages of each conversation, written by logic before the ack so that a receiver who
// syncs before the consumer has persisted a message still finds it (docs/architecture.md §2 step 4
// and §3).
import type { StoredMessage } from './stored-message.js';

export interface RecentWindowLimits {
  /** Keep at least this many newest messages… */
  size: number;
  /** …and every message younger than this, whatever the count (bounded by size × 10). */
  retentionMs: number;
}

export interface RecentWindow {
  /** Idempotent on (conversation, seq). */
  append(appId: string, message: StoredMessage, limits: RecentWindowLimits): Promise<void>;
  /** Messages with from ≤ seq ≤ to that the window still holds, ascending. */
  range(appId: string, conversation: string, fromSeq: number, toSeq: number): Promise<StoredMessage[]>;
  /** Marks a held message as recalled and drops its body. */
  markRecalled(appId: string, conversation: string, seq: number): Promise<void>;
}
