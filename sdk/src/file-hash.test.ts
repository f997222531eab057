import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentMd5, md5Hex } from './file-hash.js';
import { readRange } from './file-source.js';

function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('MD5 of a file, slice by slice', () => {
  it("equals Node's crypto MD5 for a Blob read in slices, for bytes, and for an empty file", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const expected = createHash('md5').update(bytes).digest('hex');
    const seen: number[] = [];
    expect(await md5Hex(new Blob([bytes as Uint8Array<ArrayBuffer>]), { sliceBytes: 1024 * 1024, onBytes: (n) => seen.push(n) })).toBe(
      expected,
    );
    expect(seen).toEqual([1, 2, 3].map((n) => n * 1024 * 1024).concat(bytes.byteLength));
    expect(await md5Hex(bytes, { sliceBytes: 333_333 })).toBe(expected);
    expect(await md5Hex(new Blob([]))).toBe(createHash('md5').digest('hex'));
  });

  it('gives Content-MD5 as base64 of the binary digest (RFC 1864)', async () => {
    const chunk = randomBytes(70_000, 7);
    expect(await contentMd5(chunk)).toBe(createHash('md5').update(chunk).digest('base64'));
  });

  it('reads a range of a Blob and of bytes alike, short at the end', async () => {
    const bytes = randomBytes(100);
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    expect(await readRange(blob, 90, 20)).toEqual(bytes.slice(90));
    expect(await readRange(bytes, 10, 5)).toEqual(bytes.slice(10, 15));
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(md5Hex(randomBytes(10), { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
