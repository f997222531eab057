// The BlobStore on a local folder, for the embedded mode: what `make run` keeps of files lives in
// a folder it names at start, not in memory. Objects are files under `<root>/data/<appId>/<key>`
// (objectName has checked every segment, so no key leaves its app's folder), their content type
// beside them under `<root>/meta/`. A put streams into `<root>/tmp/`, hashing and counting as
// the bytes arrive, and is renamed into place only once its size and MD5 are right, so a reader
// sees the old object or the new one, never a part.
//
// A multipart upload is a folder `<root>/multipart/<uploadRef>/`: `upload.json` (the target app
// and key, content type, start time) and one file per part, named `<part number>.<md5>` so that
// the name alone says which bytes it holds (a re-put part replaces the file of its number). The
// folder is made under `tmp/` and renamed into place, so a listing never sees half an upload.
// Complete streams the parts in order into a file under `tmp/` and renames it into place: the
// object appears whole or not at all, and never sits in memory.

import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImError } from '../../../protocol/errors.js';
import {
  type BlobEntry,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  bareEtag,
  checkContentType,
  checkPartMd5,
  checkPartNumber,
  checkParts,
  checkPutOptions,
  checkRange,
  checkUploadRef,
  type MultipartPart,
  objectName,
  objectPrefix,
  type PutOptions,
  type PutResult,
  type StaleMultipart,
} from '../../ports/blob-store.js';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === 'ENOENT';
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException)?.code;

/** What `multipart/<uploadRef>/upload.json` holds. */
interface UploadManifest {
  /** The target's full name `<appId>/<key>`. */
  name: string;
  appId: string;
  key: string;
  contentType: string;
  /** ISO time the upload was started. */
  initiated: string;
}

const MANIFEST = 'upload.json';
/** `<part number>.<md5>`: a stored part; anything else in an upload's folder is a part being written. */
const PART_FILE = /^(\d{1,5})\.([0-9a-f]{32})$/;

