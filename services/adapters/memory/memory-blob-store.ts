import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ImError } from '../../../protocol/errors.js';
import {
  type BlobEntry,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  checkPutOptions,
  checkRange,
  objectName,
  objectPrefix,
  type PutOptions,
  type PutResult,
} from '../../ports/blob-store.js';
import { asBuffer } from '../../shared/bytes.js';

interface StoredObject {
  data: Buffer;
  contentType: string;
  lastModified: Date;
}

/** The BlobStore in process memory (embedded mode and unit tests). */
export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, StoredObject>();
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
}
