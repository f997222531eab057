// The BlobStore port on MinIO (or any S3 API) through the minio client. One bucket; objects
// under `<appId>/<key>` (services/ports/blob-store.ts). Bodies are streamed through a transform
// that counts and hashes them (MD5 verified on the server side, whatever the multipart layout),
// so an object of the wrong size or hash is removed again and reported as IM_BAD_REQUEST.
// Multipart uploads are S3 multipart uploads aimed at the final object name (their reference is
// the S3 upload id): each part is sent with its Content-MD5, so the server checks it too.
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { type BucketItem, Client } from 'minio';
import { ImError } from '../../../protocol/errors.js';
import {
  type BlobEntry,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  bareEtag,
  checkAppId,
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

export interface MinioBlobStoreOptions {
  endPoint: string;
  port?: number;
  useSSL?: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** S3 region for makeBucket; MinIO ignores it. Default us-east-1. */
  region?: string;
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);
/** What S3 answers to a part or a part list it refuses (a wrong digest, a part or etag it does not hold, a part too small). */
const BAD_MULTIPART = new Set(['BadDigest', 'InvalidDigest', 'InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'MalformedXML']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

const codeOf = (err: unknown): string | undefined => (err as { code?: string } | undefined)?.code;

/** Counts and hashes what passes; fails once more than `limit` bytes went through. */
class CountingHash extends Transform {
  bytes = 0;
  private readonly hash = createHash('md5');
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(new ImError('IM_BAD_REQUEST', `the body is longer than the declared size ${this.limit}`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

export class MinioBlobStore implements BlobStore {
  private readonly client: Client;
  private readonly bucket: string;
  private readonly where: string;

  constructor(private readonly opts: MinioBlobStoreOptions) {
    this.client = new Client({
      endPoint: opts.endPoint,
      port: opts.port,
      useSSL: opts.useSSL ?? false,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
    });
    this.bucket = opts.bucket;
    this.where = `${opts.useSSL ? 'https' : 'http'}://${opts.endPoint}${opts.port ? `:${opts.port}` : ''}/${opts.bucket}`;
  }

  /** Maps client errors onto the catalog; IM_UNAVAILABLE tells the caller to retry. */
  private fail(what: string, err: unknown): ImError {
    if (err instanceof ImError) return err;
    const code = codeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    if (code && NOT_FOUND.has(code)) return new ImError('IM_NOT_FOUND', `${what}: no such object`, { cause: err });
    if (code === 'NoSuchUpload') return new ImError('IM_NOT_FOUND', `${what}: no such multipart upload`, { cause: err });
    if (code && BAD_MULTIPART.has(code)) return new ImError('IM_BAD_REQUEST', `${what}: ${code}: ${message}`, { cause: err });
    if (code === 'InvalidRange') return new ImError('IM_BAD_REQUEST', `${what}: range not satisfiable`, { cause: err });
    if (code === 'NoSuchBucket') {
      return new ImError(
        'IM_UNAVAILABLE',
        `${what}: bucket ${this.bucket} does not exist at ${this.where}; ensureBucket() at start-up creates it`,
        { cause: err },
      );
    }
    if (code && NETWORK.has(code)) {
      return new ImError(
        'IM_UNAVAILABLE',
        `${what}: cannot reach MinIO at ${this.where} (${code}); check minio.endPoint/port and that the server is up`,
        { cause: err },
      );
    }
    return new ImError('IM_UNAVAILABLE', `${what}: ${message}`, { cause: err });
  }

  async ensureBucket(): Promise<void> {
    try {
      if (await this.client.bucketExists(this.bucket)) return;
      await this.client.makeBucket(this.bucket, this.opts.region ?? 'us-east-1');
    } catch (err) {
      // Another process created it between our check and our create.
      const code = codeOf(err);
      if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return;
      throw this.fail(`ensureBucket ${this.bucket}`, err);
    }
  }

  async put(appId: string, key: string, body: Uint8Array | Readable, opts: PutOptions): Promise<PutResult> {
    const name = objectName(appId, key);
    const expectedMd5 = checkPutOptions(opts);
    const meta = { 'Content-Type': opts.contentType };
    let size: number;
    let md5: string;
    try {
      if (body instanceof Uint8Array) {
        size = body.byteLength;
        if (size !== opts.size) throw new ImError('IM_BAD_REQUEST', `the body has ${size} bytes, not the declared ${opts.size}`);
        md5 = createHash('md5').update(body).digest('hex');
        if (expectedMd5 && md5 !== expectedMd5)
          throw new ImError('IM_BAD_REQUEST', `md5 mismatch: the body hashes to ${md5}, not ${expectedMd5}`);
        await this.client.putObject(this.bucket, name, asBuffer(body), size, meta);
      } else {
        const counter = new CountingHash(opts.size);
        // A source error must reach the upload, or it would wait forever.
        body.once('error', (err) => counter.destroy(err));
        try {
          await this.client.putObject(this.bucket, name, body.pipe(counter), opts.size, meta);
        } catch (err) {
          // The counter's own verdict (too long) is clearer than the client's.
          throw counter.errored ?? err;
        }
        size = counter.bytes;
        md5 = counter.digest();
        const mismatch =
          size !== opts.size
            ? `the body has ${size} bytes, not the declared ${opts.size}`
            : expectedMd5 && md5 !== expectedMd5
              ? `md5 mismatch: the body hashes to ${md5}, not ${expectedMd5}`
              : undefined;
        if (mismatch) {
          // Already stored: take it back, nothing of a bad upload may remain.
          await this.client.removeObject(this.bucket, name).catch(() => undefined);
          throw new ImError('IM_BAD_REQUEST', mismatch);
        }
      }
    } catch (err) {
      throw this.fail(`put ${key}`, err);
    }
    return { key, size, md5 };
  }

  async stat(appId: string, key: string): Promise<BlobInfo | undefined> {
    const name = objectName(appId, key);
    try {
      const s = await this.client.statObject(this.bucket, name);
      const contentType = String(s.metaData['content-type'] ?? s.metaData['Content-Type'] ?? 'application/octet-stream');
      return { key, size: s.size, contentType, lastModified: s.lastModified };
    } catch (err) {
      const e = this.fail(`stat ${key}`, err);
      if (e.code === 'IM_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async get(appId: string, key: string, range?: ByteRange): Promise<Readable> {
    const name = objectName(appId, key);
    // Validate the numbers before asking; whether the range fits is the server's answer.
    checkRange(range, Number.MAX_SAFE_INTEGER);
    try {
      if (!range || (range.offset === 0 && range.length === undefined)) return await this.client.getObject(this.bucket, name);
      return await this.client.getPartialObject(this.bucket, name, range.offset, range.length);
    } catch (err) {
      const e = this.fail(`get ${key}`, err);
      if (e.code === 'IM_BAD_REQUEST' && range?.offset === 0) {
        // S3 refuses any range of an empty object; the port gives an empty body.
        const info = await this.stat(appId, key);
        if (info?.size === 0) return Readable.from([]);
      }
      throw e;
    }
  }

  async remove(appId: string, key: string): Promise<void> {
    const name = objectName(appId, key);
    try {
      await this.client.removeObject(this.bucket, name);
    } catch (err) {
      const e = this.fail(`remove ${key}`, err);
      if (e.code !== 'IM_NOT_FOUND') throw e;
    }
  }

  async list(appId: string, prefix: string): Promise<BlobEntry[]> {
    const full = objectPrefix(appId, prefix);
    const appPrefix = `${appId}/`;
    const entries: BlobEntry[] = [];
    try {
      const stream = this.client.listObjectsV2(this.bucket, full, true);
      for await (const item of stream as AsyncIterable<BucketItem>) {
        if (item.name) entries.push({ key: item.name.slice(appPrefix.length), size: item.size, lastModified: item.lastModified });
      }
    } catch (err) {
      throw this.fail(`list ${prefix}`, err);
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async startMultipart(appId: string, key: string, opts: { contentType: string }): Promise<string> {
    const name = objectName(appId, key);
    checkContentType(opts.contentType);
    try {
      return await this.client.initiateNewMultipartUpload(this.bucket, name, { 'Content-Type': opts.contentType });
    } catch (err) {
      throw this.fail(`startMultipart ${key}`, err);
    }
  }

  async putPart(appId: string, key: string, uploadRef: string, partNumber: number, body: Uint8Array, md5?: string): Promise<MultipartPart> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    checkPartNumber(partNumber);
    const expected = checkPartMd5(md5);
    // The server checks the bytes against Content-MD5 (BadDigest): the caller's MD5 when given,
    // else ours, which still catches bytes damaged on the way.
    const digest = expected ? Buffer.from(expected, 'hex') : createHash('md5').update(body).digest();
    try {
      const res = await this.client.uploadPart(
        {
          bucketName: this.bucket,
          objectName: name,
          uploadID: uploadRef,
          partNumber,
          headers: { 'Content-MD5': digest.toString('base64') },
        },
        asBuffer(body),
      );
      return { partNumber, etag: bareEtag(res.etag) };
    } catch (err) {
      throw this.fail(`putPart ${partNumber} of ${key}`, err);
    }
  }

  async completeMultipart(appId: string, key: string, uploadRef: string, parts: MultipartPart[]): Promise<{ key: string; size: number }> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    checkParts(parts);
    try {
      await this.client.completeMultipartUpload(
        this.bucket,
        name,
        uploadRef,
        parts.map((p) => ({ part: p.partNumber, etag: bareEtag(p.etag) })),
      );
      const s = await this.client.statObject(this.bucket, name);
      return { key, size: s.size };
    } catch (err) {
      throw this.fail(`completeMultipart ${key}`, err);
    }
  }

  async abortMultipart(appId: string, key: string, uploadRef: string): Promise<void> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    try {
      await this.client.abortMultipartUpload(this.bucket, name, uploadRef);
    } catch (err) {
      const e = this.fail(`abortMultipart ${key}`, err);
      if (e.code !== 'IM_NOT_FOUND') throw e;
    }
  }

  async staleMultiparts(before: Date): Promise<StaleMultipart[]> {
    const out: StaleMultipart[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    try {
      // The whole bucket (MinIO lists multipart uploads under an exact object name or all of them,
      // not under a folder-like prefix), a page of up to 1000 at a time.
      for (;;) {
        const page = await this.client.listIncompleteUploadsQuery(this.bucket, '', keyMarker, uploadIdMarker, '');
        for (const u of page.uploads) {
          const stale = staleEntry(u.key, u.uploadId, u.initiated);
          if (stale && stale.initiated.getTime() < before.getTime()) out.push(stale);
        }
        const last = page.uploads.at(-1);
        // The client drops NextUploadIdMarker; the last upload of the page is the same marker.
        if (!page.isTruncated || !last || (last.key === keyMarker && last.uploadId === uploadIdMarker)) break;
        keyMarker = page.nextKeyMarker || last.key;
        uploadIdMarker = page.nextUploadIdMarker || last.uploadId;
      }
    } catch (err) {
      throw this.fail('staleMultiparts', err);
    }
    return out;
  }
}

/** An upload of the bucket as the port names it; undefined for a name no app could have made. */
function staleEntry(name: string, uploadRef: string, initiated: Date): StaleMultipart | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) return undefined;
  const appId = name.slice(0, slash);
  const key = name.slice(slash + 1);
  try {
    checkAppId(appId);
    objectName(appId, key);
    checkUploadRef(uploadRef);
  } catch {
    return undefined;
  }
  return { appId, key, uploadRef, initiated: initiated instanceof Date ? initiated : new Date(initiated) };
}
