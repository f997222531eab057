// Proof of possession for a flash upload (docs/adr/0031-files.md): the server names byte ranges
// of the file and a nonce; each answer is HMAC-SHA256(key = UTF-8 of the nonce, message = the
// range's bytes) in hex. WebCrypto where it exists (browsers in a secure context, Node 20+),
// hash-wasm elsewhere (a page served over plain http from a LAN address has no crypto.subtle).
import { createHMAC, createSHA256 } from 'hash-wasm';
import { ImClientError } from './client-error.js';
import { type FileSource, readRange, sourceSize } from './file-source.js';

export interface ChallengeRange {
  offset: number;
  length: number;
}

/** The hex HMAC-SHA256 of `bytes` under the nonce. */
export async function proofAnswer(nonce: string, bytes: Uint8Array): Promise<string> {
  const key = new TextEncoder().encode(nonce);
  const subtle = globalThis.crypto?.subtle;
  if (subtle) {
    const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return toHex(new Uint8Array(await subtle.sign('HMAC', k, bytes as Uint8Array<ArrayBuffer>)));
  }
  const hmac = await createHMAC(createSHA256(), key);
  hmac.init();
  hmac.update(bytes);
  return hmac.digest('hex');
}

/** The answers to a challenge, one per range, in the ranges' order. */
export async function proofAnswers(source: FileSource, nonce: string, ranges: ChallengeRange[]): Promise<string[]> {
  const size = sourceSize(source);
  const answers: string[] = [];
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.offset < 0 || r.length < 0 || r.offset + r.length > size)
      throw new ImClientError('SDK_PROTOCOL', `the challenge names bytes ${r.offset}+${r.length} of a ${size}-byte file`);
    answers.push(await proofAnswer(nonce, await readRange(source, r.offset, r.length)));
  }
  return answers;
}

function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}
