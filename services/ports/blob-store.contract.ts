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

    it('list returns the keys under a prefix in key order, and nothing of a similarly named folder', async () => {
      const a = app();
      const sizes = [5, 3, 8, 1];
      for (const n of [3, 1, 4, 2]) {
        const body = Buffer.alloc(sizes[n - 1]!, n);
        await store.put(a, `thumbs/u1/0000${n}`, body, { size: body.length, contentType: 'application/octet-stream' });
      }
      await store.put(a, 'thumbs/u10/00001', Buffer.from('other'), { size: 5, contentType: 'application/octet-stream' });
      const listed = await store.list(a, 'thumbs/u1/');
      expect(listed.map((p) => [p.key, p.size])).toEqual([
        ['thumbs/u1/00001', 5],
        ['thumbs/u1/00002', 3],
        ['thumbs/u1/00003', 8],
        ['thumbs/u1/00004', 1],
      ]);
      expect(listed.every((p) => p.lastModified instanceof Date)).toBe(true);
      expect((await store.list(a, 'thumbs/')).length).toBe(5);
      expect(await store.list(a, 'thumbs/nothing-here/')).toEqual([]);
    });

    describe('multipart uploads', () => {
      /** Parts as the file service sends them: 5 MiB chunks (S3's minimum) and a short last one. */
      const threeParts = (): Buffer[] => [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1024)];

      it('a 3-part upload completes into the bytes in part order, readable whole and by ranges across part boundaries', async () => {
        const a = app();
        const parts = threeParts();
        const data = Buffer.concat(parts);
        const key = blobKeys.file(md5(data));
        const ref = await store.startMultipart(a, key, { contentType: 'video/mp4' });
        expect(typeof ref).toBe('string');
        // Sent out of order: complete orders them by the list given.
        const held = [];
        for (const n of [2, 3, 1]) {
          const body = parts[n - 1]!;
          const part = await store.putPart(a, key, ref, n, body, md5(body));
          expect(part.partNumber).toBe(n);
          expect(part.etag.length).toBeGreaterThan(0);
          held[n - 1] = part;
        }
        const done = await store.completeMultipart(a, key, ref, held);
        expect(done).toEqual({ key, size: data.length });

        expect(await store.stat(a, key)).toMatchObject({ key, size: data.length, contentType: 'video/mp4' });
        const whole = await readAll(await store.get(a, key));
        expect(whole.length).toBe(data.length);
        expect(md5(whole)).toBe(md5(data));
        const ranges = [
          { offset: 0, length: 16 },
          { offset: 5 * MiB - 5, length: 10 }, // parts 1 and 2
          { offset: 10 * MiB - 1, length: 2 }, // parts 2 and 3
          { offset: 5 * MiB - 1, length: 5 * MiB + 2 }, // all three
          { offset: 10 * MiB + 1000, length: 24 }, // the last bytes
        ];
        for (const r of ranges) {
          const got = await readAll(await store.get(a, key, r));
          expect(got.equals(data.subarray(r.offset, r.offset + r.length)), `range ${r.offset}+${r.length}`).toBe(true);
        }
        expect((await readAll(await store.get(a, key, { offset: 10 * MiB - 3 }))).equals(data.subarray(10 * MiB - 3))).toBe(true);
        // Only the object remains: the multipart upload is gone.
        expect((await store.list(a, '')).map((e) => e.key)).toEqual([key]);
        expect(await code(store.completeMultipart(a, key, ref, held))).toBe('IM_NOT_FOUND');
        expect(await code(store.putPart(a, key, ref, 1, parts[0]!))).toBe('IM_NOT_FOUND');
      });

      it('nothing is visible under the key before complete', async () => {
        const a = app();
        const parts = threeParts();
        const key = blobKeys.file(md5(Buffer.concat(parts)));
        const ref = await store.startMultipart(a, key, { contentType: 'application/pdf' });
        expect(await store.stat(a, key)).toBeUndefined();
        const held = [];
        for (const [i, body] of parts.entries()) {
          held.push(await store.putPart(a, key, ref, i + 1, body));
          expect(await store.stat(a, key)).toBeUndefined();
          expect(await code(store.get(a, key))).toBe('IM_NOT_FOUND');
          expect(await code(store.get(a, key, { offset: 0, length: 1 }))).toBe('IM_NOT_FOUND');
          expect(await store.list(a, '')).toEqual([]);
        }
        await store.completeMultipart(a, key, ref, held);
        expect((await store.stat(a, key))?.size).toBe(10 * MiB + 1024);
      });

      it('a part whose bytes do not hash to its md5 is refused and not stored; the upload completes once it is re-sent right', async () => {
        const a = app();
        const [first, second] = [randomBytes(5 * MiB), randomBytes(3000)];
        const data = Buffer.concat([first, second]);
        const key = blobKeys.file(md5(data));
        const ref = await store.startMultipart(a, key, { contentType: 'application/zip' });
        const p1 = await store.putPart(a, key, ref, 1, first, md5(first));

        expect(await code(store.putPart(a, key, ref, 2, second, md5(first)))).toBe('IM_BAD_REQUEST');
        // A refused part does not replace the part held under its number.
        const other = randomBytes(5 * MiB);
        expect(await code(store.putPart(a, key, ref, 1, other, md5(first)))).toBe('IM_BAD_REQUEST');
        expect(await code(store.putPart(a, key, ref, 2, second, 'not-an-md5'))).toBe('IM_BAD_REQUEST');
        expect(await store.stat(a, key)).toBeUndefined();

        const p2 = await store.putPart(a, key, ref, 2, second, md5(second));
        expect(await store.completeMultipart(a, key, ref, [p1, p2])).toEqual({ key, size: data.length });
        expect(md5(await readAll(await store.get(a, key)))).toBe(md5(data));
      });

      it('re-putting a part replaces it; its earlier etag no longer completes', async () => {
        const a = app();
        const [old1, new1, last] = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(10)];
        const key = blobKeys.file(md5(Buffer.concat([new1, last])));
        const ref = await store.startMultipart(a, key, { contentType: 'application/octet-stream' });
        const stale = await store.putPart(a, key, ref, 1, old1);
        const p2 = await store.putPart(a, key, ref, 2, last);
        const p1 = await store.putPart(a, key, ref, 1, new1, md5(new1));
        expect(p1.etag).not.toBe(stale.etag);

        expect(await code(store.completeMultipart(a, key, ref, [stale, p2]))).toBe('IM_BAD_REQUEST');
        expect(await store.stat(a, key)).toBeUndefined();
        expect(await store.completeMultipart(a, key, ref, [p1, p2])).toEqual({ key, size: 5 * MiB + 10 });
        expect(md5(await readAll(await store.get(a, key)))).toBe(md5(Buffer.concat([new1, last])));
      });

      it('bad part numbers, part lists and references are refused; unknown uploads are IM_NOT_FOUND', async () => {
        const a = app();
        const key = blobKeys.file('1'.repeat(32));
        const ref = await store.startMultipart(a, key, { contentType: 'text/plain' });
        for (const n of [0, -1, 10_001, 1.5, Number.NaN]) {
          expect(await code(store.putPart(a, key, ref, n, Buffer.from('x'))), `part ${n}`).toBe('IM_BAD_REQUEST');
        }
        const one = randomBytes(5 * MiB);
        const p1 = await store.putPart(a, key, ref, 1, one);
        const p2 = await store.putPart(a, key, ref, 2, Buffer.from('two'));
        expect(await code(store.completeMultipart(a, key, ref, []))).toBe('IM_BAD_REQUEST');
        expect(await code(store.completeMultipart(a, key, ref, [p2, p1]))).toBe('IM_BAD_REQUEST');
        expect(await code(store.completeMultipart(a, key, ref, [p1, p1]))).toBe('IM_BAD_REQUEST');
        expect(await code(store.completeMultipart(a, key, ref, [p1, { partNumber: 3, etag: p2.etag }]))).toBe('IM_BAD_REQUEST');
        for (const bad of ['', '../x', 'a/b', '..', 'a b', 'a&partNumber=2']) {
          expect(await code(store.putPart(a, key, bad, 1, Buffer.from('x'))), `ref ${JSON.stringify(bad)}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.abortMultipart(a, key, bad)), `abort ref ${JSON.stringify(bad)}`).toBe('IM_BAD_REQUEST');
        }
        expect(await code(store.startMultipart(a, key, { contentType: '' }))).toBe('IM_BAD_REQUEST');
        // The refusals above left the upload as it was.
        expect(await store.stat(a, key)).toBeUndefined();
        expect(await store.completeMultipart(a, key, ref, [p1, p2])).toEqual({ key, size: 5 * MiB + 3 });
        expect((await readAll(await store.get(a, key))).equals(Buffer.concat([one, Buffer.from('two')]))).toBe(true);

        const unknown = 'no-such-upload';
        expect(await code(store.putPart(a, key, unknown, 1, Buffer.from('x')))).toBe('IM_NOT_FOUND');
        expect(await code(store.completeMultipart(a, key, unknown, [p1]))).toBe('IM_NOT_FOUND');
        await store.abortMultipart(a, key, unknown);
      });

      it('abort leaves nothing: no object, complete and putPart IM_NOT_FOUND, aborting again is fine', async () => {
        const a = app();
        const body = randomBytes(5 * MiB);
        const key = blobKeys.file(md5(body));
        const ref = await store.startMultipart(a, key, { contentType: 'image/png' });
        const p1 = await store.putPart(a, key, ref, 1, body);
        await store.abortMultipart(a, key, ref);
        expect(await store.stat(a, key)).toBeUndefined();
        expect(await code(store.get(a, key))).toBe('IM_NOT_FOUND');
        expect(await code(store.completeMultipart(a, key, ref, [p1]))).toBe('IM_NOT_FOUND');
        expect(await code(store.putPart(a, key, ref, 2, body))).toBe('IM_NOT_FOUND');
        await store.abortMultipart(a, key, ref);
        await store.abortMultipart(a, key, ref);
        expect(await store.stat(a, key)).toBeUndefined();
        expect(await store.list(a, '')).toEqual([]);
        expect((await store.staleMultiparts(new Date(Date.now() + 1000))).some((s) => s.uploadRef === ref)).toBe(false);

        // Aborting a finished upload is not an error either, and leaves its object.
        const ref2 = await store.startMultipart(a, key, { contentType: 'image/png' });
        const q1 = await store.putPart(a, key, ref2, 1, body);
        await store.completeMultipart(a, key, ref2, [q1]);
        await store.abortMultipart(a, key, ref2);
        expect((await store.stat(a, key))?.size).toBe(body.length);
      });

      it('staleMultiparts lists an open upload started before the cutoff, not a completed or aborted one', async () => {
        const a = app();
        const key = blobKeys.file('2'.repeat(32));
        const started = Date.now();
        const open = await store.startMultipart(a, key, { contentType: 'text/plain' });
        await store.putPart(a, key, open, 1, Buffer.from('open'));
        const completed = await store.startMultipart(a, key, { contentType: 'text/plain' });
        const c1 = await store.putPart(a, key, completed, 1, Buffer.from('done'));
        await store.completeMultipart(a, key, completed, [c1]);
        const aborted = await store.startMultipart(a, blobKeys.thumbnail('2'.repeat(32), 64), { contentType: 'image/webp' });
        await store.abortMultipart(a, blobKeys.thumbnail('2'.repeat(32), 64), aborted);

        const stale = await store.staleMultiparts(new Date(Date.now() + 1000));
        const mine = stale.filter((s) => s.appId === a);
        expect(mine.map((s) => [s.uploadRef, s.appId, s.key])).toEqual([[open, a, key]]);
        const entry = mine[0]!;
        expect(entry.initiated).toBeInstanceOf(Date);
        // Second-granular clocks on some servers.
        expect(entry.initiated.getTime()).toBeGreaterThanOrEqual(started - 2000);
        expect(entry.initiated.getTime()).toBeLessThan(Date.now() + 1000);
        expect(stale.some((s) => s.uploadRef === completed || s.uploadRef === aborted)).toBe(false);

        // A cutoff before it started does not list it.
        expect((await store.staleMultiparts(new Date(started - 60_000))).some((s) => s.uploadRef === open)).toBe(false);

        // What it lists is enough to abort it.
        await store.abortMultipart(entry.appId, entry.key, entry.uploadRef);
        expect((await store.staleMultiparts(new Date(Date.now() + 1000))).some((s) => s.uploadRef === open)).toBe(false);
      });

      it('two multipart uploads of the same key complete one after the other into one object', async () => {
        const a = app();
        const parts = [randomBytes(5 * MiB), randomBytes(777)];
        const data = Buffer.concat(parts);
        const key = blobKeys.file(md5(data));
        const refA = await store.startMultipart(a, key, { contentType: 'application/pdf' });
        const refB = await store.startMultipart(a, key, { contentType: 'application/pdf' });
        expect(refA).not.toBe(refB);
        const heldA = [];
        const heldB = [];
        for (const [i, body] of parts.entries()) {
          heldA.push(await store.putPart(a, key, refA, i + 1, body));
          heldB.push(await store.putPart(a, key, refB, i + 1, body));
        }
        expect(await store.completeMultipart(a, key, refA, heldA)).toEqual({ key, size: data.length });
        expect(md5(await readAll(await store.get(a, key)))).toBe(md5(data));
        expect(await store.completeMultipart(a, key, refB, heldB)).toEqual({ key, size: data.length });
        expect((await store.list(a, '')).map((e) => [e.key, e.size])).toEqual([[key, data.length]]);
        expect(md5(await readAll(await store.get(a, key)))).toBe(md5(data));
        const stale = await store.staleMultiparts(new Date(Date.now() + 1000));
        expect(stale.some((s) => s.uploadRef === refA || s.uploadRef === refB)).toBe(false);
      });

      it("keys of another app cannot be named: another app's upload is unknown, and bad keys or apps are refused", async () => {
        const a = app();
        const b = app();
        const key = blobKeys.file('3'.repeat(32));
        const refB = await store.startMultipart(b, key, { contentType: 'text/plain' });
        const pb = await store.putPart(b, key, refB, 1, Buffer.from('of b'));

        // b's reference, named from app a (same key) or aimed at another key of b.
        expect(await code(store.putPart(a, key, refB, 1, Buffer.from('of a')))).toBe('IM_NOT_FOUND');
        expect(await code(store.completeMultipart(a, key, refB, [pb]))).toBe('IM_NOT_FOUND');
        expect(await code(store.putPart(b, blobKeys.file('4'.repeat(32)), refB, 1, Buffer.from('x')))).toBe('IM_NOT_FOUND');
        await store.abortMultipart(a, key, refB);
        expect(await store.stat(a, key)).toBeUndefined();

        const escapes = [`../${b}/${key}`, `x/../../${b}/${key}`, `/${key}`, `${key}/`, '', '..', 'a b'];
        for (const k of escapes) {
          const what = JSON.stringify(k);
          expect(await code(store.startMultipart(a, k, { contentType: 'text/plain' })), `start ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.putPart(a, k, refB, 1, Buffer.from('x'))), `putPart ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.completeMultipart(a, k, refB, [pb])), `complete ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.abortMultipart(a, k, refB)), `abort ${what}`).toBe('IM_BAD_REQUEST');
        }
        for (const badApp of [`${a}/${b}`, '..', '', 'UPPER', `${b}/..`]) {
          const what = JSON.stringify(badApp);
          expect(await code(store.startMultipart(badApp, key, { contentType: 'text/plain' })), `start app ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.putPart(badApp, key, refB, 1, Buffer.from('x'))), `putPart app ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.completeMultipart(badApp, key, refB, [pb])), `complete app ${what}`).toBe('IM_BAD_REQUEST');
          expect(await code(store.abortMultipart(badApp, key, refB)), `abort app ${what}`).toBe('IM_BAD_REQUEST');
        }

        // b's upload went through all of that untouched, and completes into b's object only.
        expect(await store.completeMultipart(b, key, refB, [pb])).toEqual({ key, size: 4 });
        expect((await readAll(await store.get(b, key))).toString()).toBe('of b');
        expect(await store.stat(a, key)).toBeUndefined();
        expect(await store.list(a, '')).toEqual([]);
      });
    });
  });
}
