// Durable messages (MongoDB in production): unique on (appId, conversation, seq), so writes
// are idempotent and a redelivered store record never duplicates a message.
import type { StoredMessage } from './stored-message.js';

export interface MessageQuery {
  fromSeq?: number;
  toSeq?: number;
  fromTs?: number;
  toTs?: number;
  limit: number;
  /** Take the newest `limit` of the range instead of the oldest; results stay ascending. */
  newestFirst?: boolean;
}

export interface MessageStore {
  /** Inserts what is new; existing (appId, conversation, seq) are left alone. Returns how many were new. */
  insertMany(appId: string, messages: StoredMessage[]): Promise<number>;
  get(appId: string, conversation: string, seq: number): Promise<StoredMessage | null>;
  /** Ascending by seq. */
  query(appId: string, conversation: string, q: MessageQuery): Promise<StoredMessage[]>;
  markRecalled(appId: string, conversation: string, seq: number): Promise<void>;
  count(appId: string, conversation: string): Promise<number>;
}
