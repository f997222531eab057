// The BlobStore on a local folder, for the embedded mode: what `make run` keeps of files lives in
// a folder it names at start, not in memory. Objects are files under `<root>/data/<appId>/<key>`
// (objectName has checked every segment, so no key leaves its app's folder), their content type
// beside them under `<root>/meta/`. A put streams into `<root>/tmp/`, hashing and counting as
// the bytes arrive, and is renamed into place only once its size and MD5 are right, so a reader
// sees the old object or the new one, never a part.

import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImError } from '../../../protocol/errors.js';
import {
  type BlobEntry,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  checkPutOptions,
  checkRange,
  objectName,
  objectPrefix,
  type PutOptions,
  type PutResult,
} from '../../ports/blob-store.js';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';

export class FolderBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  private data(name: string): string {
    return join(this.root, 'data', ...name.split('/'));
  }

  private meta(name: string): string {
    return `${join(this.root, 'meta', ...name.split('/'))}.json`;
  }

  async ensureBucket(): Promise<void> {
    for (const dir of ['data', 'meta', 'tmp']) await mkdir(join(this.root, dir), { recursive: true });
  }

  async put(appId: string, key: string, body: Uint8Array | Readable, opts: PutOptions): Promise<PutResult> {
    const name = objectName(appId, key);
    const expectedMd5 = checkPutOptions(opts);
    const tmp = join(this.root, 'tmp', randomUUID());
    const hash = createHash('md5');
    let received = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > opts.size) return done(new ImError('IM_BAD_REQUEST', `the body is longer than the declared size ${opts.size}`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      const source = body instanceof Uint8Array ? [Buffer.from(body.buffer, body.byteOffset, body.byteLength)] : body;
      await pipeline(source, measure, createWriteStream(tmp));
      if (received !== opts.size) throw new ImError('IM_BAD_REQUEST', `the body has ${received} bytes, not the declared ${opts.size}`);
      const md5 = hash.digest('hex');
      if (expectedMd5 && md5 !== expectedMd5)
        throw new ImError('IM_BAD_REQUEST', `md5 mismatch: the body hashes to ${md5}, not ${expectedMd5}`);
      await mkdir(dirname(this.data(name)), { recursive: true });
      await mkdir(dirname(this.meta(name)), { recursive: true });
      await writeFile(this.meta(name), JSON.stringify({ contentType: opts.contentType }));
      await rename(tmp, this.data(name));
      return { key, size: received, md5 };
    } catch (err) {
      await rm(tmp, { force: true });
      if (isMissing(err))
        throw new ImError('IM_UNAVAILABLE', 'blob store: the folder is missing; was ensureBucket() called?', { cause: err });
      throw err;
    }
  }

  async stat(appId: string, key: string): Promise<BlobInfo | undefined> {
    const name = objectName(appId, key);
    try {
      const [s, meta] = await Promise.all([stat(this.data(name)), readFile(this.meta(name), 'utf8')]);
      return { key, size: s.size, lastModified: s.mtime, contentType: (JSON.parse(meta) as { contentType: string }).contentType };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async get(appId: string, key: string, range?: ByteRange): Promise<Readable> {
    const info = await this.stat(appId, key);
    if (!info) throw new ImError('IM_NOT_FOUND', `no object ${key} in this app`);
    checkRange(range, info.size);
    const start = range?.offset ?? 0;
    const end = range?.length === undefined ? info.size : Math.min(info.size, start + range.length);
    // An empty object (or range) has no first byte for a file stream to start at.
    if (end <= start) return Readable.from([]);
    return createReadStream(this.data(objectName(appId, key)), { start, end: end - 1 });
  }

  async remove(appId: string, key: string): Promise<void> {
    const name = objectName(appId, key);
    await Promise.all([rm(this.data(name), { force: true }), rm(this.meta(name), { force: true })]);
  }

  async list(appId: string, prefix: string): Promise<BlobEntry[]> {
    const full = objectPrefix(appId, prefix);
    const appDir = this.data(`${appId}`);
    // Walk only the folder the prefix's last '/' names; keys are then matched on the whole prefix.
    const dirOfPrefix = full.slice(0, full.lastIndexOf('/'));
    const files = await walk(this.data(dirOfPrefix));
    const out: BlobEntry[] = [];
    for (const file of files) {
      const key = relative(appDir, file).split(sep).join('/');
      if (!`${appId}/${key}`.startsWith(full)) continue;
      const s = await stat(file).catch(() => undefined);
      if (s) out.push({ key, size: s.size, lastModified: s.mtime });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** Every file below `dir` (none if it does not exist). */
async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
    if (isMissing(err)) return [];
    throw err;
  });
  const files: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await walk(path)));
    else if (e.isFile()) files.push(path);
  }
  return files;
}
