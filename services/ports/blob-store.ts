// Object storage for the file service (docs/architecture.md §6). One bucket per cluster; every
// object lives under its app's prefix, `<appId>/<key>`, and the port only takes (appId, key) pairs,
// so no call can name another app's object. Keys are built with `blobKeys`:
//
//   <appId>/<md5>                          a finished file, content-addressed (32 hex digits)
//   <appId>/uploads/<uploadId>/<part>      the parts of a resumable upload (list them to resume)
//   <appId>/thumbs/<md5>/<width>           thumbnails of an image
//
// Errors: ImError IM_BAD_REQUEST for an invalid AppId, key, size, MD5 or range; IM_NOT_FOUND for
// get of a missing object; IM_UNAVAILABLE when the store cannot be reached.
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
  /** Objects whose key starts with `prefix` (e.g. an upload's parts), ordered by key. */
  list(appId: string, prefix: string): Promise<BlobEntry[]>;
}

const MD5 = /^[0-9a-f]{32}$/;
const SEGMENT = /^[A-Za-z0-9_.-]{1,200}$/;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,100}$/;

/** Keys inside an app (the store adds the `<appId>/` prefix). */
export const blobKeys = {
  file(md5: string): string {
    if (!MD5.test(md5)) throw new ImError('IM_BAD_REQUEST', 'md5 must be 32 lowercase hex digits');
    return md5;
  },
  uploadPrefix(uploadId: string): string {
    if (!UPLOAD_ID.test(uploadId)) throw new ImError('IM_BAD_REQUEST', `upload id must match ${UPLOAD_ID.source}`);
    return `uploads/${uploadId}/`;
  },
  /** Parts sort by key in part order (zero-padded). */
  uploadPart(uploadId: string, partNumber: number): string {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 99_999) {
      throw new ImError('IM_BAD_REQUEST', 'part number must be an integer from 1 to 99999');
    }
    return `${blobKeys.uploadPrefix(uploadId)}${String(partNumber).padStart(5, '0')}`;
  },
  thumbnail(md5: string, width: number): string {
    if (!Number.isInteger(width) || width < 1 || width > 10_000)
      throw new ImError('IM_BAD_REQUEST', 'thumbnail width must be an integer from 1 to 10000');
    return `thumbs/${blobKeys.file(md5)}/${width}`;
  },
} as const;

function checkAppId(appId: string): void {
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
