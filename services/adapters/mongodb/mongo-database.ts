// The MongoDB connection (official driver) and the collections every adapter uses, with their
// indexes. Only what FerretDB 1.x supports: unique indexes, idempotent upserts, no
// transactions, change streams, TTL indexes or $lookup (cleanup is a job, not a TTL index).

import {
  type Binary,
  type Collection,
  type CommandFailedEvent,
  type CommandSucceededEvent,
  type Db,
  type Document,
  type Filter,
  MongoClient,
  type UpdateFilter,
} from 'mongodb';
import type { WebhookConfig } from '../../ports/app-registry.js';
import type { ChallengeRecord, FileGrant, FileRecord, UploadAdvance, UploadRecord } from '../../ports/file-catalog.js';
import type { StoredMessage } from '../../ports/stored-message.js';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import { redactUrl } from '../../shared/redact-url.js';

/** A stored message as a document: the StoredMessage fields, its AppId, and the body as BSON binary. */
export type MessageDoc = Omit<StoredMessage, 'body'> & { appId: string; body: Binary };

export interface AppDoc {
  _id: string;
  name: string;
  secret: string;
  multiLogin: string;
  createdAt: number;
  limits?: { framesPerSec?: number; connectionsPerUser?: number; groupMaxMembers?: number; groupWriteDiffusionMax?: number };
  webhook?: WebhookConfig;
}

export interface RevokedTokenDoc {
  _id: string;
  appId: string;
  jti: string;
  expiresAt: number;
}

/** A conversation of the archive (ADR 0009): its members are in user_conversations. */
export interface ConversationDoc {
  _id: string;
  appId: string;
  conversation: string;
  maxSeq: number;
  lastTs: number;
}

/** One user's cursors in one conversation, written behind from Redis (ADR 0009). */
export interface UserConversationDoc {
  _id: string;
  appId: string;
  userId: string;
  conversation: string;
  readSeq: number;
  deliveredSeq: number;
}

/** A conversation's seq high-water mark (ADR 0009): every seq issued for it is ≤ hwm. */
/** Per conversation: the highest seq reserved, as a hint (and the whole mark of older releases). */
export interface SeqHighWaterDoc {
  _id: string;
  hwm: number;
}

/** One reserved block of seqs (start … end) of a conversation; `_id` = conversation + '#' + start. */
export interface SeqBlockDoc {
  _id: string;
  appId: string;
  conversation: string;
  start: number;
  end: number;
}

/** A group of an app; `_id` = appId + '/' + groupId. */
export interface GroupDoc {
  _id: string;
  appId: string;
  groupId: string;
  name: string;
  owner: string;
  createdAt: number;
  muteAll: boolean;
  dissolvedSeq: number;
  diffusion: string;
}

/** One user's membership of one group; `_id` = appId + '/' + groupId + '/' + userId. */
export interface GroupMemberDoc {
  _id: string;
  appId: string;
  groupId: string;
  userId: string;
  role: string;
  joinedSeq: number;
  leftSeq: number;
  muted: boolean;
}

/** A file record (ADR 0031); `_id` = appId + '/' + fileId. width and height only when known. */
export interface FileDoc extends FileRecord {
  _id: string;
}

/**
 * An upload in progress as created (ADR 0031); `_id` = appId + '/' + uploadId. The chunks that
 * arrive later are inserted documents of `upload_chunks` (atomic on FerretDB), not updates of
 * this one; `updatedAt` is raised after each chunk as a hint for the cleanup's query. `gen` names
 * this upload's chunks, so chunks left behind by an earlier upload of the same id never count.
 */
export interface UploadDoc extends UploadRecord {
  _id: string;
  gen: string;
}

/** One chunk appended to an upload; `_id` = appId + '/' + uploadId + '/' + gen + '/' + index. */
export interface UploadChunkDoc extends UploadAdvance {
  _id: string;
  appId: string;
  uploadId: string;
  gen: string;
  index: number;
}

