import { describe, expect, it } from 'vitest';
import { ImError } from '../../../protocol/errors.js';
import { blobStoreContract } from '../../ports/blob-store.contract.js';
import { blobKeys, objectName } from '../../ports/blob-store.js';
import { MemoryBlobStore } from './memory-blob-store.js';

blobStoreContract('memory', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));

describe('blob key layout', () => {
  const md5 = '0123456789abcdef0123456789abcdef';
  it('puts every object under its app: <appId>/<md5>, uploads/<id>/<part>, thumbs/<md5>/<width>', () => {
    expect(objectName('app-1', blobKeys.file(md5))).toBe(`app-1/${md5}`);
    expect(objectName('app-1', blobKeys.uploadPart('up_1', 7))).toBe('app-1/uploads/up_1/00007');
    expect(objectName('app-1', blobKeys.thumbnail(md5, 320))).toBe(`app-1/thumbs/${md5}/320`);
  });
  it('refuses malformed parts of keys', () => {
    for (const make of [
      () => blobKeys.file('ABC'),
      () => blobKeys.file(md5.toUpperCase()),
      () => blobKeys.uploadPart('u/1', 1),
      () => blobKeys.uploadPart('u1', 0),
      () => blobKeys.uploadPart('u1', 100_000),
      () => blobKeys.thumbnail(md5, 0),
    ]) {
      expect(make).toThrow(ImError);
    }
  });
  it('a store used before ensureBucket() says so', async () => {
    const store = new MemoryBlobStore();
    await expect(store.stat('app-1', blobKeys.file(md5))).rejects.toMatchObject({ code: 'IM_UNAVAILABLE' });
  });
});
