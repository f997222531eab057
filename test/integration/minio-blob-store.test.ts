// The BlobStore port on a real MinIO (started by test/infra for this file): the shared contract
// suite, the object layout seen from a plain S3 client, and the errors of an unreachable server.
import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import { MinioBlobStore } from '../../services/adapters/minio/minio-blob-store.js';
import { blobStoreContract } from '../../services/ports/blob-store.contract.js';
import { blobKeys } from '../../services/ports/blob-store.js';
import { type MinioServer, type Servers, startServers } from '../infra/index.js';
import { freePort } from '../infra/processes.js';

let servers: Servers;
let minio: MinioServer;
const bucket = `imcloud-test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  servers = await startServers(['minio']);
  minio = servers.minio!;
}, 600_000);
afterAll(async () => {
  await servers?.stop();
});

const newStore = (overrides: Partial<ConstructorParameters<typeof MinioBlobStore>[0]> = {}): MinioBlobStore =>
  new MinioBlobStore({
    endPoint: minio.endPoint,
    port: minio.port,
    useSSL: false,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    bucket,
    ...overrides,
  });

blobStoreContract('minio', async () => ({ store: newStore(), cleanup: async () => {} }));

describe('MinIO blob store: what only the real server shows', () => {
  it('objects live at <appId>/<key> in the one bucket, with their content type', async () => {
    const store = newStore();
    await store.ensureBucket();
    const data = randomBytes(2048);
    const md5 = createHash('md5').update(data).digest('hex');
    await store.put('app-layout', blobKeys.file(md5), data, { size: data.length, contentType: 'image/gif' });
    await store.put('app-layout', blobKeys.thumbnail(md5, 128), data, { size: data.length, contentType: 'image/webp' });

    const s3 = new Client({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
    });
    const stat = await s3.statObject(bucket, `app-layout/${md5}`);
    expect(stat.size).toBe(2048);
    expect(stat.metaData['content-type']).toBe('image/gif');
    const names: string[] = [];
    for await (const item of s3.listObjectsV2(bucket, 'app-layout/', true)) names.push((item as { name: string }).name);
    expect(names.sort()).toEqual([`app-layout/${md5}`, `app-layout/thumbs/${md5}/128`]);
  });

  it('a multipart upload is an S3 multipart upload of <appId>/<key>, checked by the server, gone once complete', async () => {
    const store = newStore();
    await store.ensureBucket();
    const appId = `app-mp-${randomBytes(3).toString('hex')}`;
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(100)];
    const data = Buffer.concat(parts);
    const md5 = createHash('md5').update(data).digest('hex');
    const key = blobKeys.file(md5);
    const ref = await store.startMultipart(appId, key, { contentType: 'image/png' });

    const s3 = new Client({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
    });
    const open = await s3.listIncompleteUploadsQuery(bucket, `${appId}/${key}`, '', '', '');
    expect(open.uploads.map((u) => [u.key, u.uploadId])).toEqual([[`${appId}/${key}`, ref]]);

    // The part's etag is the server's (the MD5 of the part for unencrypted objects).
    const p1 = await store.putPart(appId, key, ref, 1, parts[0]!);
    expect(p1.etag).toBe(createHash('md5').update(parts[0]!).digest('hex'));
    const p2 = await store.putPart(appId, key, ref, 2, parts[1]!);
    // On S3 every part but the last is at least 5 MiB: a small one first is refused at complete.
    const ref2 = await store.startMultipart(appId, blobKeys.thumbnail(md5, 64), { contentType: 'image/webp' });
    const small = await store.putPart(appId, blobKeys.thumbnail(md5, 64), ref2, 1, Buffer.from('tiny'));
    const last = await store.putPart(appId, blobKeys.thumbnail(md5, 64), ref2, 2, Buffer.from('end'));
    const err = await store.completeMultipart(appId, blobKeys.thumbnail(md5, 64), ref2, [small, last]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImError);
    expect((err as ImError).code).toBe('IM_BAD_REQUEST');
    await store.abortMultipart(appId, blobKeys.thumbnail(md5, 64), ref2);

    expect(await store.completeMultipart(appId, key, ref, [p1, p2])).toEqual({ key, size: data.length });
    const stat = await s3.statObject(bucket, `${appId}/${key}`);
    expect(stat.etag).toMatch(/-2$/);
    expect(stat.metaData['content-type']).toBe('image/png');
    const after = await s3.listIncompleteUploadsQuery(bucket, `${appId}/${key}`, '', '', '');
    expect(after.uploads).toEqual([]);
  });

  it('a fresh bucket is created by ensureBucket(); without it, calls fail with IM_UNAVAILABLE', async () => {
    const other = `imcloud-fresh-${randomBytes(4).toString('hex')}`;
    const store = newStore({ bucket: other });
    const err = await store.stat('app-x', blobKeys.file('d'.repeat(32))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImError);
    expect((err as ImError).code).toBe('IM_UNAVAILABLE');
    expect((err as ImError).message).toContain('ensureBucket');
    await store.ensureBucket();
    await Promise.all([store.ensureBucket(), newStore({ bucket: other }).ensureBucket()]);
    expect(await store.stat('app-x', blobKeys.file('d'.repeat(32)))).toBeUndefined();
  });

  it('an unreachable server is IM_UNAVAILABLE, naming where it looked', async () => {
    const port = await freePort();
    const store = newStore({ port });
    const err = await store.ensureBucket().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImError);
    expect((err as ImError).code).toBe('IM_UNAVAILABLE');
    expect((err as ImError).message).toContain(`127.0.0.1:${port}`);
  });

  it('wrong credentials are IM_UNAVAILABLE, not a crash', async () => {
    const store = newStore({ secretKey: 'wrong-secret-key' });
    const err = await store.stat('app-x', blobKeys.file('e'.repeat(32))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImError);
    expect((err as ImError).code).toBe('IM_UNAVAILABLE');
  });
});
