// Resumable uploads (ADR 0031): one multipart upload per upload id, aimed at `<appId>/<md5>`;
// chunks in order, each checked by its Content-MD5 and appended to the running MD5; complete
// checks the whole file's MD5 before the object appears, and aborts (nothing stored) when it
// does not match.
import type { IncomingMessage } from 'node:http';
import { ImError } from '../../protocol/errors.js';
import { blobKeys } from '../ports/blob-store.js';
import type { FileRecord, UploadRecord } from '../ports/file-catalog.js';
import { contentMd5, readChunk } from './chunk-body.js';
import { checkId, type FileContext, newId } from './file-context.js';
import { publishFileUploaded } from './file-events.js';
import type { FileRequest } from './file-request.js';
import { appendToMd5, emptyMd5State, md5Of } from './running-md5.js';
import type { Thumbnails } from './thumbnails.js';
import type { FileCaller } from './user-auth.js';

/** Chunk buffers kept between chunks (more in flight at once are made and dropped). */
const KEPT_BUFFERS = 4;

export interface UploadView {
  kind: 'upload';
  uploadId: string;
  chunkBytes: number;
  chunks: number;
  chunksHeld: number;
  size: number;
  md5: string;
}

export class Uploads {
  /** Chunk bodies being read now in this process (each up to chunkBytes in memory), in all and per app. */
  private chunksInFlight = 0;
  private readonly appChunksInFlight = new Map<string, number>();
  /**
   * Chunk buffers kept for the next chunks: a new 5 MiB buffer per chunk made the collector run
   * a full mark-compact about once per chunk (bench/RESULTS.md, files).
   */
  private readonly buffers: Buffer[] = [];

  constructor(
    private readonly cx: FileContext,
    private readonly thumbnails: Thumbnails,
  ) {}

  /** The caller's unfinished upload of these bytes, or a new one. */
  async begin(caller: FileCaller, req: FileRequest): Promise<UploadView> {
    const { files, blobs } = this.cx;
    const open = await files.findUpload(caller.appId, caller.userId, req.md5, req.size);
    if (open && !(await this.expired(open))) return view(open);
    const now = this.cx.now();
    const upload: UploadRecord = {
      appId: caller.appId,
      uploadId: newId('u'),
      userId: caller.userId,
      md5: req.md5,
      size: req.size,
      name: req.name,
      contentType: req.contentType,
      chunkBytes: this.cx.config.chunkBytes,
      blobUploadRef: await blobs.startMultipart(caller.appId, blobKeys.file(req.md5), { contentType: req.contentType }),
      chunksHeld: 0,
      partMd5s: [],
      partEtags: [],
      hashState: await emptyMd5State(),
      createdAt: now,
      updatedAt: now,
    };
    await files.createUpload(upload);
    this.cx.metrics.fileUploads.inc({ app_id: caller.appId, stage: 'started' });
    return view(upload);
  }

  async get(caller: FileCaller, uploadId: string): Promise<UploadView> {
    return view(await this.own(caller, uploadId));
  }

  /** Takes chunk `index` from the request body; a chunk held already and sent again with its MD5 is a retry. */
  async chunk(caller: FileCaller, uploadId: string, index: number, body: IncomingMessage): Promise<{ chunksHeld: number }> {
    const upload = await this.own(caller, uploadId);
    const chunks = chunkCount(upload);
    if (!Number.isInteger(index) || index < 0 || index >= chunks)
      throw new ImError('IM_BAD_REQUEST', `chunk index must be an integer from 0 to ${chunks - 1}`);
    const md5 = contentMd5(body);
    if (index < upload.chunksHeld) {
      if (upload.partMd5s[index] === md5) return { chunksHeld: upload.chunksHeld };
      throw new ImError(
        'IM_FILE_CHUNK_ORDER',
        `chunk ${index} is held already with other bytes; the upload expects chunk ${upload.chunksHeld}`,
      );
    }
    if (index > upload.chunksHeld) throw new ImError('IM_FILE_CHUNK_ORDER', `the upload expects chunk ${upload.chunksHeld}, not ${index}`);
    const appInFlight = this.appChunksInFlight.get(caller.appId) ?? 0;
    if (this.chunksInFlight >= this.cx.config.maxConcurrentChunks || appInFlight >= this.cx.config.maxConcurrentChunksPerApp)
      throw new ImError('IM_UNAVAILABLE', 'this file server is busy with other chunks; retry shortly', { retryAfterMs: 1_000 });
    this.chunksInFlight++;
    this.appChunksInFlight.set(caller.appId, appInFlight + 1);
    this.cx.metrics.fileChunksInFlight.set(this.chunksInFlight);
    const buffer = this.buffers.pop() ?? Buffer.allocUnsafe(this.cx.config.chunkBytes);
    try {
      const bytes = await readChunk(body, chunkLength(upload, index), buffer);
      const part = await this.putPart(upload, index, bytes, md5);
      const hashState = await appendToMd5(upload.hashState, bytes);
      const advance = { partMd5: md5, partEtag: part.etag, hashState, updatedAt: this.cx.now() };
      const next = await this.cx.files.advanceUpload(caller.appId, uploadId, index, advance);
      if (!next)
        throw new ImError('IM_FILE_CHUNK_ORDER', 'another request stored this chunk first; GET the upload and go on from chunksHeld');
      this.cx.metrics.fileBytesIn.inc({ app_id: caller.appId }, bytes.length);
      return { chunksHeld: next.chunksHeld };
    } finally {
      if (this.buffers.length < KEPT_BUFFERS) this.buffers.push(buffer);
      this.chunksInFlight--;
      this.cx.metrics.fileChunksInFlight.set(this.chunksInFlight);
      const left = (this.appChunksInFlight.get(caller.appId) ?? 1) - 1;
      if (left > 0) this.appChunksInFlight.set(caller.appId, left);
      else this.appChunksInFlight.delete(caller.appId);
    }
  }