/** A flash upload's single-use challenge; `_id` = appId + '/' + challengeId. */
export interface FileChallengeDoc extends ChallengeRecord {
  _id: string;
}

/** A file was sent in a conversation; `_id` = appId + '/' + fileId + '/' + conversation. */
export interface FileGrantDoc extends FileGrant {
  _id: string;
}

/**
 * An app's stored bytes as a chain of inserted totals (`_id` = appId + '/' + version, version
 * 1, 2, …), because `$inc` is not atomic on FerretDB 1.x (ADR 0026); plus `_id` = appId +
 * '/latest', a hint of the newest version and its total, where a reader starts walking.
 */
/**
 * The first file record of each stored object: `_id` = appId + '/' + md5 + '/' + size. A flash
 * upload's lookup is one read by primary key, however many records share the bytes (a filter on
 * the files themselves reads every such record on FerretDB).
 */
export interface FileContentDoc {
  _id: string;
  fileId: string;
}

export interface FileUsageDoc {
  _id: string;
  appId: string;
  version: number;
  total: number;
}

export interface RevokedUserDoc {
  _id: string;
  appId: string;
  userId: string;
  before: number;
}

/**
 * The _id of a document keyed by several parts (app, user, conversation…), joined by "/", which
 * no AppId, user id or conversation id contains. Not NUL: PostgreSQL's jsonb (FerretDB's main
 * backend) cannot hold it.
 */
export function docId(...parts: string[]): string {
  return parts.join('/');
}

/**
 * Batch size for finds whose whole result is wanted at once. A cursor left open between find and
 * getMore holds one backend connection inside FerretDB 1.x; more open cursors than its backend
 * pool (50 on PostgreSQL, 100 on SQLite) and every request waits for good. One batch, no cursor.
 */
export const ONE_BATCH = 100_000;

export const DUPLICATE_KEY = 11000;

export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown })?.code === DUPLICATE_KEY;
}

export interface Upsert<T extends Document> {
  filter: Filter<T>;
  update: UpdateFilter<T>;
}

/**
 * Idempotent upserts ($max, $setOnInsert…), one statement per command, at most `parallel` at a
 * time. Never one multi-statement update: FerretDB 1.x (PostgreSQL and SQLite alike) stops
 * answering for good when such commands from two clients overlap (reproduced with 4 clients × 100
 * updates of the same documents), while single-statement upserts at 80 in parallel do not.
 * Two upserts of one new _id racing make the loser fail with E11000 although the document now
 * exists; that one is simply run again, and then it updates.
 */
export async function upsertEach<T extends Document>(collection: Collection<T>, upserts: Upsert<T>[], parallel = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < upserts.length) {
      const { filter, update } = upserts[next++]!;
      await collection.updateOne(filter, update, { upsert: true }).catch((err: unknown) => {
        if (!isDuplicateKey(err)) throw err;
        return collection.updateOne(filter, update, { upsert: true });
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, upserts.length) }, worker));
}

/**
 * Storage latency per command and collection (docs/architecture.md §11), from the driver's command
 * monitoring.
 */
function observeCommands(client: MongoClient, metrics: Metrics): void {
  const started = new Map<number, string>();
  client.on('commandStarted', (e) => {
    const collection = e.command[e.commandName];
    started.set(e.requestId, typeof collection === 'string' ? collection : '');
  });
  const done = (e: CommandSucceededEvent | CommandFailedEvent, outcome: string) => {
    const collection = started.get(e.requestId) ?? '';
    started.delete(e.requestId);
    if (e.commandName === 'hello' || e.commandName === 'ismaster') return;
    metrics.mongoCommands.observe({ command: e.commandName, collection, outcome }, e.duration / 1000);
  };
  client.on('commandSucceeded', (e) => done(e, 'ok'));
  client.on('commandFailed', (e) => done(e, 'error'));
}

