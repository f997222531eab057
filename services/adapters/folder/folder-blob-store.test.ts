import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobStoreContract } from '../../ports/blob-store.contract.js';
import { blobKeys } from '../../ports/blob-store.js';
import { FolderBlobStore } from './folder-blob-store.js';

async function freshFolder(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'imcloud-blobs-'));
}

blobStoreContract('local folder', async () => {
  const root = await freshFolder();
  return { store: new FolderBlobStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('FolderBlobStore', () => {
  const md5 = '0123456789abcdef0123456789abcdef';

  it('keeps nothing of a refused put: no object, no temporary file', async () => {
    const root = await freshFolder();
    const store = new FolderBlobStore(root);
    await store.ensureBucket();
    await expect(store.put('app-1', blobKeys.file(md5), new Uint8Array(10), { size: 9, contentType: 'x/y' })).rejects.toMatchObject({
      code: 'IM_BAD_REQUEST',
    });
    expect(await store.stat('app-1', blobKeys.file(md5))).toBeUndefined();
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });

  it('says what to do when its folder is missing', async () => {
    const root = await freshFolder();
    const store = new FolderBlobStore(join(root, 'not-made'));
    await expect(store.put('app-1', blobKeys.file(md5), new Uint8Array(1), { size: 1, contentType: 'x/y' })).rejects.toMatchObject({
      code: 'IM_UNAVAILABLE',
    });
    await rm(root, { recursive: true, force: true });
  });

  it('keeps an upload in multipart/<uploadRef>/ across a restart, and completes it through tmp/ into place', async () => {
    const root = await freshFolder();
    const first = new FolderBlobStore(root);
    await first.ensureBucket();
    const parts = [randomBytes(300 * 1024), randomBytes(200 * 1024 + 5)];
    const data = Buffer.concat(parts);
    const key = blobKeys.file(createHash('md5').update(data).digest('hex'));
    const ref = await first.startMultipart('app-1', key, { contentType: 'image/jpeg' });
    const p1 = await first.putPart('app-1', key, ref, 1, parts[0]!);
    expect(await readdir(join(root, 'multipart'))).toEqual([ref]);
    expect((await readdir(join(root, 'multipart', ref))).sort()).toEqual([`1.${p1.etag}`, 'upload.json']);

    // Another process (a restart) on the same folder sees the upload and finishes it.
    const second = new FolderBlobStore(root);
    await second.ensureBucket();
    expect((await second.staleMultiparts(new Date(Date.now() + 1000))).map((s) => [s.appId, s.key, s.uploadRef])).toEqual([
      ['app-1', key, ref],
    ]);
    const p2 = await second.putPart('app-1', key, ref, 2, parts[1]!);
    expect(await second.completeMultipart('app-1', key, ref, [p1, p2])).toEqual({ key, size: data.length });
    expect(await second.stat('app-1', key)).toMatchObject({ size: data.length, contentType: 'image/jpeg' });
    expect(await readdir(join(root, 'multipart'))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });

  it('a refused part or an abort leaves no file behind', async () => {
    const root = await freshFolder();
    const store = new FolderBlobStore(root);
    await store.ensureBucket();
    const ref = await store.startMultipart('app-1', blobKeys.file(md5), { contentType: 'x/y' });
    await expect(store.putPart('app-1', blobKeys.file(md5), ref, 1, Buffer.from('abc'), md5)).rejects.toMatchObject({
      code: 'IM_BAD_REQUEST',
    });
    expect(await readdir(join(root, 'multipart', ref))).toEqual(['upload.json']);
    await store.putPart('app-1', blobKeys.file(md5), ref, 1, Buffer.from('abc'));
    await store.putPart('app-1', blobKeys.file(md5), ref, 1, Buffer.from('abcd'));
    expect((await readdir(join(root, 'multipart', ref))).length).toBe(2);
    await store.abortMultipart('app-1', blobKeys.file(md5), ref);
    expect(await readdir(join(root, 'multipart'))).toEqual([]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });

  it('a multipart upload in a missing folder says what to do', async () => {
    const root = await freshFolder();
    const store = new FolderBlobStore(join(root, 'not-made'));
    await expect(store.startMultipart('app-1', blobKeys.file(md5), { contentType: 'x/y' })).rejects.toMatchObject({
      code: 'IM_UNAVAILABLE',
    });
    expect(await store.staleMultiparts(new Date())).toEqual([]);
    await rm(root, { recursive: true, force: true });
  });
});