export class FolderBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  private data(name: string): string {
    return join(this.root, 'data', ...name.split('/'));
  }

  private meta(name: string): string {
    return `${join(this.root, 'meta', ...name.split('/'))}.json`;
  }

  async ensureBucket(): Promise<void> {
    for (const dir of ['data', 'meta', 'tmp', 'multipart']) await mkdir(join(this.root, dir), { recursive: true });
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

  private uploadDir(uploadRef: string): string {
    return join(this.root, 'multipart', uploadRef);
  }

  private unavailable(err: unknown): ImError {
    return new ImError('IM_UNAVAILABLE', 'blob store: the folder is missing; was ensureBucket() called?', { cause: err });
  }

  async startMultipart(appId: string, key: string, opts: { contentType: string }): Promise<string> {
    const name = objectName(appId, key);
    checkContentType(opts.contentType);
    const uploadRef = randomUUID();
    const manifest: UploadManifest = { name, appId, key, contentType: opts.contentType, initiated: new Date().toISOString() };
    // Made whole under tmp/, then renamed in: a listing sees the upload with its manifest or not at all.
    const staging = join(this.root, 'tmp', `multipart-${uploadRef}`);
    try {
      await mkdir(staging);
      await writeFile(join(staging, MANIFEST), JSON.stringify(manifest));
      await rename(staging, this.uploadDir(uploadRef));
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      if (isMissing(err)) throw this.unavailable(err);
      throw err;
    }
    return uploadRef;
  }

  /** The manifest of upload `uploadRef` aimed at exactly this (appId, key); IM_NOT_FOUND otherwise. */
  private async manifest(appId: string, key: string, uploadRef: string): Promise<UploadManifest> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    const m = await readManifest(this.uploadDir(uploadRef));
    if (!m || m.name !== name) throw new ImError('IM_NOT_FOUND', `no multipart upload ${uploadRef} of ${key} in this app`);
    return m;
  }

  async putPart(appId: string, key: string, uploadRef: string, partNumber: number, body: Uint8Array, md5?: string): Promise<MultipartPart> {
    objectName(appId, key);
    checkUploadRef(uploadRef);
    checkPartNumber(partNumber);
    const expected = checkPartMd5(md5);
    await this.manifest(appId, key, uploadRef);
    const etag = createHash('md5').update(body).digest('hex');
    if (expected && etag !== expected)
      throw new ImError('IM_BAD_REQUEST', `md5 mismatch: part ${partNumber} hashes to ${etag}, not ${expected}`);
    const dir = this.uploadDir(uploadRef);
    const partFile = `${partNumber}.${etag}`;
    const tmp = join(dir, `writing-${randomUUID()}`);
    try {
      await writeFile(tmp, body, { flag: 'wx' });
      await rename(tmp, join(dir, partFile));
      // Drop the part's earlier versions (other bytes under the same number).
      for (const f of await readdir(dir)) {
        const m = PART_FILE.exec(f);
        if (m && Number(m[1]) === partNumber && f !== partFile) await rm(join(dir, f), { force: true });
      }
    } catch (err) {
      await rm(tmp, { force: true });
      // Aborted while the part was being written.
      if (isMissing(err)) throw new ImError('IM_NOT_FOUND', `no multipart upload ${uploadRef} of ${key} in this app`, { cause: err });
      throw err;
    }
    return { partNumber, etag };
  }

  async completeMultipart(appId: string, key: string, uploadRef: string, parts: MultipartPart[]): Promise<{ key: string; size: number }> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    checkParts(parts);
    const manifest = await this.manifest(appId, key, uploadRef);
    const dir = this.uploadDir(uploadRef);
    const files: string[] = [];
    for (const p of parts) {
      const etag = bareEtag(p.etag).toLowerCase();
      const file = join(dir, `${p.partNumber}.${etag}`);
      const held = /^[0-9a-f]{32}$/.test(etag) && (await stat(file).catch(() => undefined))?.isFile();
      if (!held) throw new ImError('IM_BAD_REQUEST', `part ${p.partNumber} of the upload is missing or has another etag`);
      files.push(file);
    }
    const tmp = join(this.root, 'tmp', randomUUID());
    let size = 0;
    async function* concatenated(): AsyncGenerator<Buffer> {
      for (const file of files) {
        for await (const chunk of createReadStream(file)) {
          size += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
    }
    try {
      await pipeline(concatenated, createWriteStream(tmp, { flags: 'wx' }));
      await mkdir(dirname(this.data(name)), { recursive: true });
      await mkdir(dirname(this.meta(name)), { recursive: true });
      await writeFile(this.meta(name), JSON.stringify({ contentType: manifest.contentType }));
      await rename(tmp, this.data(name));
    } catch (err) {
      await rm(tmp, { force: true });
      // A part vanished: the upload was aborted (or completed) meanwhile.
      if (isMissing(err)) throw new ImError('IM_NOT_FOUND', `no multipart upload ${uploadRef} of ${key} in this app`, { cause: err });
      throw err;
    }
    // The object is in place; an upload folder left behind is swept by abort (staleMultiparts lists it).
    await removeUploadDir(dir).catch(() => undefined);
    return { key, size };
  }

  async abortMultipart(appId: string, key: string, uploadRef: string): Promise<void> {
    const name = objectName(appId, key);
    checkUploadRef(uploadRef);
    const m = await readManifest(this.uploadDir(uploadRef));
    // Unknown, finished, or aimed at another object (another app's reference): nothing to do here.
    if (!m || m.name !== name) return;
    await removeUploadDir(this.uploadDir(uploadRef));
  }

  async staleMultiparts(before: Date): Promise<StaleMultipart[]> {
    const refs = await readdir(join(this.root, 'multipart')).catch((err: unknown) => {
      if (isMissing(err)) return [] as string[];
      throw err;
    });
    const out: StaleMultipart[] = [];
    for (const uploadRef of refs.sort()) {
      const m = await readManifest(this.uploadDir(uploadRef));
      if (!m) continue;
      const initiated = new Date(m.initiated);
      if (initiated.getTime() < before.getTime()) out.push({ appId: m.appId, key: m.key, uploadRef, initiated });
    }
    return out;
  }
}

/** An upload's manifest, or undefined if the upload is not there (never started, finished, aborted). */
async function readManifest(dir: string): Promise<UploadManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as UploadManifest;
  } catch (err) {
    if (isMissing(err) || codeOf(err) === 'ENOTDIR' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/**
 * Removes an upload's folder: the manifest first, so the upload is gone for every other call at
 * once, then the rest (retried if a part being written lands meanwhile).
 */
async function removeUploadDir(dir: string): Promise<void> {
  await unlink(join(dir, MANIFEST)).catch((err: unknown) => {
    if (!isMissing(err)) throw err;
  });
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
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
