// A chunk's body: exactly the length the upload expects at that index, read into memory (bounded
// by file.chunkBytes) into a buffer the caller lends. Its Content-MD5 is checked by the store's
// putPart (once, where the bytes are hashed anyway), before anything is kept.
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

/**
 * Reads exactly `expected` bytes into `into` (at least that long); any other length is
 * IM_FILE_CHUNK_CORRUPT. On too many bytes it stops reading (the stream is paused, not
 * destroyed, so the refusal is still answered; the answer closes the connection).
 */
export function readChunk(req: IncomingMessage, expected: number, into: Buffer): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) !== expected)
    return Promise.reject(new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; Content-Length says ${declared}`));
  const body = into.subarray(0, expected);
  let received = 0;
  return new Promise((resolve, reject) => {
    const stop = (err: ImError | null) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(body);
    };
    const onData = (piece: Buffer) => {
      if (received + piece.length > expected)
        return stop(new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; more arrived`));
      piece.copy(body, received);
      received += piece.length;
    };
    const onEnd = () =>
      stop(
        received === expected ? null : new ImError('IM_FILE_CHUNK_CORRUPT', `this chunk must be ${expected} bytes; ${received} arrived`),
      );
    // The client went away mid-chunk: its own doing, not the server's error.
    const onError = () => stop(new ImError('IM_FILE_CHUNK_CORRUPT', `the chunk was cut off after ${received} of ${expected} bytes`));
    const onAborted = onError;
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}
