// The bytes bench/files.ts moves: a file of `size` bytes made of one random block of
// `chunkBytes`, each chunk stamped with its index in its first 4 bytes, so that no two chunks
// are alike and nothing of it need sit in memory whole. Its MD5 and every chunk's Content-MD5
// are computed once, before anything is timed (a client has them before it uploads).
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface SyntheticFile {
  size: number;
  chunkBytes: number;
  chunks: number;
  /** MD5 of the whole file, hex. */
  md5: string;
  /** Content-MD5 (base64) of each chunk. */
  chunkMd5s: string[];
  /** Chunk i (a fresh buffer). */
  chunk(i: number): Buffer;
  /** Bytes [offset, offset + length). */
  slice(offset: number, length: number): Buffer;
  /** The whole file as a stream of its chunks. */
  stream(): Readable;
}

export function syntheticFile(size: number, chunkBytes: number): SyntheticFile {
  const block = randomBytes(chunkBytes);
  const chunks = Math.ceil(size / chunkBytes);
  const lengthOf = (i: number) => Math.min(chunkBytes, size - i * chunkBytes);
  const chunk = (i: number) => {
    const c = Buffer.from(block.subarray(0, lengthOf(i)));
    const stamp = Buffer.alloc(4);
    stamp.writeUInt32BE(i, 0);
    stamp.copy(c, 0, 0, Math.min(4, c.length));
    return c;
  };
  const whole = createHash('md5');
  const chunkMd5s: string[] = [];
  for (let i = 0; i < chunks; i++) {
    const c = chunk(i);
    whole.update(c);
    chunkMd5s.push(createHash('md5').update(c).digest('base64'));
  }
  const slice = (offset: number, length: number) => {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const i = Math.floor(at / chunkBytes);
      const within = at - i * chunkBytes;
      const n = Math.min(length - done, lengthOf(i) - within);
      block.copy(out, done, within, within + n);
      // The stamp: bytes 0..3 of chunk i are i, big-endian.
      for (let b = within; b < Math.min(4, within + n); b++) out[done + b - within] = (i >>> (8 * (3 - b))) & 0xff;
      done += n;
    }
    return out;
  };
  return {
    size,
    chunkBytes,
    chunks,
    md5: whole.digest('hex'),
    chunkMd5s,
    chunk,
    slice,
    stream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < chunks; i++) yield chunk(i);
        })(),
      ),
  };
}
