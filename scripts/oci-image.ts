// A small OCI image packer (no Docker, no registry): layers as reproducible gzip-compressed tars,
// an image config and manifest, written as an OCI image layout tar — what `ctr -n k8s.io images
// import` (and `docker load`, `skopeo copy oci-archive:`) take. Reproducible: entries sorted by
// path, mtime 0, owners 0:0 (numeric, no names), modes normalised by the caller; the same inputs
// give the same digests. Only Node's zlib and crypto and a ustar/PAX writer of its own (ADR 0033).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { createGzip } from 'node:zlib';

/** One entry of a layer; `path` is absolute in the image ("/usr/local/bin/node"). */
export type LayerEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; mode?: number; source: string }
  | { type: 'file'; path: string; mode?: number; content: string | Buffer }
  | { type: 'symlink'; path: string; target: string };

export interface Layer {
  /** What the layer is, for the config's history. */
  comment: string;
  entries: LayerEntry[];
}

export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  /** The OCI layout tar. */
  file: string;
  /** Its size in bytes. */
  size: number;
  /** The manifest's digest (what `ctr images ls` and the kubelet show). */
  digest: string;
  /** The full names the index carries, e.g. ghcr.io/imcloud/imcloud:0.1.0. */
  names: string[];
  config: Descriptor;
  layers: Array<Descriptor & { diffId: string; uncompressedSize: number; comment: string }>;
}

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The OCI architecture name of a Node process.arch. */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  const a = map[arch];
  if (!a) throw new Error(`oci-image: no OCI architecture for ${arch}`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// tar (ustar, with a PAX header for names or link targets longer than ustar holds)

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, opts: { size: number; mode: number; type: '0' | '2' | '5' | 'x'; linkname?: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(opts.mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(opts.size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime
  h.write('        ', 148, 'ascii'); // checksum placeholder
  h.write(opts.type, 156, 'ascii');
  if (opts.linkname) h.write(opts.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(0, 8), 329, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 'ascii'); // devminor
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The header blocks of one entry (a PAX header first when the name or target is too long). */
function entryHeaders(name: string, opts: { size: number; mode: number; type: '0' | '2' | '5'; linkname?: string }): Buffer[] {
  const out: Buffer[] = [];
  const longName = Buffer.byteLength(name) > 100;
  const longLink = opts.linkname !== undefined && Buffer.byteLength(opts.linkname) > 100;
  if (longName || longLink) {
    let records = '';
    if (longName) records += paxRecord('path', name);
    if (longLink) records += paxRecord('linkpath', opts.linkname!);
    const body = Buffer.from(records, 'utf8');
    out.push(header(`PaxHeaders/${path.posix.basename(name).slice(0, 80)}`, { size: body.length, mode: 0o644, type: 'x' }));
    out.push(body, padding(body.length));
  }
  out.push(header(longName ? name.slice(0, 100) : name, { ...opts, linkname: longLink ? opts.linkname!.slice(0, 100) : opts.linkname }));
  return out;
}

/** Writes a tar of `entries` (sorted by path, parents first) to `sink` as a stream of chunks. */
async function writeTar(entries: LayerEntry[], write: (chunk: Buffer) => Promise<void>): Promise<void> {
  const sorted = normalise(entries);
  for (const e of sorted) {
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') {
      for (const b of entryHeaders(`${name}/`, { size: 0, mode: e.mode ?? 0o755, type: '5' })) await write(b);
    } else if (e.type === 'symlink') {
      for (const b of entryHeaders(name, { size: 0, mode: 0o777, type: '2', linkname: e.target })) await write(b);
    } else if ('content' in e) {
      const body = typeof e.content === 'string' ? Buffer.from(e.content, 'utf8') : e.content;
      for (const b of entryHeaders(name, { size: body.length, mode: e.mode ?? 0o644, type: '0' })) await write(b);
      await write(body);
      await write(padding(body.length));
    } else {
      const { size } = await stat(e.source);
      for (const b of entryHeaders(name, { size, mode: e.mode ?? 0o644, type: '0' })) await write(b);
      let written = 0;
      for await (const chunk of createReadStream(e.source, { highWaterMark: 1 << 20 })) {
        written += (chunk as Buffer).length;
        await write(chunk as Buffer);
      }
      if (written !== size) throw new Error(`oci-image: ${e.source} changed while it was packed`);
      await write(padding(size));
    }
  }
  await write(Buffer.alloc(BLOCK * 2));
}

/**
 * Entries sorted by path with every parent directory present (added as 0755 when missing), one
 * entry per path (a later duplicate of the same path is an error), no trailing slashes.
 */
export function normalise(entries: LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const e of entries) {
    const p = path.posix.normalize(`/${e.path}`).replace(/\/+$/, '');
    if (p === '' || p === '/') continue;
    if (byPath.has(p)) {
      const prev = byPath.get(p)!;
      if (prev.type === 'dir' && e.type === 'dir') continue;
      throw new Error(`oci-image: ${p} is in the layer twice`);
    }
    byPath.set(p, { ...e, path: p });
  }
  for (const p of [...byPath.keys()]) {
    for (let dir = path.posix.dirname(p); dir !== '/'; dir = path.posix.dirname(dir)) {
      const existing = byPath.get(dir);
      if (existing && existing.type !== 'dir') throw new Error(`oci-image: ${dir} is a ${existing.type} and a parent of ${p}`);
      if (!existing) byPath.set(dir, { type: 'dir', path: dir });
    }
  }
  // Byte order of the path components: a directory right before its contents.
  const key = (p: string) => p.split('/').join('\0');
  return [...byPath.values()].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0));
}

