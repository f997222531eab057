// Object storage for the file service (docs/architecture.md §6). One bucket per cluster; every
// object lives under its app's prefix, `<appId>/<key>`, and the port only takes (appId, key) pairs,
// so no call can name another app's object. Keys are built with `blobKeys`:
//
//   <appId>/<md5>                          a finished file, content-addressed (32 hex digits)
//   <appId>/thumbs/<md5>/<width>           thumbnails of an image
//
// A resumable upload is a multipart upload aimed at its final key (docs/adr/0031-files.md): each
// chunk is a part, and nothing is visible under the key until the upload is completed.
//
// Errors: ImError IM_BAD_REQUEST for an invalid AppId, key, size, MD5, range, part number, part
// list or upload reference; IM_NOT_FOUND for get of a missing object and for an unknown multipart
// upload; IM_UNAVAILABLE when the store cannot be reached.
import type { Readable } from 'node:stream';
import { APP_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';

export interface BlobEntry {
  /** The key inside the app (without the `<appId>/` prefix). */
  key: string;
  size: number;
  lastModified: Date;
}

export interface BlobInfo extends BlobEntry {
  contentType: string;
}

export interface PutOptions {
  /** Exact byte length; a body of another length is refused (IM_BAD_REQUEST) and nothing is stored. */
  size: number;
  contentType: string;
  /** Expected MD5 (hex); if the received bytes hash otherwise, IM_BAD_REQUEST and nothing is stored. */
  md5?: string;
}

export interface PutResult {
  key: string;
  size: number;
  /** MD5 (hex) of the bytes received, computed while storing them (server-side verification). */
  md5: string;
}

/** Bytes [offset, offset + length) of an object; without length, to its end. */
export interface ByteRange {
  offset: number;
  length?: number;
}

/** A stored part of a multipart upload, as completeMultipart wants it back. */
export interface MultipartPart {
  partNumber: number;
  etag: string;
}

/** A multipart upload still open (neither completed nor aborted). */
export interface StaleMultipart {
  appId: string;
  key: string;
  uploadRef: string;
  initiated: Date;
}

export interface BlobStore {
  /** Creates the bucket if missing (idempotent); call once at start-up. */
  ensureBucket(): Promise<void>;
  /** Stores (or replaces) an object; a Readable body is streamed (an S3 client buffers at most one part). */
  put(appId: string, key: string, body: Uint8Array | Readable, opts: PutOptions): Promise<PutResult>;
  /** The object's metadata, or undefined if there is none. */
  stat(appId: string, key: string): Promise<BlobInfo | undefined>;
  /**
   * The object's bytes (all, or a range clipped at the end of the object). A range starting at
   * or past the end of a non-empty object is IM_BAD_REQUEST; a missing object IM_NOT_FOUND.
   */
  get(appId: string, key: string, range?: ByteRange): Promise<Readable>;
  /** Deletes the object; deleting a missing object is not an error. */
  remove(appId: string, key: string): Promise<void>;
  /** Objects whose key starts with `prefix` (e.g. an image's thumbnails), ordered by key; open multipart uploads are not objects. */
  list(appId: string, prefix: string): Promise<BlobEntry[]>;

  /** Starts a multipart upload aimed at `key`; nothing is visible under `key` until complete. Returns the upload's reference. */
  startMultipart(appId: string, key: string, opts: { contentType: string }): Promise<string>;
  /**
   * Stores part `partNumber` (1..10000) of the upload from bytes; if `md5` (hex) is given and the
   * bytes hash otherwise: IM_BAD_REQUEST and the part is not stored. Replaces a part of the same
   * number. Unknown upload (or one aimed at another key or app): IM_NOT_FOUND.
   */
  putPart(appId: string, key: string, uploadRef: string, partNumber: number, body: Uint8Array, md5?: string): Promise<MultipartPart>;
  /**
   * Makes the object `key` from the parts, in the order given (part numbers ascending; all but the
   * last at least 5 MiB on S3; the memory and folder adapters accept any size); the multipart
   * upload is gone afterwards. Returns the object's size. Unknown upload: IM_NOT_FOUND. A part
   * whose etag does not match (or that was never stored): IM_BAD_REQUEST, and the upload stays.
   */
  completeMultipart(appId: string, key: string, uploadRef: string, parts: MultipartPart[]): Promise<{ key: string; size: number }>;
  /** Drops the upload and its parts; aborting an unknown or finished upload is not an error. */
  abortMultipart(appId: string, key: string, uploadRef: string): Promise<void>;
  /** Multipart uploads of any app started before `before`: the cleanup job's backstop for uploads whose record was never written. */
  staleMultiparts(before: Date): Promise<StaleMultipart[]>;
}

const MD5 = /^[0-9a-f]{32}$/;
const SEGMENT = /^[A-Za-z0-9_.-]{1,200}$/;
/** What the adapters hand out as upload references (UUIDs, S3 upload ids): safe in a path and a query. */
const UPLOAD_REF = /^[A-Za-z0-9_.-]{1,1024}$/;
export const MAX_PART_NUMBER = 10_000;

/** Keys inside an app (the store adds the `<appId>/` prefix). */
export const blobKeys = {
  file(md5: string): string {
    if (!MD5.test(md5)) throw new ImError('IM_BAD_REQUEST', 'md5 must be 32 lowercase hex digits');
    return md5;
  },
  thumbnail(md5: string, width: number): string {
    if (!Number.isInteger(width) || width < 1 || width > 10_000)
      throw new ImError('IM_BAD_REQUEST', 'thumbnail width must be an integer from 1 to 10000');
    return `thumbs/${blobKeys.file(md5)}/${width}`;
  },
} as const;

export function checkAppId(appId: string): void {
  if (!APP_ID.test(appId)) throw new ImError('IM_BAD_REQUEST', `app id must match ${APP_ID.source}`);
}

/**
 * The full object name `<appId>/<key>`, after checking both: the AppId by its pattern, the key
 * as '/'-separated segments of [A-Za-z0-9_.-] that are not '.' or '..'. Adapters call this for
 * every operation, so an object of another app can never be named.
 */
export function objectName(appId: string, key: string): string {
  checkAppId(appId);
  const segments = key.split('/');
  if (key.length > 512 || segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new ImError('IM_BAD_REQUEST', 'invalid object key: use blobKeys');
  }
  return `${appId}/${key}`;
}

/** The listing prefix `<appId>/<prefix>`; the prefix may be empty or end with '/'. */
export function objectPrefix(appId: string, prefix: string): string {
  checkAppId(appId);
  if (prefix === '') return `${appId}/`;
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return objectName(appId, trimmed) + (prefix.endsWith('/') ? '/' : '');
}

/** Checks a put's options; returns the expected MD5 (lowercase) if any. */
export function checkPutOptions(opts: PutOptions): string | undefined {
  if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new ImError('IM_BAD_REQUEST', 'size must be a non-negative integer');
  if (!opts.contentType || opts.contentType.length > 200) throw new ImError('IM_BAD_REQUEST', 'content type is required');
  if (opts.md5 === undefined) return undefined;
  const md5 = opts.md5.toLowerCase();
  if (!MD5.test(md5)) throw new ImError('IM_BAD_REQUEST', 'md5 must be 32 hex digits');
  return md5;
}

/** Checks a range against an object's size. */
export function checkRange(range: ByteRange | undefined, size: number): void {
  if (!range) return;
  if (!Number.isSafeInteger(range.offset) || range.offset < 0)
    throw new ImError('IM_BAD_REQUEST', 'range offset must be a non-negative integer');
  if (range.length !== undefined && (!Number.isSafeInteger(range.length) || range.length < 1)) {
    throw new ImError('IM_BAD_REQUEST', 'range length must be a positive integer');
  }
  if (range.offset >= size && !(size === 0 && range.offset === 0)) {
    throw new ImError('IM_BAD_REQUEST', `range starts at ${range.offset}, past the end of the object (${size} bytes)`);
  }
}

/** Checks an upload reference's shape (what an adapter could have handed out); IM_BAD_REQUEST if not. */
export function checkUploadRef(uploadRef: string): void {
  if (typeof uploadRef !== 'string' || !UPLOAD_REF.test(uploadRef) || uploadRef === '.' || uploadRef === '..') {
    throw new ImError('IM_BAD_REQUEST', 'invalid multipart upload reference');
  }
}

/** Checks a part number (1..10000, as on S3). */
export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new ImError('IM_BAD_REQUEST', `part number must be an integer from 1 to ${MAX_PART_NUMBER}`);
  }
}