  /** The store checks the chunk's MD5 as it hashes the bytes anyway; its refusal is the chunk's. */
  private async putPart(upload: UploadRecord, index: number, bytes: Buffer, md5: string) {
    try {
      return await this.cx.blobs.putPart(upload.appId, blobKeys.file(upload.md5), upload.blobUploadRef, index + 1, bytes, md5);
    } catch (err) {
      if (err instanceof ImError && err.code === 'IM_BAD_REQUEST')
        throw new ImError('IM_FILE_CHUNK_CORRUPT', `the chunk does not match its Content-MD5 ${md5}: ${err.message}`);
      throw err;
    }
  }

  /** Checks the whole file's MD5, then makes the object; a mismatch aborts the upload and stores nothing. */
  async complete(caller: FileCaller, uploadId: string): Promise<FileRecord> {
    const upload = await this.own(caller, uploadId);
    const chunks = chunkCount(upload);
    if (upload.chunksHeld < chunks)
      throw new ImError(
        'IM_FILE_CHUNK_ORDER',
        `the upload holds ${upload.chunksHeld} of ${chunks} chunks; send chunk ${upload.chunksHeld}`,
      );
    const { files, blobs, metrics } = this.cx;
    const key = blobKeys.file(upload.md5);
    const digest = await md5Of(upload.hashState);
    if (digest !== upload.md5) {
      await this.drop(upload);
      metrics.fileUploads.inc({ app_id: caller.appId, stage: 'failed' });
      throw new ImError('IM_FILE_MD5_MISMATCH', `the uploaded bytes hash to ${digest}, not the declared ${upload.md5}; nothing was stored`);
    }
    const existing = await files.findByContent(caller.appId, upload.md5, upload.size);
    const parts = upload.partEtags.map((etag, i) => ({ partNumber: i + 1, etag }));
    await blobs.completeMultipart(caller.appId, key, upload.blobUploadRef, parts).catch((err: unknown) => {
      // Completed meanwhile by a retry of this same complete, or aborted by the cleanup job.
      if (err instanceof ImError && err.code === 'IM_NOT_FOUND') throw new ImError('IM_UPLOAD_NOT_FOUND', undefined, { cause: err });
      throw err;
    });
    if (!existing) await files.addUsage(caller.appId, upload.size);
    const image = existing ? pickImage(existing) : await this.thumbnails.make(caller.appId, upload.md5, upload.size, upload.contentType);
    const file: FileRecord = {
      appId: caller.appId,
      fileId: newId('f'),
      md5: upload.md5,
      size: upload.size,
      name: upload.name,
      contentType: upload.contentType,
      uploader: caller.userId,
      createdAt: this.cx.now(),
      ...image,
    };
    await files.addFile(file);
    await files.removeUpload(caller.appId, uploadId);
    metrics.fileUploads.inc({ app_id: caller.appId, stage: 'completed' });
    await publishFileUploaded(this.cx, file, false);
    return file;
  }

  async abort(caller: FileCaller, uploadId: string): Promise<void> {
    await this.drop(await this.own(caller, uploadId));
  }

  /** Aborts the multipart upload and forgets the record (the cleanup job's step too). */
  async drop(upload: UploadRecord): Promise<void> {
    await this.cx.blobs.abortMultipart(upload.appId, blobKeys.file(upload.md5), upload.blobUploadRef);
    await this.cx.files.removeUpload(upload.appId, upload.uploadId);
  }

  /** The caller's own upload; another user's (or app's) id is simply not found. */
  private async own(caller: FileCaller, uploadId: string): Promise<UploadRecord> {
    checkId(uploadId, 'u', 'IM_UPLOAD_NOT_FOUND');
    const upload = await this.cx.files.getUpload(caller.appId, uploadId);
    if (!upload || upload.userId !== caller.userId || (await this.expired(upload))) throw new ImError('IM_UPLOAD_NOT_FOUND');
    return upload;
  }

  /** An upload lives at most twice file.uploadTtlMs (the cleanup job aborts older multipart uploads); an older one is dropped. */
  private async expired(upload: UploadRecord): Promise<boolean> {
    if (upload.createdAt >= this.cx.now() - 2 * this.cx.config.uploadTtlMs) return false;
    await this.drop(upload);
    return true;
  }
}

/** What a stored object's image facts are: the same for every record of its bytes. */
export function pickImage(file: FileRecord): Pick<FileRecord, 'width' | 'height' | 'thumbnail'> {
  return {
    thumbnail: file.thumbnail,
    ...(file.width !== undefined && { width: file.width }),
    ...(file.height !== undefined && { height: file.height }),
  };
}

function chunkCount(u: Pick<UploadRecord, 'size' | 'chunkBytes'>): number {
  return Math.ceil(u.size / u.chunkBytes);
}

function chunkLength(u: UploadRecord, index: number): number {
  return Math.min(u.chunkBytes, u.size - index * u.chunkBytes);
}

function view(u: UploadRecord): UploadView {
  return {
    kind: 'upload',
    uploadId: u.uploadId,
    chunkBytes: u.chunkBytes,
    chunks: chunkCount(u),
    chunksHeld: u.chunksHeld,
    size: u.size,
    md5: u.md5,
  };
}