/** Every file, directory and symlink under `dir` as entries under `to`, modes normalised (0755 if any x bit, else 0644). */
export async function entriesOfTree(dir: string, to: string, skip: (rel: string) => boolean = () => false): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [{ type: 'dir', path: to }];
  const walk = async (rel: string): Promise<void> => {
    const items = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const item of items) {
      const r = rel ? `${rel}/${item.name}` : item.name;
      if (skip(r)) continue;
      const abs = path.join(dir, r);
      const into = path.posix.join(to, r);
      if (item.isDirectory()) {
        out.push({ type: 'dir', path: into });
        await walk(r);
      } else if (item.isSymbolicLink()) {
        out.push({ type: 'symlink', path: into, target: await readlink(abs) });
      } else if (item.isFile()) {
        const { mode } = await stat(abs);
        out.push({ type: 'file', path: into, source: abs, mode: mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  await walk('');
  return out;
}

// ---------------------------------------------------------------------------------------------
// blobs and the layout

/** Writes to a stream, waiting when it is full. */
function writer(stream: NodeJS.WritableStream): (chunk: Buffer) => Promise<void> {
  return (chunk) =>
    new Promise((resolve, reject) => {
      stream.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
}

function finish(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.end(() => resolve());
  });
}

/** A layer as a gzip blob in `blobsDir`: its digest, compressed size, diff id and tar size. */
async function writeLayer(layer: Layer, blobsDir: string): Promise<BuiltImage['layers'][number]> {
  const tmp = path.join(blobsDir, `.layer-${process.pid}-${Date.now()}`);
  const out = createWriteStream(tmp);
  const gzip = createGzip({ level: 6 });
  const compressed = createHash('sha256');
  let size = 0;
  gzip.on('data', (chunk: Buffer) => {
    compressed.update(chunk);
    size += chunk.length;
    if (!out.write(chunk)) {
      gzip.pause();
      out.once('drain', () => gzip.resume());
    }
  });
  const gzipDone = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  const uncompressed = createHash('sha256');
  let uncompressedSize = 0;
  const toGzip = writer(gzip);
  await writeTar(layer.entries, async (chunk) => {
    uncompressed.update(chunk);
    uncompressedSize += chunk.length;
    await toGzip(chunk);
  });
  gzip.end();
  await gzipDone;
  await finish(out);
  const hex = compressed.digest('hex');
  await rename(tmp, path.join(blobsDir, hex));
  return {
    mediaType: MEDIA_TYPES.layer,
    digest: `sha256:${hex}`,
    size,
    diffId: `sha256:${uncompressed.digest('hex')}`,
    uncompressedSize,
    comment: layer.comment,
  };
}

async function writeJsonBlob(value: unknown, mediaType: string, blobsDir: string): Promise<Descriptor> {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const hex = createHash('sha256').update(body).digest('hex');
  await writeFile(path.join(blobsDir, hex), body);
  return { mediaType, digest: `sha256:${hex}`, size: body.length };
}

export interface BuildOptions {
  /** The OCI layout tar to write. */
  out: string;
  /** Full image names (repository:tag); the first is the image's own, the others are more tags of the same manifest. */
  names: string[];
  /** Bottom first. */
  layers: Layer[];
  config: ImageConfig;
  /** process.arch of the binaries inside; default this machine's. */
  arch?: string;
  /** Or the OCI (GOARCH) name, e.g. 'amd64'; wins over `arch`. */
  architecture?: string;
  /** Annotations of the manifest (e.g. org.opencontainers.image.version). */
  annotations?: Record<string, string>;
}

/** The tag part of a full image name (after the last ':' that follows the last '/'). */
export function tagOf(name: string): string {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon <= slash) throw new Error(`oci-image: "${name}" has no tag`);
  return name.slice(colon + 1);
}

/** Packs the layers, config, manifest and index into an OCI layout tar at `opts.out`. */
export async function buildOciImage(opts: BuildOptions): Promise<BuiltImage> {
  if (opts.names.length === 0) throw new Error('oci-image: an image needs a name');
  await mkdir(path.dirname(opts.out), { recursive: true });
  const work = await mkdtemp(path.join(path.dirname(opts.out), '.oci-'));
  try {
    const blobsDir = path.join(work, 'blobs', 'sha256');
    await mkdir(blobsDir, { recursive: true });
    const architecture = opts.architecture ?? ociArch(opts.arch);
    const layers: BuiltImage['layers'] = [];
    for (const layer of opts.layers) layers.push(await writeLayer(layer, blobsDir));
    const config = await writeJsonBlob(
      {
        created: '1970-01-01T00:00:00Z',
        architecture,
        os: 'linux',
        config: opts.config,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
        history: layers.map((l) => ({ created: '1970-01-01T00:00:00Z', created_by: 'scripts/oci-image.ts', comment: l.comment })),
      },
      MEDIA_TYPES.config,
      blobsDir,
    );
    const manifest = await writeJsonBlob(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
      },
      MEDIA_TYPES.manifest,
      blobsDir,
    );
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: opts.names.map((name) => ({
        ...manifest,
        platform: { architecture, os: 'linux' },
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tagOf(name) },
      })),
    };
    const entries: LayerEntry[] = [
      { type: 'file', path: '/oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
      { type: 'file', path: '/index.json', content: JSON.stringify(index) },
      { type: 'dir', path: '/blobs' },
      { type: 'dir', path: '/blobs/sha256' },
    ];
    for (const hex of await readdir(blobsDir)) {
      if (!hex.startsWith('.')) entries.push({ type: 'file', path: `/blobs/sha256/${hex}`, source: path.join(blobsDir, hex) });
    }
    const tmpOut = `${opts.out}.tmp-${process.pid}`;
    const out = createWriteStream(tmpOut);
    await writeTar(entries, writer(out));
    await finish(out);
    await rename(tmpOut, opts.out);
    return { file: opts.out, size: (await stat(opts.out)).size, digest: manifest.digest, names: opts.names, config, layers };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The sha256 digest of a file, as "sha256:<hex>". */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Reads a JSON file. */
export async function readJson<T = unknown>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

// ---------------------------------------------------------------------------------------------
// A simpler way in: layers as lists of entries with files named by path (test images, e.g. test/infra/real-node.ts)

/** A layer entry: `file` for a file from disk (owners are always 0:0). */
export type SimpleLayerEntry =
  | { path: string; type?: 'file'; file: string; mode?: number }
  | { path: string; type?: 'file'; content: Buffer | string; mode?: number }
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'symlink'; target: string };

export interface OciImageSpec {
  out: string;
  names: string[];
  /** Layers, bottom first. */
  layers: SimpleLayerEntry[][];
  config?: ImageConfig;
  /** OCI (GOARCH) name; default this machine's. */
  architecture?: string;
}

/** buildOciImage with the simpler entries. */
export async function packOciImage(spec: OciImageSpec): Promise<{
  out: string;
  names: string[];
  manifestDigest: string;
  configDigest: string;
  layers: Array<{ digest: string; diffId: string; size: number }>;
}> {
  const toEntry = (e: SimpleLayerEntry): LayerEntry => {
    if (e.type === 'dir' || e.type === 'symlink') return e;
    if ('file' in e) return { type: 'file', path: e.path, source: e.file, mode: e.mode };
    return { type: 'file', path: e.path, content: e.content, mode: e.mode };
  };
  const built = await buildOciImage({
    out: spec.out,
    names: spec.names,
    config: spec.config ?? {},
    architecture: spec.architecture,
    layers: spec.layers.map((entries, i) => ({ comment: `layer ${i}`, entries: entries.map(toEntry) })),
  });
  return {
    out: built.file,
    names: built.names,
    manifestDigest: built.digest,
    configDigest: built.config.digest,
    layers: built.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size })),
  };
}
