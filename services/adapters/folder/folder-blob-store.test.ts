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
});
