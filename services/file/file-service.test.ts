import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimingSize } from '../../test/support/png-claiming-size.js';
import { blobKeys } from '../ports/blob-store.js';
import { type FileFixture, fileFixture, md5Hex } from './file-fixture.js';

const counter = async (fx: FileFixture, name: string, labels: Record<string, string>) =>
  (await fx.metrics.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    ?.value ?? 0;

describe('file role: chunk slots', () => {
  it("one app's chunks in flight cannot take every slot: its excess waits with IM_UNAVAILABLE, another app's chunk is taken", async () => {
    const fx = await fileFixture({ maxConcurrentChunks: 4, maxConcurrentChunksPerApp: 2 });
    await fx.addApp('busy');
    await fx.addApp('calm');
    const busy = await fx.tokenOf('busy', 'u');
    const calm = await fx.tokenOf('calm', 'u');
    const uploads = await Promise.all([1, 2, 3].map(() => fx.prepare(busy, randomBytes(100_000))));
    // Two chunks of 'busy' that send half their bytes and then wait.
    const stalled = uploads.slice(0, 2).map(({ json }) => {
      const req = request(`${fx.base}/v1/files/uploads/${json.uploadId}/chunks/0`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${busy}`, 'content-md5': `${'A'.repeat(22)}==`, 'content-length': 65_536 },
      });
      req.on('error', () => undefined);
      req.write(randomBytes(30_000));
      return req;
    });
    try {
      // The stalled requests reach the role in their own time: wait until both hold their slots.
      const inFlight = fx.metrics.registry.getSingleMetric('imcloud_file_chunks_in_flight')!;
      const deadline = Date.now() + 10_000;
      let held = 0;
      while (held < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
        held = (await inFlight.get()).values[0]?.value ?? 0;
      }
      expect(held).toBe(2);
      const third = await fx.putChunk(busy, uploads[2]!.json.uploadId, 0, randomBytes(65_536));
      expect([third.status, third.json.error?.code]).toEqual([503, 'IM_UNAVAILABLE']);
      const data = randomBytes(1_000);
      expect((await fx.upload(calm, data)).status).toBe(200);
    } finally {
      for (const r of stalled) r.destroy();
      await fx.close();
    }
  });
});

describe('file role over HTTP (memory adapters)', () => {
  let fx: FileFixture;
  let alice: string;
  let bob: string;

  beforeEach(async () => {
    fx = await fileFixture();
    await fx.addApp('app1');
    await fx.addApp('app2');
    alice = await fx.tokenOf('app1', 'alice');
    bob = await fx.tokenOf('app1', 'bob');
  });
  afterEach(() => fx.close());

  it('uploads in chunks, then the uploader downloads the same bytes, whole and by Range', async () => {
    const data = randomBytes(200_000);
    const done = await fx.upload(alice, data, 'report.pdf', 'application/pdf');
    expect(done.status).toBe(200);
    expect(done.json).toMatchObject({ md5: md5Hex(data), size: 200_000, name: 'report.pdf', uploader: 'alice', deduplicated: false });
    const url = await fx.call('GET', `/v1/files/${done.json.fileId}/url`, alice);
    const whole = await fetch(fx.base + url.json.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''report.pdf");
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(fx.base + url.json.url, { headers: { range: 'bytes=70000-70099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 70000-70099/200000');
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(70_000, 70_100))).toBe(true);
    const outside = await fetch(fx.base + url.json.url, { headers: { range: 'bytes=300000-' } });
    expect(outside.status).toBe(416);
    // Bytes out are counted once each stream closes: wait for both, then the count is exact.
    let out = 0;
    for (const deadline = Date.now() + 5_000; out < 200_100 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 10));
      out = await counter(fx, 'imcloud_file_bytes_out_total', { app_id: 'app1' });
    }
    expect(out).toBe(200_100);
    expect(await counter(fx, 'imcloud_file_uploads_total', { app_id: 'app1', stage: 'completed' })).toBe(1);
  });

  it('a flash upload needs the right proof; a wrong one fails without saying where, a replayed or expired one is refused', async () => {
    const data = randomBytes(100_000);
    const first = await fx.upload(alice, data);

    const c1 = await fx.prepare(bob, data, 'copy.bin');
    expect(c1.json.kind).toBe('challenge');
    expect(c1.json.ranges.length).toBe(4);
    const wrong = fx.answersFor(c1.json, data);
    wrong[2] = 'ab'.repeat(32);
    const refused = await fx.prove(bob, c1.json.challengeId, wrong);
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('IM_FILE_PROOF_FAILED');
    expect(refused.json.error.message).not.toMatch(/range|2/);
    expect(await counter(fx, 'imcloud_file_proof_failures_total', { app_id: 'app1' })).toBe(1);
    // Single use: even the right answers cannot follow a wrong one.
    const replayed = await fx.prove(bob, c1.json.challengeId, fx.answersFor(c1.json, data));
    expect(replayed.json.error.code).toBe('IM_FILE_CHALLENGE_INVALID');

    const c2 = await fx.prepare(bob, data, 'copy.bin');
    const proved = await fx.prove(bob, c2.json.challengeId, fx.answersFor(c2.json, data));
    expect(proved.status).toBe(200);
    expect(proved.json).toMatchObject({ md5: md5Hex(data), name: 'copy.bin', uploader: 'bob', deduplicated: true });
    expect(proved.json.fileId).not.toBe(first.json.fileId);
    expect((await fx.prove(bob, c2.json.challengeId, fx.answersFor(c2.json, data))).json.error.code).toBe('IM_FILE_CHALLENGE_INVALID');

    const c3 = await fx.prepare(bob, data);
    fx.clock.now += 61_000;
    expect((await fx.prove(bob, c3.json.challengeId, fx.answersFor(c3.json, data))).json.error.code).toBe('IM_FILE_CHALLENGE_INVALID');
    // Another user cannot answer bob's challenge.
    const c4 = await fx.prepare(bob, data);
    expect((await fx.prove(alice, c4.json.challengeId, fx.answersFor(c4.json, data))).json.error.code).toBe('IM_FILE_CHALLENGE_INVALID');
  });

  it('dedupe never crosses apps: the same bytes in another app are uploaded, not challenged', async () => {
    const data = randomBytes(70_000);
    await fx.upload(alice, data);
    const other = await fx.prepare(await fx.tokenOf('app2', 'alice'), data);
    expect(other.json.kind).toBe('upload');
  });

  it('a corrupted chunk is refused and can be sent again; chunks go in order; a held chunk sent again is a retry', async () => {
    const data = randomBytes(150_000);
    const up = (await fx.prepare(alice, data)).json;
    expect(up).toMatchObject({ kind: 'upload', chunks: 3, chunksHeld: 0, chunkBytes: 65_536 });
    const first = data.subarray(0, 65_536);
    const corrupt = Buffer.from(first);
    corrupt[100]! ^= 0xff;
    const bad = await fx.putChunk(alice, up.uploadId, 0, corrupt, createHash('md5').update(first).digest('base64'));
    expect([bad.status, bad.json.error.code]).toEqual([400, 'IM_FILE_CHUNK_CORRUPT']);
    expect((await fx.putChunk(alice, up.uploadId, 1, data.subarray(65_536, 131_072))).json.error.code).toBe('IM_FILE_CHUNK_ORDER');
    expect((await fx.putChunk(alice, up.uploadId, 0, first)).json).toEqual({ chunksHeld: 1 });
    expect((await fx.putChunk(alice, up.uploadId, 0, first)).json).toEqual({ chunksHeld: 1 });
    expect((await fx.putChunk(alice, up.uploadId, 0, data.subarray(65_536, 131_072))).json.error.code).toBe('IM_FILE_CHUNK_ORDER');
    // A short chunk is not the chunk.
    expect((await fx.putChunk(alice, up.uploadId, 1, data.subarray(65_536, 100_000))).json.error.code).toBe('IM_FILE_CHUNK_CORRUPT');
    // Resume: prepare again answers the same upload with what it holds.
    const again = (await fx.prepare(alice, data)).json;
    expect(again).toMatchObject({ uploadId: up.uploadId, chunksHeld: 1 });
    expect((await fx.call('GET', `/v1/files/uploads/${up.uploadId}`, alice)).json.chunksHeld).toBe(1);
    expect((await fx.call('GET', `/v1/files/uploads/${up.uploadId}`, bob)).json.error.code).toBe('IM_UPLOAD_NOT_FOUND');
    await fx.sendChunks(alice, again, data, 1);
    const done = await fx.call('POST', `/v1/files/uploads/${up.uploadId}/complete`, alice);
    expect(done.json.md5).toBe(md5Hex(data));
  });

  it('a complete whose bytes do not hash to the declared MD5 stores nothing under that MD5', async () => {
    const claimed = randomBytes(100_000);
    const sent = randomBytes(100_000);
    const up = (
      await fx.call('POST', '/v1/files/prepare', alice, { md5: md5Hex(claimed), size: 100_000, name: 'x', contentType: 'text/plain' })
    ).json;
    await fx.sendChunks(alice, up, sent);
    const done = await fx.call('POST', `/v1/files/uploads/${up.uploadId}/complete`, alice);
    expect([done.status, done.json.error.code]).toEqual([422, 'IM_FILE_MD5_MISMATCH']);
    expect(await fx.ports.blobs.stat('app1', blobKeys.file(md5Hex(claimed)))).toBeUndefined();
    expect(await fx.ports.files.findByContent('app1', md5Hex(claimed), 100_000)).toBeNull();
    expect((await fx.prepare(alice, claimed)).json.kind).toBe('upload');
  });

  it('two concurrent uploads of one file end as one object', async () => {
    const data = randomBytes(140_000);
    const [a, b] = await Promise.all([fx.upload(alice, data), fx.upload(bob, data)]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.json.fileId).not.toBe(b.json.fileId);
    expect((await fx.ports.blobs.list('app1', '')).map((e) => e.key)).toEqual([md5Hex(data)]);
    expect(await fx.ports.blobs.staleMultiparts(new Date(Date.now() + 1_000))).toEqual([]);
  });

  it('downloads: another user without a grant gets IM_FORBIDDEN, another app IM_FILE_NOT_FOUND; URLs cannot be widened or kept', async () => {
    const done = await fx.upload(alice, randomBytes(1_000));
    const id = done.json.fileId;
    expect((await fx.call('GET', `/v1/files/${id}/url`, bob)).json.error.code).toBe('IM_FORBIDDEN');
    expect((await fx.call('GET', `/v1/files/${id}/url`, await fx.tokenOf('app2', 'alice'))).json.error.code).toBe('IM_FILE_NOT_FOUND');
    expect((await fx.call('GET', `/v1/files/${id}`, bob)).json.error.code).toBe('IM_FORBIDDEN');

    // Sent in alice and bob's conversation: bob may read it.
    await fx.ports.files.grant({ appId: 'app1', fileId: id, conversation: 's:alice:bob' });
    expect((await fx.call('GET', `/v1/files/${id}/url?conversation=s:alice:bob`, bob)).status).toBe(200);
    expect((await fx.call('GET', `/v1/files/${id}/url`, bob)).status).toBe(200);
    expect((await fx.call('GET', `/v1/files/${id}/url`, await fx.tokenOf('app1', 'carol'))).json.error.code).toBe('IM_FORBIDDEN');

    const { url } = (await fx.call('GET', `/v1/files/${id}/url`, alice)).json;
    expect((await fetch(fx.base + url)).status).toBe(200);
    for (const forged of [
      url.replace('/app1/', '/app2/'),
      url.replace('variant=original', 'variant=thumbnail'),
      url.replace(/sig=.{4}/, 'sig=AAAA'),
      url.replace(/exp=\d+/, (m: string) => `exp=${Number(m.slice(4)) + 1}`),
    ]) {
      const res = await fetch(fx.base + forged);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([403, 'IM_FILE_URL_INVALID']);
    }
    fx.clock.now += 5 * 60_000 + 1;
    expect((await fetch(fx.base + url)).status).toBe(403);
  });

  it('refuses requests without a valid token before reading their body', async () => {
    expect((await fx.call('POST', '/v1/files/prepare', undefined, {})).json.error.code).toBe('IM_TOKEN_INVALID');
    expect((await fx.call('POST', '/v1/files/prepare', 'not.a.jwt', {})).json.error.code).toBe('IM_TOKEN_INVALID');
    expect((await fx.call('PUT', '/v1/files/uploads/uAAAAAAAAAAAAAAAAAAAAAA/chunks/0', undefined, randomBytes(10))).status).toBe(401);
  });

  it('answers pages of other origins: preflight, answers and errors allow any origin (credentials are headers, never cookies)', async () => {
    const pre = await fetch(`${fx.base}/v1/files/uploads/uAAAAAAAAAAAAAAAAAAAAAA/chunks/0`, {
      method: 'OPTIONS',
      headers: { origin: 'http://elsewhere', 'access-control-request-method': 'PUT' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('content-md5');
    const refused = await fetch(`${fx.base}/v1/files/prepare`, { method: 'POST', headers: { origin: 'http://elsewhere' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    const done = await fx.upload(alice, randomBytes(100));
    const url = await fetch(`${fx.base}/v1/files/${done.json.fileId}/url`, { headers: { authorization: `Bearer ${alice}` } });
    expect(url.headers.get('access-control-allow-origin')).toBe('*');
  });

  it("the app's limits: size, content types, quota", async () => {
    await fx.addApp('small', { maxFileBytes: 1_000, fileContentTypes: ['image/*', 'text/plain'], fileQuotaBytes: 1_500 });
    const t = await fx.tokenOf('small', 'u');
    expect((await fx.prepare(t, randomBytes(1_001), 'a.png', 'image/png')).json.error.code).toBe('IM_FILE_TOO_LARGE');
    expect((await fx.prepare(t, randomBytes(100), 'a.pdf', 'application/pdf')).json.error.code).toBe('IM_FILE_TYPE_NOT_ALLOWED');
    const first = randomBytes(900);
    expect((await fx.upload(t, first, 'a.txt', 'text/plain')).status).toBe(200);
    expect((await fx.prepare(t, randomBytes(700), 'b.txt', 'text/plain')).json.error.code).toBe('IM_FILE_QUOTA_EXCEEDED');
    // The same bytes again take no more room: a challenge, not a refusal.
    expect((await fx.prepare(t, first, 'c.txt', 'text/plain')).json.kind).toBe('challenge');
    expect(
      (await fx.call('POST', '/v1/files/prepare', t, { md5: 'x', size: 1, name: 'a', contentType: 'text/plain' })).json.error.code,
    ).toBe('IM_BAD_REQUEST');
  });

  it('thumbnails for images; a non-image or a decompression bomb stays a plain file', async () => {
    const png = await sharp({ create: { width: 800, height: 400, channels: 3, background: '#3366cc' } })
      .png()
      .toBuffer();
    const img = await fx.upload(alice, png, 'pic.png', 'image/png');
    expect(img.json).toMatchObject({ thumbnail: true, width: 800, height: 400 });
    const { url } = (await fx.call('GET', `/v1/files/${img.json.fileId}/url?thumbnail=1`, alice)).json;
    const thumb = await fetch(fx.base + url);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([256, 128]);

    const notImage = await fx.upload(alice, randomBytes(5_000), 'fake.png', 'image/png');
    expect(notImage.json).toMatchObject({ thumbnail: false });
    expect(notImage.json.width).toBeUndefined();
    expect((await fx.call('GET', `/v1/files/${notImage.json.fileId}/url?thumbnail=1`, alice)).json.error.code).toBe('IM_FILE_NO_THUMBNAIL');

    // A PNG whose header claims 30,000 × 30,000 pixels: over file.maxImagePixels (50 M).
    const bomb = await claimingSize(
      await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
      30_000,
      30_000,
    );
    const bombed = await fx.upload(alice, bomb, 'bomb.png', 'image/png');
    expect(bombed.json).toMatchObject({ thumbnail: false });
    expect(await counter(fx, 'imcloud_file_thumbnails_total', { result: 'refused' })).toBe(2);
    expect((await fx.upload(alice, randomBytes(1_000))).status).toBe(200);
  });

  it('the cleanup job removes uploads abandoned for the TTL and aborts their multipart uploads', async () => {
    const data = randomBytes(150_000);
    const up = (await fx.prepare(alice, data)).json;
    await fx.sendChunks(alice, up, data, 0, 1);
    const fresh = (await fx.prepare(bob, randomBytes(10))).json;
    fx.clock.now += 24 * 3600_000 - 1;
    expect(await fx.service.cleanup.runOnce()).toBe(0);
    await fx.sendChunks(bob, fresh, randomBytes(10), 0, 0);
    fx.clock.now += 2;
    expect(await fx.service.cleanup.runOnce()).toBe(2);
    expect((await fx.call('GET', `/v1/files/uploads/${up.uploadId}`, alice)).json.error.code).toBe('IM_UPLOAD_NOT_FOUND');
    expect(await fx.ports.blobs.staleMultiparts(new Date(Date.now() + 1_000))).toEqual([]);
    expect(await counter(fx, 'imcloud_file_abandoned_uploads_removed_total', {})).toBe(2);
  });
});
