// The whole file's MD5, carried across chunks and processes: hash-wasm's MD5 state is saved after
// each chunk into the upload record and loaded by whichever replica takes the next one, so
// complete knows the digest without reading the bytes back (ADR 0031).
import { createMD5 } from 'hash-wasm';

/** The saved state of an MD5 over no bytes. */
export async function emptyMd5State(): Promise<string> {
  const h = await createMD5();
  h.init();
  return Buffer.from(h.save()).toString('base64');
}

/** The state after `chunk` is appended to `state`. */
export async function appendToMd5(state: string, chunk: Uint8Array): Promise<string> {
  const h = await createMD5();
  h.load(Buffer.from(state, 'base64'));
  h.update(chunk);
  return Buffer.from(h.save()).toString('base64');
}

/** The digest (hex) of the bytes a state covers. */
export async function md5Of(state: string): Promise<string> {
  const h = await createMD5();
  h.load(Buffer.from(state, 'base64'));
  return h.digest('hex');
}
