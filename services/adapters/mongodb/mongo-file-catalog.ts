import { randomUUID } from 'node:crypto';
import type { Collection } from 'mongodb';
import { ImError } from '../../../protocol/errors.js';
import type { ChallengeRecord, FileCatalog, FileGrant, FileRecord, UploadAdvance, UploadRecord } from '../../ports/file-catalog.js';
import {
  docId,
  type FileChallengeDoc,
  type FileContentDoc,
  type FileDoc,
  type FileGrantDoc,
  type FileUsageDoc,
  isDuplicateKey,
  ONE_BATCH,
  type UploadChunkDoc,
  type UploadDoc,
} from './mongo-database.js';

/** The collections the catalog uses; a MongoDatabase has them all. */
export interface FileCatalogCollections {
  files: Collection<FileDoc>;
  uploads: Collection<UploadDoc>;
  uploadChunks: Collection<UploadChunkDoc>;
  fileChallenges: Collection<FileChallengeDoc>;
  fileGrants: Collection<FileGrantDoc>;
  fileUsage: Collection<FileUsageDoc>;
  fileContents: Collection<FileContentDoc>;
}

/** More usage versions past the hint than this means something else is wrong; give up loudly. */
const MAX_WALK = 10_000;

function toFile(d: FileDoc): FileRecord {
  return {
    appId: d.appId,
    fileId: d.fileId,
    md5: d.md5,
    size: d.size,
    name: d.name,
    contentType: d.contentType,
    uploader: d.uploader,
    createdAt: d.createdAt,
    ...(d.width !== undefined && d.width !== null && { width: d.width }),
    ...(d.height !== undefined && d.height !== null && { height: d.height }),
    thumbnail: d.thumbnail,
  };
}

/** The upload as created plus the chunks appended since, in order, up to the first one missing. */
function toUpload(d: UploadDoc, chunks: UploadChunkDoc[]): UploadRecord {
  const record: UploadRecord = {
    appId: d.appId,
    uploadId: d.uploadId,
    userId: d.userId,
    md5: d.md5,
    size: d.size,
    name: d.name,
    contentType: d.contentType,
    chunkBytes: d.chunkBytes,
    blobUploadRef: d.blobUploadRef,
    chunksHeld: d.chunksHeld,
    partMd5s: [...d.partMd5s],
    partEtags: [...d.partEtags],
    hashState: d.hashState,
    createdAt: d.createdAt,
    // The document's updatedAt is only raised after a chunk: with no chunk it is the created one.
    updatedAt: d.updatedAt,
  };
  const byIndex = new Map(chunks.map((c) => [c.index, c]));
  for (let c = byIndex.get(record.chunksHeld); c; c = byIndex.get(record.chunksHeld)) appendChunk(record, c);
  return record;
}

function appendChunk(record: UploadRecord, chunk: UploadAdvance): void {
  record.chunksHeld += 1;
  record.partMd5s.push(chunk.partMd5);
  record.partEtags.push(chunk.partEtag);
  record.hashState = chunk.hashState;
  record.updatedAt = chunk.updatedAt;
}

function toChallenge(d: FileChallengeDoc): ChallengeRecord {
  return {
    appId: d.appId,
    challengeId: d.challengeId,
    userId: d.userId,
    md5: d.md5,
    size: d.size,
    name: d.name,
    contentType: d.contentType,
    nonce: d.nonce,
    ranges: d.ranges.map((r) => ({ offset: r.offset, length: r.length })),
    expiresAt: d.expiresAt,
  };
}

/**
 * The file service's records on MongoDB, written so that FerretDB 1.x keeps every promise too.
 * There `findOneAndUpdate` and `findOneAndDelete` are a read, a change computed in Go and a write
 * of the whole document with nothing that stops two of them overlapping (ADR 0026): two
 * compare-and-sets from one state both win, two takes both get the document, two `$inc` lose
 * one. What is atomic there: an insert under a unique `_id`, and a delete's count of deleted
 * documents. So a chunk is an inserted document (`upload_chunks`, `_id` = the upload and the
 * index), a take is a read then a delete that must count one, and an app's usage is a chain of
 * inserted totals (the seq blocks of ADR 0027, applied to a counter).
 */
export class MongoFileCatalog implements FileCatalog {
  private readonly files: Collection<FileDoc>;
  private readonly uploads: Collection<UploadDoc>;
  private readonly uploadChunks: Collection<UploadChunkDoc>;
  private readonly challenges: Collection<FileChallengeDoc>;
  private readonly grants: Collection<FileGrantDoc>;
  private readonly usages: Collection<FileUsageDoc>;
  private readonly contents: Collection<FileContentDoc>;

