// A chunk's body: exactly the length the upload expects at that index, read into memory (bounded
// by file.chunkBytes) and checked against its Content-MD5 before anything is stored.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ImError } from '../../protocol/errors.js';

const BASE64_MD5 = /^[A-Za-z0-9+/]{22}==$/;

/** The chunk's MD5 (hex) from its Content-MD5 header (base64 of the 16 bytes, RFC 1864). */
export function contentMd5(req: IncomingMessage): string {
  const header = req.headers['content-md5'];
  if (typeof header !== 'string' || !BASE64_MD5.test(header))
    throw new ImError('IM_BAD_REQUEST', 'send Content-MD5: the base64 of the chunk’s 16-byte MD5 (RFC 1864)');
  return Buffer.from(header, 'base64').toString('hex');
}

/** Reads exactly `expected` bytes whose MD5 is `md5`; anything else is IM_FILE_CHUNK_CORRUPT. */
export async function readChunk(req: IncomingMessage, expected: number, md5: string): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== expected)
    throw new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; Content-Length says ${declared}`);
  const body = Buffer.allocUnsafe(expected);
  let received = 0;
  for await (const piece of req as AsyncIterable<Buffer>) {
    if (received + piece.length > expected) {
      req.destroy();
      throw new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; more arrived`);
    }
    piece.copy(body, received);
    received += piece.length;
  }
  if (received !== expected) throw new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; ${received} arrived`);
  const got = createHash('md5').update(body).digest('hex');
  if (got !== md5) throw new ImError('IM_FILE_CHUNK_CORRUPT', `the chunk hashes to ${got}, not its Content-MD5 ${md5}`);
  return body;
}
