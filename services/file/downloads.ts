// Downloads (ADR 0031): a reader asks for a short-lived URL, signed under the app's secret for one
// file and one variant; the URL is a plain GET (an <img src>) that streams the bytes from the
// store through this role, with Range, counting bytes out per app.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { APP_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { blobKeys } from '../ports/blob-store.js';
import type { FileRecord } from '../ports/file-catalog.js';
import type { HttpReply, HttpRequestHead } from '../shared/http-server.js';
import { checkId, type FileContext, ID } from './file-context.js';
import type { FileCaller } from './user-auth.js';

type Variant = 'original' | 'thumbnail';
/** Types a browser may show inline from our origin; anything else (HTML, SVG, …) is an attachment. */
const INLINE = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);

export class Downloads {
  constructor(private readonly cx: FileContext) {}

  /** A URL path for the file (or its thumbnail), if the caller may read it. */
  async url(caller: FileCaller, fileId: string, thumbnail: boolean, conversation?: string): Promise<{ url: string; expiresAt: number }> {
    checkId(fileId, 'f', 'IM_FILE_NOT_FOUND');
    const file = await this.cx.access.readable(caller.appId, caller.userId, fileId, conversation);
    if (thumbnail && !file.thumbnail) throw new ImError('IM_FILE_NO_THUMBNAIL');
    const variant: Variant = thumbnail ? 'thumbnail' : 'original';
    const expiresAt = this.cx.now() + this.cx.config.urlTtlMs;
    const sig = sign(caller.app.secret, caller.appId, fileId, variant, expiresAt);
    return { url: `/v1/files/content/${caller.appId}/${fileId}?variant=${variant}&exp=${expiresAt}&sig=${sig}`, expiresAt };
  }

  /** The bytes a signed URL names; a bad, expired or foreign signature is IM_FILE_URL_INVALID. */
  async content(req: HttpRequestHead): Promise<HttpReply> {
    const { appId, fileId } = req.params as { appId: string; fileId: string };
    const variant = req.query.get('variant');
    const exp = Number(req.query.get('exp'));
    const app = APP_ID.test(appId) && ID.test(fileId) ? await this.cx.apps.get(appId) : null;
    if (!app || (variant !== 'original' && variant !== 'thumbnail') || !Number.isSafeInteger(exp)) throw new ImError('IM_FILE_URL_INVALID');
    const expected = Buffer.from(sign(app.secret, appId, fileId, variant, exp));
    const given = Buffer.from(req.query.get('sig') ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new ImError('IM_FILE_URL_INVALID');
    if (exp <= this.cx.now()) throw new ImError('IM_FILE_URL_INVALID', 'the file URL has expired; ask fileUrl() for a new one');
    const file = await this.cx.files.getFile(appId, fileId);
    if (!file) throw new ImError('IM_FILE_NOT_FOUND');
    return this.stream(file, variant, req.headers.range);
  }

  private async stream(file: FileRecord, variant: Variant, rangeHeader: string | undefined): Promise<HttpReply> {
    const { blobs, config, metrics } = this.cx;
    const key = variant === 'thumbnail' ? blobKeys.thumbnail(file.md5, config.thumbnailPx) : blobKeys.file(file.md5);
    const size = variant === 'thumbnail' ? (await blobs.stat(file.appId, key))?.size : file.size;
    if (size === undefined) throw new ImError('IM_FILE_NO_THUMBNAIL');
    const range = parseRange(rangeHeader, size);
    const body = await blobs.get(file.appId, key, range ? { offset: range.start, length: range.end - range.start + 1 } : undefined);
    // Counted as the bytes pass, without a stream stage of its own (one more hop per piece). The
    // listener joins when the reply's pipe starts the flow ('resume'), so it cannot start the
    // flow before the reply is there to take the bytes.
    let sent = 0;
    body.once('resume', () => body.on('data', (piece: Buffer) => (sent += piece.length)));
    body.once('close', () => metrics.fileBytesOut.inc({ app_id: file.appId }, sent));
    const contentType = variant === 'thumbnail' ? 'image/webp' : file.contentType;
    const inline = INLINE.has(contentType);
    const headers: Record<string, string> = {
      'accept-ranges': 'bytes',
      'content-length': String(range ? range.end - range.start + 1 : size),
      'content-disposition': `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(file.name)}`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      // The URL is signed and short-lived: the bytes behind it never change.
      'cache-control': 'private, max-age=300, immutable',
      etag: `"${file.md5}${variant === 'thumbnail' ? '-t' : ''}"`,
    };
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    return { status: range ? 206 : 200, stream: body, contentType, headers };
  }
}

function sign(secret: string, appId: string, fileId: string, variant: string, exp: number): string {
  return createHmac('sha256', secret).update(`imcloud-file\n${appId}\n${fileId}\n${variant}\n${exp}`).digest('base64url');
}

/** One `bytes=` range (first-last, first-, or -suffix), clipped to the size; none: the whole file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  // Several ranges, or another unit: answered with the whole file, as RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start)
    throw new ImError('IM_RANGE_NOT_SATISFIABLE', `bytes ${start}-${end} are outside the file's ${size} bytes`);
  return { start, end };
}