export class MongoDatabase {
  readonly db: Db;
  private connected = false;

  private constructor(
    readonly client: MongoClient,
    database: string,
  ) {
    this.db = client.db(database);
  }

  /** Connects, retrying with backoff (readyz stays false meanwhile), and ensures indexes. */
  static async connect(
    url: string,
    database: string,
    log: Logger,
    opts: { metrics?: Metrics; maxPoolSize?: number; signal?: AbortSignal } = {},
  ): Promise<MongoDatabase> {
    const { metrics, maxPoolSize = 10, signal } = opts;
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, maxPoolSize, monitorCommands: metrics !== undefined });
    if (metrics) observeCommands(client, metrics);
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
        log.warn(
          { attempt, delayMs: delay, err: (err as Error).message },
          `mongodb: cannot reach ${redactUrl(url)}; retrying (is it running, and are the URL and credentials right?)`,
        );
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
  get seqHighWater(): Collection<SeqHighWaterDoc> {
    return this.db.collection<SeqHighWaterDoc>('seq_high_water');
  }
  get seqBlocks(): Collection<SeqBlockDoc> {
    return this.db.collection<SeqBlockDoc>('seq_blocks');
  }
  get conversations(): Collection<ConversationDoc> {
    return this.db.collection<ConversationDoc>('conversations');
  }
  get userConversations(): Collection<UserConversationDoc> {
    return this.db.collection<UserConversationDoc>('user_conversations');
  }

  get groups(): Collection<GroupDoc> {
    return this.db.collection<GroupDoc>('groups');
  }
  get groupMembers(): Collection<GroupMemberDoc> {
    return this.db.collection<GroupMemberDoc>('group_members');
  }

  get files(): Collection<FileDoc> {
    return this.db.collection<FileDoc>('files');
  }
  get uploads(): Collection<UploadDoc> {
    return this.db.collection<UploadDoc>('uploads');
  }
  get uploadChunks(): Collection<UploadChunkDoc> {
    return this.db.collection<UploadChunkDoc>('upload_chunks');
  }
  get fileChallenges(): Collection<FileChallengeDoc> {
    return this.db.collection<FileChallengeDoc>('file_challenges');
  }
  get fileGrants(): Collection<FileGrantDoc> {
    return this.db.collection<FileGrantDoc>('file_grants');
  }
  get fileContents(): Collection<FileContentDoc> {
    return this.db.collection<FileContentDoc>('file_contents');
  }
  get fileUsage(): Collection<FileUsageDoc> {
    return this.db.collection<FileUsageDoc>('file_usage');
  }

  private async ensureIndexes(): Promise<void> {
    await this.messages.createIndex({ appId: 1, conversation: 1, seq: 1 }, { unique: true, name: 'app_conv_seq' });
    await this.messages.createIndex({ appId: 1, conversation: 1, ts: 1 }, { name: 'app_conv_ts' });
    await this.userConversations.createIndex({ appId: 1, userId: 1 }, { name: 'app_user' });
    await this.groupMembers.createIndex({ appId: 1, groupId: 1, userId: 1 }, { name: 'app_group_user' });
    await this.groupMembers.createIndex({ appId: 1, userId: 1 }, { name: 'app_user' });
    await this.files.createIndex({ appId: 1, fileId: 1 }, { unique: true, name: 'app_file' });
    await this.uploads.createIndex({ appId: 1, uploadId: 1 }, { unique: true, name: 'app_upload' });
    await this.uploads.createIndex({ appId: 1, userId: 1, md5: 1, size: 1 }, { name: 'app_user_md5_size' });
    await this.uploads.createIndex({ updatedAt: 1 }, { name: 'updated_at' });
    await this.uploadChunks.createIndex({ gen: 1, index: 1 }, { unique: true, name: 'gen_index' });
    await this.fileGrants.createIndex({ appId: 1, fileId: 1, conversation: 1 }, { unique: true, name: 'app_file_conv' });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
