import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ImError } from '../../../protocol/errors.js';
import {
  type BlobEntry,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  bareEtag,
  checkContentType,
  checkPartMd5,
  checkPartNumber,
  checkParts,
  checkPutOptions,
  checkRange,
  checkUploadRef,
  type MultipartPart,
  objectName,
  objectPrefix,
  type PutOptions,
  type PutResult,
  type StaleMultipart,
} from '../../ports/blob-store.js';
import { asBuffer } from '../../shared/bytes.js';

interface StoredObject {
  data: Buffer;
  contentType: string;
  lastModified: Date;
}

interface OpenUpload {
  /** The target's full name `<appId>/<key>`. */
  name: string;
  appId: string;
  key: string;
  contentType: string;
  initiated: Date;
  /** Part number → its bytes (a copy) and etag (their MD5). */
  parts: Map<number, { data: Buffer; etag: string }>;
}

/** The BlobStore in process memory (embedded mode and unit tests). Multipart parts are buffers. */
export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, OpenUpload>();
  private bucketReady = false;

  async ensureBucket(): Promise<void> {
    this.bucketReady = true;
  }

  private requireBucket(): void {
    if (!this.bucketReady) throw new ImError('IM_UNAVAILABLE', 'blob store: ensureBucket() was not called');
  }

  async put(appId: string, key: string, body: Uint8Array | Readable, opts: PutOptions): Promise<PutResult> {
    const name = objectName(appId, key);
    const expectedMd5 = checkPutOptions(opts);
    this.requireBucket();
    const chunks: Buffer[] = [];
    let received = 0;
    const hash = createHash('md5');
    const source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> = body instanceof Uint8Array ? [body] : body;
    for await (const chunk of source) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : asBuffer(chunk);
      received += buf.length;
      if (received > opts.size) {
        if (!(body instanceof Uint8Array)) body.destroy();
        throw new ImError('IM_BAD_REQUEST', `the body is longer than the declared size ${opts.size}`);
      }
      hash.update(buf);
      chunks.push(Buffer.from(buf));
    }
    if (received !== opts.size) throw new ImError('IM_BAD_REQUEST', `the body has ${received} bytes, not the declared ${opts.size}`);
    const md5 = hash.digest('hex');
    if (expectedMd5 && md5 !== expectedMd5)
      throw new ImError('IM_BAD_REQUEST', `md5 mismatch: the body hashes to ${md5}, not ${expectedMd5}`);
    this.objects.set(name, { data: Buffer.concat(chunks, received), contentType: opts.contentType, lastModified: new Date() });
    return { key, size: received, md5 };
  }

  async stat(appId: string, key: string): Promise<BlobInfo | undefined> {
    const name = objectName(appId, key);
    this.requireBucket();
    const o = this.objects.get(name);
    return o ? { key, size: o.data.length, contentType: o.contentType, lastModified: o.lastModified } : undefined;
  }

  async get(appId: string, key: string, range?: ByteRange): Promise<Readable> {
    const name = objectName(appId, key);
    this.requireBucket();
    const o = this.objects.get(name);
    if (!o) throw new ImError('IM_NOT_FOUND', `no object ${key} in this app`);
    checkRange(range, o.data.length);
    const start = range?.offset ?? 0;
    const end = range?.length === undefined ? o.data.length : Math.min(o.data.length, start + range.length);
    return Readable.from([o.data.subarray(start, end)]);
  }

  async remove(appId: string, key: string): Promise<void> {
    const name = objectName(appId, key);
    this.requireBucket();
    this.objects.delete(name);
  }

  async list(appId: string, prefix: string): Promise<BlobEntry[]> {
    const full = objectPrefix(appId, prefix);
    this.requireBucket();
    const appPrefix = `${appId}/`;
    return [...this.objects.entries()]
      .filter(([name]) => name.startsWith(full))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, o]) => ({ key: name.slice(appPrefix.length), size: o.data.length, lastModified: o.lastModified }));
  }

  async startMultipart(appId: string, key: string, opts: { contentType: string }): Promise<string> {
    const name = objectName(appId, key);
    checkContentType(opts.contentType);
    this.requireBucket();
    const uploadRef = randomUUID();
    this.uploads.set(uploadRef, { name, appId, key, contentType: opts.contentType, initiated: new Date(), parts: new Map() });
    return uploadRef;
  }

  /** The open upload `uploadRef` aimed at exactly this (appId, key); IM_NOT_FOUND otherwise. */
  private upload(appId: string, key: string, uploadRef: string): OpenUpload {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    this.requireBucket();
    const u = this.uploads.get(uploadRef);
    if (!u || u.name !== name) throw new ImError('IM_NOT_FOUND', `no multipart upload ${uploadRef} of ${key} in this app`);
    return u;
  }

  async putPart(appId: string, key: string, uploadRef: string, partNumber: number, body: Uint8Array, md5?: string): Promise<MultipartPart> {
    objectName(appId, key);
    checkUploadRef(uploadRef);
    checkPartNumber(partNumber);
    const expected = checkPartMd5(md5);
    const u = this.upload(appId, key, uploadRef);
    const etag = createHash('md5').update(body).digest('hex');
    if (expected && etag !== expected)
      throw new ImError('IM_BAD_REQUEST', `md5 mismatch: part ${partNumber} hashes to ${etag}, not ${expected}`);
    // A copy: the caller may reuse its buffer.
    u.parts.set(partNumber, { data: Buffer.from(body), etag });
    return { partNumber, etag };
  }

  async completeMultipart(appId: string, key: string, uploadRef: string, parts: MultipartPart[]): Promise<{ key: string; size: number }> {
    objectName(appId, key);
    checkUploadRef(uploadRef);
    checkParts(parts);
    const u = this.upload(appId, key, uploadRef);
    const buffers: Buffer[] = [];
    for (const p of parts) {
      const held = u.parts.get(p.partNumber);
      if (!held || held.etag !== bareEtag(p.etag).toLowerCase()) {
        throw new ImError('IM_BAD_REQUEST', `part ${p.partNumber} of the upload is missing or has another etag`);
      }
      buffers.push(held.data);
    }
    const data = Buffer.concat(buffers);
    this.objects.set(u.name, { data, contentType: u.contentType, lastModified: new Date() });
    this.uploads.delete(uploadRef);
    return { key, size: data.length };
  }

  async abortMultipart(appId: string, key: string, uploadRef: string): Promise<void> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    this.requireBucket();
    // Only an upload aimed at this very object: another app's reference is left alone.
    if (this.uploads.get(uploadRef)?.name === name) this.uploads.delete(uploadRef);
  }

  async staleMultiparts(before: Date): Promise<StaleMultipart[]> {
    this.requireBucket();
    return [...this.uploads.entries()]
      .filter(([, u]) => u.initiated.getTime() < before.getTime())
      .map(([uploadRef, u]) => ({ appId: u.appId, key: u.key, uploadRef, initiated: u.initiated }));
  }
}