/** Checks a part's expected MD5 if any; returns it lowercase. */
export function checkPartMd5(md5: string | undefined): string | undefined {
  if (md5 === undefined) return undefined;
  const lower = md5.toLowerCase();
  if (!MD5.test(lower)) throw new ImError('IM_BAD_REQUEST', 'md5 must be 32 hex digits');
  return lower;
}

/** Checks a multipart upload's content type. */
export function checkContentType(contentType: string): void {
  if (!contentType || contentType.length > 200) throw new ImError('IM_BAD_REQUEST', 'content type is required');
}

/** Checks the part list of a complete: at least one part, part numbers ascending, each with an etag. */
export function checkParts(parts: MultipartPart[]): void {
  if (!Array.isArray(parts) || parts.length === 0)
    throw new ImError('IM_BAD_REQUEST', 'a multipart upload completes from at least one part');
  if (parts.length > MAX_PART_NUMBER) throw new ImError('IM_BAD_REQUEST', `at most ${MAX_PART_NUMBER} parts`);
  let previous = 0;
  for (const p of parts) {
    if (typeof p !== 'object' || p === null) throw new ImError('IM_BAD_REQUEST', 'a part is { partNumber, etag }');
    checkPartNumber(p.partNumber);
    if (p.partNumber <= previous) throw new ImError('IM_BAD_REQUEST', 'part numbers must be ascending, each part once');
    if (typeof p.etag !== 'string' || p.etag.length === 0 || p.etag.length > 200)
      throw new ImError('IM_BAD_REQUEST', `part ${p.partNumber} has no etag`);
    previous = p.partNumber;
  }
}

/** An etag as compared: without the quotes S3 may put around it. */
export function bareEtag(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1');
}
