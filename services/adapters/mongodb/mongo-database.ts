// The MongoDB connection (official driver) and the collections every adapter uses, with their
// indexes. Only what FerretDB 1.x supports: unique indexes, idempotent upserts, no
// transactions, change streams, TTL indexes or $lookup (cleanup is a job, not a TTL index).
import { Binary, MongoClient, type Collection, type Db } from 'mongodb';
import type { StoredMessage } from '../../ports/stored-message.js';
import type { Logger } from '../../shared/logger.js';
import type { ConversationDoc, UserConversationDoc } from '../redis/redis-conversation-state.js';
import type { SeqHighWater } from '../redis/redis-seq-allocator.js';
import { redactUrl } from '../redis/redis-client.js';

/** A stored message as a document: the StoredMessage fields, its AppId, and the body as BSON binary. */
export type MessageDoc = Omit<StoredMessage, 'body'> & { appId: string; body: Binary };

export interface AppDoc {
  _id: string;
  name: string;
  secret: string;
  multiLogin: string;
  createdAt: number;
}

export interface RevokedTokenDoc {
  _id: string;
  appId: string;
  jti: string;
  expiresAt: number;
}

export interface RevokedUserDoc {
  _id: string;
  appId: string;
  userId: string;
  before: number;
}

export class MongoDatabase {
  readonly db: Db;
  private connected = false;

  private constructor(readonly client: MongoClient, database: string) {
    this.db = client.db(database);
  }

  /** Connects, retrying with backoff (readyz stays false meanwhile), and ensures indexes. */
  static async connect(url: string, database: string, log: Logger, signal?: AbortSignal): Promise<MongoDatabase> {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, maxPoolSize: 50 });
    const mongo = new MongoDatabase(client, database);
    for (let attempt = 1; ; attempt++) {
      try {
        await client.connect();
        await mongo.ensureIndexes();
        mongo.connected = true;
        log.info({ url: redactUrl(url), database }, 'mongodb: connected');
        return mongo;
      } catch (err) {
        if (signal?.aborted) throw err;
        const delay = Math.min(500 * 2 ** Math.min(attempt, 5), 10_000);
        log.warn({ attempt, delayMs: delay, err: (err as Error).message }, `mongodb: cannot reach ${redactUrl(url)}; retrying (is it running, and are the URL and credentials right?)`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  get ready(): boolean {
    return this.connected;
  }

  get messages(): Collection<MessageDoc> {
    return this.db.collection<MessageDoc>('messages');
  }
  get apps(): Collection<AppDoc> {
    return this.db.collection<AppDoc>('apps');
  }
  get revokedTokens(): Collection<RevokedTokenDoc> {
    return this.db.collection<RevokedTokenDoc>('revoked_tokens');
  }
  get revokedUsers(): Collection<RevokedUserDoc> {
    return this.db.collection<RevokedUserDoc>('revoked_users');
  }
  get seqHighWater(): Collection<SeqHighWater> {
    return this.db.collection<SeqHighWater>('seq_high_water');
  }
  get conversations(): Collection<ConversationDoc> {
    return this.db.collection<ConversationDoc>('conversations');
  }
  get userConversations(): Collection<UserConversationDoc> {
    return this.db.collection<UserConversationDoc>('user_conversations');
  }

  private async ensureIndexes(): Promise<void> {
    await this.messages.createIndex({ appId: 1, conversation: 1, seq: 1 }, { unique: true, name: 'app_conv_seq' });
    await this.messages.createIndex({ appId: 1, conversation: 1, ts: 1 }, { name: 'app_conv_ts' });
    await this.userConversations.createIndex({ appId: 1, userId: 1 }, { name: 'app_user' });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