  constructor(collections: FileCatalogCollections) {
    this.files = collections.files;
    this.uploads = collections.uploads;
    this.uploadChunks = collections.uploadChunks;
    this.challenges = collections.fileChallenges;
    this.grants = collections.fileGrants;
    this.usages = collections.fileUsage;
    this.contents = collections.fileContents;
  }

  async addFile(file: FileRecord): Promise<void> {
    const { width, height, ...rest } = file;
    const doc: FileDoc = {
      _id: docId(file.appId, file.fileId),
      ...rest,
      ...(width !== undefined && { width }),
      ...(height !== undefined && { height }),
    };
    try {
      await this.files.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ImError('IM_ADMIN_CONFLICT', `file ${file.fileId} exists`, { cause: err });
      throw err;
    }
    // The first record of these bytes names them for findByContent; later ones find it there.
    await this.contents.insertOne({ _id: docId(file.appId, file.md5, String(file.size)), fileId: file.fileId }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
  }

  async getFile(appId: string, fileId: string): Promise<FileRecord | null> {
    const d = await this.files.findOne({ _id: docId(appId, fileId) });
    return d ? toFile(d) : null;
  }

  async findByContent(appId: string, md5: string, size: number): Promise<FileRecord | null> {
    const content = await this.contents.findOne({ _id: docId(appId, md5, String(size)) });
    return content ? this.getFile(appId, content.fileId) : null;
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    const doc: UploadDoc = {
      _id: docId(upload.appId, upload.uploadId),
      gen: randomUUID(),
      ...upload,
      partMd5s: [...upload.partMd5s],
      partEtags: [...upload.partEtags],
    };
    try {
      await this.uploads.insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ImError('IM_ADMIN_CONFLICT', `upload ${upload.uploadId} exists`, { cause: err });
      throw err;
    }
  }

  async getUpload(appId: string, uploadId: string): Promise<UploadRecord | null> {
    const d = await this.uploads.findOne({ _id: docId(appId, uploadId) });
    return d ? this.withChunks(d) : null;
  }

  async findUpload(appId: string, userId: string, md5: string, size: number): Promise<UploadRecord | null> {
    const [d] = await this.uploads.find({ appId, userId, md5, size }, { batchSize: ONE_BATCH }).sort({ createdAt: -1 }).limit(1).toArray();
    return d ? this.withChunks(d) : null;
  }

  async advanceUpload(appId: string, uploadId: string, chunksHeld: number, chunk: UploadAdvance): Promise<UploadRecord | null> {
    const d = await this.uploads.findOne({ _id: docId(appId, uploadId) });
    if (!d) return null;
    const record = await this.withChunks(d);
    if (record.chunksHeld !== chunksHeld) return null;
    try {
      await this.uploadChunks.insertOne({
        _id: docId(appId, uploadId, d.gen, String(chunksHeld)),
        appId,
        uploadId,
        gen: d.gen,
        index: chunksHeld,
        partMd5: chunk.partMd5,
        partEtag: chunk.partEtag,
        hashState: chunk.hashState,
        updatedAt: chunk.updatedAt,
      });
    } catch (err) {
      // Another chunk at this index got there first.
      if (isDuplicateKey(err)) return null;
      throw err;
    }
    appendChunk(record, chunk);
    // The hint the cleanup queries by; staleUploads checks it against the chunks.
    await this.uploads.updateOne({ _id: d._id }, { $max: { updatedAt: chunk.updatedAt } });
    return record;
  }

  async removeUpload(appId: string, uploadId: string): Promise<void> {
    const d = await this.uploads.findOne({ _id: docId(appId, uploadId) });
    if (!d) return;
    await this.uploads.deleteOne({ _id: d._id, gen: d.gen });
    await this.uploadChunks.deleteMany({ gen: d.gen });
  }

  async staleUploads(before: number, limit: number): Promise<UploadRecord[]> {
    if (limit <= 0) return [];
    const docs = await this.uploads
      .find({ updatedAt: { $lt: before } }, { batchSize: ONE_BATCH })
      .sort({ updatedAt: 1 })
      .limit(limit)
      .toArray();
    const records = await this.withChunksMany(docs);
    const stale: UploadRecord[] = [];
    for (const [i, record] of records.entries()) {
      if (record.updatedAt < before) stale.push(record);
      // A hint left behind (a raise lost to an overlapping one, or a replica killed before it):
      // set it right, so that the upload is not read again before it is stale.
      else await this.uploads.updateOne({ _id: docs[i]!._id }, { $max: { updatedAt: record.updatedAt } });
    }
    return stale;
  }

  private async withChunks(d: UploadDoc): Promise<UploadRecord> {
    const chunks = await this.uploadChunks.find({ gen: d.gen }, { batchSize: ONE_BATCH }).toArray();
    return toUpload(d, chunks);
  }

  private async withChunksMany(docs: UploadDoc[]): Promise<UploadRecord[]> {
    if (docs.length === 0) return [];
    const chunks = await this.uploadChunks.find({ gen: { $in: docs.map((d) => d.gen) } }, { batchSize: ONE_BATCH }).toArray();
    const byGen = new Map<string, UploadChunkDoc[]>();
    for (const c of chunks) {
      let list = byGen.get(c.gen);
      if (!list) byGen.set(c.gen, (list = []));
      list.push(c);
    }
    return docs.map((d) => toUpload(d, byGen.get(d.gen) ?? []));
  }

  async putChallenge(challenge: ChallengeRecord): Promise<void> {
    const doc: FileChallengeDoc = { _id: docId(challenge.appId, challenge.challengeId), ...challenge };
    await this.challenges.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  async takeChallenge(appId: string, challengeId: string): Promise<ChallengeRecord | null> {
    const _id = docId(appId, challengeId);
    const d = await this.challenges.findOne({ _id });
    if (!d) return null;
    // Of two takes that both read it, only the one whose delete removed it gets it.
    const { deletedCount } = await this.challenges.deleteOne({ _id });
    return deletedCount === 1 ? toChallenge(d) : null;
  }

  async grant(grant: FileGrant): Promise<void> {
    const { appId, fileId, conversation } = grant;
    await this.grants.insertOne({ _id: docId(appId, fileId, conversation), appId, fileId, conversation }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
  }

  async hasGrant(appId: string, fileId: string, conversation: string): Promise<boolean> {
    return (await this.grants.findOne({ _id: docId(appId, fileId, conversation) }, { projection: { _id: 1 } })) !== null;
  }

  async grantsOf(appId: string, fileId: string, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const docs = await this.grants
      .find({ appId, fileId }, { batchSize: ONE_BATCH, projection: { conversation: 1 } })
      .limit(limit)
      .toArray();
    return docs.map((d) => d.conversation);
  }

  /**
   * Inserts the next total of the chain: version n + 1 = total n + bytes, under a unique `_id`.
   * Of two adds that both read version n, one inserts n + 1 and the other walks on and adds after it.
   */
  async addUsage(appId: string, bytes: number): Promise<number> {
    let { version, total } = await this.latestUsage(appId);
    for (let step = 0; step < MAX_WALK; step++) {
      const next = { version: version + 1, total: total + bytes };
      try {
        await this.usages.insertOne({ _id: docId(appId, String(next.version)), appId, ...next });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        ({ version, total } = await this.walkUsage(appId, version, total));
        continue;
      }
      await this.raiseUsageHint(appId, next.version, next.total);
      return next.total;
    }
    throw new Error(`file_usage: more than ${MAX_WALK} failed adds in a row for ${appId}`);
  }

  async usage(appId: string): Promise<number> {
    return (await this.latestUsage(appId)).total;
  }

  /** The newest version of the chain: from the hint, walked on past versions it does not know of. */
  private async latestUsage(appId: string): Promise<{ version: number; total: number }> {
    const hint = await this.usages.findOne({ _id: docId(appId, 'latest') });
    return this.walkUsage(appId, hint?.version ?? 0, hint?.total ?? 0);
  }

  private async walkUsage(appId: string, version: number, total: number): Promise<{ version: number; total: number }> {
    for (let step = 0; step < MAX_WALK; step++) {
      const next = await this.usages.findOne({ _id: docId(appId, String(version + 1)) });
      if (!next) return { version, total };
      version = next.version;
      total = next.total;
    }
    throw new Error(`file_usage: more than ${MAX_WALK} versions past the hint for ${appId}`);
  }

  private async raiseUsageHint(appId: string, version: number, total: number): Promise<void> {
    const _id = docId(appId, 'latest');
    // Only a hint: a raise lost to an overlapping one costs a longer walk, never bytes.
    await this.usages
      .updateOne({ _id, version: { $lt: version } }, { $set: { appId, version, total } }, { upsert: true })
      .catch((err: unknown) => {
        // A newer hint is there (the filter missed it and the upsert collided with its _id).
        if (!isDuplicateKey(err)) throw err;
      });
  }
}
