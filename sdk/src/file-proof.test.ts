import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImClientError } from './client-error.js';
import { proofAnswer, proofAnswers } from './file-proof.js';

const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31) % 251);
const nonce = 'n0nce-ä-😀';
const expected = (b: Uint8Array) => createHmac('sha256', Buffer.from(nonce, 'utf8')).update(b).digest('hex');

afterEach(() => vi.unstubAllGlobals());

describe('proof of possession answers', () => {
  it("equal Node's createHmac(sha256, UTF-8 nonce) over each range, in order", async () => {
    const ranges = [
      { offset: 0, length: 4096 },
      { offset: 9000, length: 1000 },
      { offset: 123, length: 0 },
    ];
    const answers = await proofAnswers(new Blob([bytes]), nonce, ranges);
    expect(answers).toEqual(ranges.map((r) => expected(bytes.subarray(r.offset, r.offset + r.length))));
    expect(await proofAnswers(bytes, nonce, ranges)).toEqual(answers);
  });

  it('are the same without WebCrypto (hash-wasm), as on a page served over plain http', async () => {
    vi.stubGlobal('crypto', {});
    expect(globalThis.crypto.subtle).toBeUndefined();
    expect(await proofAnswer(nonce, bytes)).toBe(expected(bytes));
  });

  it('refuse a range outside the file', async () => {
    await expect(proofAnswers(bytes, nonce, [{ offset: 9_999, length: 2 }])).rejects.toBeInstanceOf(ImClientError);
    await expect(proofAnswers(bytes, nonce, [{ offset: -1, length: 1 }])).rejects.toMatchObject({ code: 'SDK_PROTOCOL' });
  });
});
