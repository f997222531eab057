// MD5 of a file, computed incrementally (hash-wasm, the same in browsers and Node) over its
// slices, and the Content-MD5 header of one chunk (RFC 1864: base64 of the binary digest).
import { createMD5 } from 'hash-wasm';
import { type FileSource, HASH_SLICE_BYTES, slices } from './file-source.js';

/** Hex MD5 of the whole source, read `sliceBytes` at a time; `onBytes` after each slice. */
export async function md5Hex(
  source: FileSource,
  opts: { sliceBytes?: number; signal?: AbortSignal; onBytes?: (hashed: number) => void } = {},
): Promise<string> {
  const md5 = await createMD5();
  md5.init();
  let hashed = 0;
  for await (const slice of slices(source, opts.sliceBytes ?? HASH_SLICE_BYTES, opts.signal)) {
    md5.update(slice);
    hashed += slice.byteLength;
    opts.onBytes?.(hashed);
  }
  return md5.digest('hex');
}

/** The Content-MD5 value of `bytes`: base64 of their binary MD5. */
export async function contentMd5(bytes: Uint8Array): Promise<string> {
  const md5 = await createMD5();
  md5.init();
  md5.update(bytes);
  return toBase64(md5.digest('binary'));
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
