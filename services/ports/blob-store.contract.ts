// The BlobStore contract (services/ports/blob-store.ts, docs/architecture.md §6), written once and
// run against every adapter: the in-memory one in the `unit` project, MinIO in the integration
// suites. Every test uses fresh AppIds, so one bucket can serve them all.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import { type BlobStore, blobKeys } from './blob-store.js';

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** A stream of `data` in chunks of `chunk` bytes, as an upload arrives from a socket. */
function chunked(data: Uint8Array, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(Buffer.from(data.subarray(i, i + chunk)));
  return Readable.from(parts, { objectMode: false });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof ImError ? err.code : `not an ImError: ${String(err)}`;
  }
  return 'resolved';
}

export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let fx: BlobStoreFixture;
    let store: BlobStore;
    const app = (): string => `app-${randomBytes(6).toString('hex')}`;

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
      await store.ensureBucket();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('ensureBucket is idempotent', async () => {
      await store.ensureBucket();
      await store.ensureBucket();
    });

    it('put bytes, then stat and get them back; put reports size and MD5', async () => {
      const a = app();
      const data = randomBytes(1000);
      const key = blobKeys.file(md5(data));
      const before = Date.now();
      const put = await store.put(a, key, data, { size: data.length, contentType: 'image/png' });
      expect(put).toEqual({ key, size: 1000, md5: md5(data) });

      const info = await store.stat(a, key);
      expect(info).toMatchObject({ key, size: 1000, contentType: 'image/png' });
      // Second-granular on S3.
      expect(info!.lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
      expect((await readAll(await store.get(a, key))).equals(data)).toBe(true);
    });

    it('put a stream in chunks, verified against the expected MD5', async () => {
      const a = app();
      const data = randomBytes(300 * 1024 + 17);
      const key = blobKeys.file(md5(data));
      const put = await store.put(a, key, chunked(data), {
        size: data.length,
        contentType: 'application/pdf',
        md5: md5(data).toUpperCase(),
      });
      expect(put.md5).toBe(md5(data));
      expect((await store.stat(a, key))?.size).toBe(data.length);
      expect((await readAll(await store.get(a, key))).equals(data)).toBe(true);
    });

    it('a 12 MiB object: streamed in, read whole and by ranges', async () => {
      const a = app();
      const data = randomBytes(12 * MiB);
      const key = blobKeys.file(md5(data));
      const put = await store.put(a, key, chunked(data, 256 * 1024), { size: data.length, contentType: 'video/mp4', md5: md5(data) });
      expect(put).toEqual({ key, size: 12 * MiB, md5: md5(data) });
      expect((await store.stat(a, key))?.size).toBe(12 * MiB);

      const whole = await readAll(await store.get(a, key));
      expect(whole.length).toBe(12 * MiB);
      expect(md5(whole)).toBe(md5(data));

      // The byte ranges a proof of possession asks for (ranged reads, docs/architecture.md §6),
      // across part boundaries.
      const ranges = [
        { offset: 0, length: 16 },
        { offset: 5 * MiB - 3, length: MiB + 7 },
        { offset: 12 * MiB - 100, length: 100 },
      ];
      for (const r of ranges) {
        const got = await readAll(await store.get(a, key, r));
        expect(got.equals(data.subarray(r.offset, r.offset + r.length))).toBe(true);
      }
      // Without a length: to the end. A length past the end: clipped.
      expect((await readAll(await store.get(a, key, { offset: 11 * MiB }))).equals(data.subarray(11 * MiB))).toBe(true);
      expect((await readAll(await store.get(a, key, { offset: 12 * MiB - 10, length: 1000 }))).equals(data.subarray(12 * MiB - 10))).toBe(
        true,
      );
    });

    it('ranges outside the object are refused', async () => {
      const a = app();
      const data = randomBytes(100);
      const key = blobKeys.file(md5(data));
      await store.put(a, key, data, { size: 100, contentType: 'text/plain' });
      expect(await code(store.get(a, key, { offset: 100 }))).toBe('IM_BAD_REQUEST');
      expect(await code(store.get(a, key, { offset: 500, length: 10 }))).toBe('IM_BAD_REQUEST');
      expect(await code(store.get(a, key, { offset: -1 }))).toBe('IM_BAD_REQUEST');
      expect(await code(store.get(a, key, { offset: 0, length: 0 }))).toBe('IM_BAD_REQUEST');
      expect((await readAll(await store.get(a, key, { offset: 99 }))).equals(data.subarray(99))).toBe(true);
    });

    it('an empty object', async () => {
      const a = app();
      const key = blobKeys.file(md5(new Uint8Array()));
      await store.put(a, key, new Uint8Array(), { size: 0, contentType: 'text/plain' });
      expect((await store.stat(a, key))?.size).toBe(0);
      expect((await readAll(await store.get(a, key))).length).toBe(0);
      expect((await readAll(await store.get(a, key, { offset: 0 }))).length).toBe(0);
    });

    it('missing objects: stat undefined, get IM_NOT_FOUND, remove is a no-op', async () => {
      const a = app();
      const key = blobKeys.file('0'.repeat(32));
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.get(a, key))).toBe('IM_NOT_FOUND');
      expect(await code(store.get(a, key, { offset: 0, length: 1 }))).toBe('IM_NOT_FOUND');
      await store.remove(a, key);
    });

    it('remove deletes; put replaces', async () => {
      const a = app();
      const key = blobKeys.thumbnail('a'.repeat(32), 200);
      await store.put(a, key, Buffer.from('first'), { size: 5, contentType: 'image/jpeg' });
      await store.put(a, key, Buffer.from('second!'), { size: 7, contentType: 'image/webp' });
      expect(await store.stat(a, key)).toMatchObject({ size: 7, contentType: 'image/webp' });
      expect((await readAll(await store.get(a, key))).toString()).toBe('second!');
      await store.remove(a, key);
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.get(a, key))).toBe('IM_NOT_FOUND');
    });

    it('a body of another size or MD5 than declared is refused and nothing is stored', async () => {
      const a = app();
      const data = randomBytes(200 * 1024);
      const key = blobKeys.file(md5(data));
      const opts = { size: data.length, contentType: 'application/octet-stream' };
      expect(await code(store.put(a, key, chunked(data.subarray(1)), opts))).toBe('IM_BAD_REQUEST');
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.put(a, key, chunked(Buffer.concat([data, Buffer.from('x')])), opts))).toBe('IM_BAD_REQUEST');
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.put(a, key, data.subarray(1), opts))).toBe('IM_BAD_REQUEST');
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.put(a, key, chunked(data), { ...opts, md5: 'f'.repeat(32) }))).toBe('IM_BAD_REQUEST');
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.put(a, key, data, { ...opts, md5: 'f'.repeat(32) }))).toBe('IM_BAD_REQUEST');
      expect(await store.stat(a, key)).toBeUndefined();
      expect(await code(store.put(a, key, data, { ...opts, md5: 'not-a-hash' }))).toBe('IM_BAD_REQUEST');
      expect(await code(store.put(a, key, data, { ...opts, size: -1 }))).toBe('IM_BAD_REQUEST');
    });

    it('apps are isolated: same key, separate objects; remove and list stay inside the app', async () => {
      const a = app();
      const b = app();
      const key = blobKeys.file('b'.repeat(32));
      await store.put(a, key, Buffer.from('of a'), { size: 4, contentType: 'text/plain' });
      await store.put(b, key, Buffer.from('of b!'), { size: 5, contentType: 'text/html' });
      expect((await readAll(await store.get(a, key))).toString()).toBe('of a');
      expect((await readAll(await store.get(b, key))).toString()).toBe('of b!');
      expect(await store.stat(b, key)).toMatchObject({ size: 5, contentType: 'text/html' });

      await store.remove(a, key);
      expect(await store.stat(a, key)).toBeUndefined();
      expect((await readAll(await store.get(b, key))).toString()).toBe('of b!');
      expect((await store.list(a, '')).map((e) => e.key)).toEqual([]);
      expect((await store.list(b, '')).map((e) => e.key)).toEqual([key]);
      expect(await store.stat(app(), key)).toBeUndefined();
    });

    it('no AppId or key can reach outside its app', async () => {
      const a = app();
      const b = app();
      const key = blobKeys.file('c'.repeat(32));
      await store.put(b, key, Buffer.from('secret'), { size: 6, contentType: 'text/plain' });
      const escapes = [`../${b}/${key}`, `x/../../${b}/${key}`, `/${key}`, `${key}/`, 'a//b', '', '.', '..', 'a\\b', 'a b', '%2e%2e'];
      for (const k of escapes) {
        expect(await code(store.get(a, k)), `get ${JSON.stringify(k)}`).toBe('IM_BAD_REQUEST');
        expect(await code(store.stat(a, k)), `stat ${JSON.stringify(k)}`).toBe('IM_BAD_REQUEST');
        expect(await code(store.remove(a, k)), `remove ${JSON.stringify(k)}`).toBe('IM_BAD_REQUEST');
        expect(await code(store.put(a, k, Buffer.from('x'), { size: 1, contentType: 'text/plain' })), `put ${JSON.stringify(k)}`).toBe(
          'IM_BAD_REQUEST',
        );
      }
      for (const badApp of [`${a}/${b}`, '..', '', 'UPPER', `${b}/..`]) {
        expect(await code(store.get(badApp, key)), `app ${JSON.stringify(badApp)}`).toBe('IM_BAD_REQUEST');
        expect(await code(store.list(badApp, '')), `list app ${JSON.stringify(badApp)}`).toBe('IM_BAD_REQUEST');
      }
      expect(await code(store.list(a, '../')), 'list ../').toBe('IM_BAD_REQUEST');
      expect((await readAll(await store.get(b, key))).toString()).toBe('secret');
    });

    it("list returns one upload's parts in part order, and nothing of a similarly named upload", async () => {
      const a = app();
      const sizes = [5, 3, 8, 1];
      for (const part of [3, 1, 4, 2]) {
        const body = Buffer.alloc(sizes[part - 1]!, part);
        await store.put(a, blobKeys.uploadPart('u1', part), body, { size: body.length, contentType: 'application/octet-stream' });
      }
      await store.put(a, blobKeys.uploadPart('u10', 1), Buffer.from('other'), { size: 5, contentType: 'application/octet-stream' });
      const parts = await store.list(a, blobKeys.uploadPrefix('u1'));
      expect(parts.map((p) => [p.key, p.size])).toEqual([
        ['uploads/u1/00001', 5],
        ['uploads/u1/00002', 3],
        ['uploads/u1/00003', 8],
        ['uploads/u1/00004', 1],
      ]);
      expect(parts.every((p) => p.lastModified instanceof Date)).toBe(true);
      expect((await store.list(a, 'uploads/')).length).toBe(5);
      expect(await store.list(a, blobKeys.uploadPrefix('nothing-here'))).toEqual([]);
    });
  });
}
