import { describe, expect, it } from 'vitest';
import { ImError } from '../../../protocol/errors.js';
import { blobStoreContract } from '../../ports/blob-store.contract.js';
import { blobKeys, objectName } from '../../ports/blob-store.js';
import { MemoryBlobStore } from './memory-blob-store.js';

blobStoreContract('memory', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));

describe('blob key layout', () => {
  const md5 = '0123456789abcdef0123456789abcdef';
  it('puts every object under its app: <appId>/<md5>, thumbs/<md5>/<width>', () => {
    expect(objectName('app-1', blobKeys.file(md5))).toBe(`app-1/${md5}`);
    expect(objectName('app-1', blobKeys.thumbnail(md5, 320))).toBe(`app-1/thumbs/${md5}/320`);
  });
  it('refuses malformed parts of keys', () => {
    for (const make of [() => blobKeys.file('ABC'), () => blobKeys.file(md5.toUpperCase()), () => blobKeys.thumbnail(md5, 0)]) {
      expect(make).toThrow(ImError);
    }
  });
  it('a store used before ensureBucket() says so', async () => {
    const store = new MemoryBlobStore();
    await expect(store.stat('app-1', blobKeys.file(md5))).rejects.toMatchObject({ code: 'IM_UNAVAILABLE' });
  });
  it('a stored part is a copy: the caller may reuse its buffer', async () => {
    const store = new MemoryBlobStore();
    await store.ensureBucket();
    const key = blobKeys.file(md5);
    const ref = await store.startMultipart('app-1', key, { contentType: 'text/plain' });
    const body = Buffer.from('original');
    const part = await store.putPart('app-1', key, ref, 1, body);
    body.fill(0);
    expect(await store.completeMultipart('app-1', key, ref, [part])).toEqual({ key, size: 8 });
    const chunks: Buffer[] = [];
    for await (const c of await store.get('app-1', key)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('original');
  });
  it('multipart calls before ensureBucket() say so too', async () => {
    const store = new MemoryBlobStore();
    await expect(store.startMultipart('app-1', blobKeys.file(md5), { contentType: 'x/y' })).rejects.toMatchObject({
      code: 'IM_UNAVAILABLE',
    });
    await expect(store.staleMultiparts(new Date())).rejects.toMatchObject({ code: 'IM_UNAVAILABLE' });
  });
});
