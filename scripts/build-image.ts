// `make image`: the imcloud image built without Docker, from what the Dockerfile describes (ADR
// 0033): the Node release of its NODE_IMAGE line (the official binary, test/infra/node.ts), the
// built bundle (dist/, bin/, package.json), production dependencies only (npm ci --omit=dev, sharp's
// prebuilt libvips for this platform included), a non-root numeric user, the same entrypoint, env,
// ports and working dir. There is no base image: the root filesystem is the shared libraries node
// and sharp need (found with ldd on this machine), /etc/passwd and /etc/group, /tmp and the CA
// certificates. Written as an OCI layout tar (dist/image/imcloud-<version>.oci.tar) for
// `ctr -n k8s.io images import`; reproducible: the same inputs give the same digest.
//
//   tsx scripts/build-image.ts [--tag 0.1.1-canary]... [--repository ghcr.io/imcloud/imcloud] [--out-dir dist/image]
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheDir, run, withLock } from '../test/infra/base.js';
import { BENCH_NODE_VERSION, ensureNode } from '../test/infra/node.js';
import { type BuiltImage, buildOciImage, entriesOfTree, type ImageConfig, type LayerEntry } from './oci-image.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_REPOSITORY = 'ghcr.io/imcloud/imcloud';
/** The numeric user and group the image runs as (Kubernetes can then verify runAsNonRoot). */
export const IMAGE_UID = 10001;
/** Where the image's node lives (as in the official node images). */
export const IMAGE_NODE = '/usr/local/bin/node';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageBuildOptions {
  /** Directory of the image tar (default dist/image). */
  outDir?: string;
  /** More tags of the same build, e.g. 0.1.1-canary (a second version for gray release tests). */
  tags?: string[];
  repository?: string;
  log?: (message: string) => void;
}

export interface ImcloudImage extends BuiltImage {
  version: string;
  nodeVersion: string;
}

/** The image config: what the Dockerfile's runtime stage says (and the official node image's PATH and NODE_VERSION). */
export function imageConfig(version: string, nodeVersion: string): ImageConfig {
  return {
    User: `${IMAGE_UID}:${IMAGE_UID}`,
    Env: [`PATH=${PATH}`, `NODE_VERSION=${nodeVersion}`, 'NODE_ENV=production', 'IMCLOUD_HTTP_HOST=0.0.0.0'],
    Entrypoint: ['node', '--enable-source-maps', '/app/bin/imcloud.js'],
    Cmd: ['help'],
    WorkingDir: '/app',
    ExposedPorts: { '8080/tcp': {}, '8090/tcp': {} },
    Labels: {
      'org.opencontainers.image.title': 'imcloud',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.description': 'imcloud: every role and the operator; built without Docker by scripts/build-image.ts',
    },
  };
}

/** Builds the image tar; see the file comment. */
export async function buildImcloudImage(opts: ImageBuildOptions = {}): Promise<ImcloudImage> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`image: ${m}\n`));
  const outDir = path.resolve(opts.outDir ?? path.join(ROOT, 'dist', 'image'));
  const repository = opts.repository ?? DEFAULT_REPOSITORY;
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = pkg.version;
  for (const f of ['dist/imcloud.js', 'bin/imcloud.js']) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`image: ${f} is missing; run \`make build\` first`);
  }
  await checkDockerfileNode();
  await mkdir(outDir, { recursive: true });

  log(`node ${BENCH_NODE_VERSION} (the Dockerfile's NODE_IMAGE line)`);
  const nodeBin = path.join(await ensureNode(BENCH_NODE_VERSION), 'node');
  log('production dependencies (npm ci --omit=dev)');
  const deps = await productionDependencies(log);
  const nodeModules = path.join(deps, 'node_modules');

  log('shared libraries (ldd)');
  const elves = [nodeBin, ...(await sharedObjects(nodeModules))];
  const libs = await runtimeLibraries(elves, nodeModules);

  const names = [`${repository}:${version}`, ...(opts.tags ?? []).map((t) => `${repository}:${t}`)];
  const out = path.join(outDir, `imcloud-${version}.oci.tar`);
  log(`packing ${path.relative(process.cwd(), out) || out}`);
  const image = await buildOciImage({
    out,
    names,
    config: imageConfig(version, BENCH_NODE_VERSION),
    annotations: { 'org.opencontainers.image.version': version, 'org.opencontainers.image.title': 'imcloud' },
    layers: [
      {
        comment: 'runtime: glibc, libstdc++, libgcc_s, the loader; /etc/passwd, /etc/group, CA certificates, /tmp',
        entries: [...baseFiles(), ...libs],
      },
      {
        comment: `node ${BENCH_NODE_VERSION} (official linux-${process.arch} binary)`,
        entries: [{ type: 'file', path: IMAGE_NODE, source: nodeBin, mode: 0o755 }],
      },
      { comment: 'imcloud: package.json, bin/, dist/, production node_modules', entries: await appEntries(nodeModules) },
    ],
  });
  await writeFile(
    path.join(outDir, `imcloud-${version}.json`),
    `${JSON.stringify({ file: path.basename(out), digest: image.digest, size: image.size, names, layers: image.layers }, null, 2)}\n`,
  );
  return { ...image, version, nodeVersion: BENCH_NODE_VERSION };
}

/** The Dockerfile's NODE_IMAGE major must be the Node release we ship. */
async function checkDockerfileNode(): Promise<void> {
  const text = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  const major = /^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(text)?.[1];
  if (major !== BENCH_NODE_VERSION.split('.')[0]) {
    throw new Error(`image: the Dockerfile's NODE_IMAGE is node ${major}, test/infra/node.ts has ${BENCH_NODE_VERSION}; make them agree`);
  }
}

/**
 * `npm ci --omit=dev --ignore-scripts` (as the Dockerfile) in a staging directory of the cache
 * (~/.cache/imcloud/image-deps/<key>) keyed by package.json and package-lock.json, reused while
 * they do not change.
 */
async function productionDependencies(log: (m: string) => void): Promise<string> {
  const outDir = path.join(cacheDir(), 'image-deps');
  await mkdir(outDir, { recursive: true });
  const files = ['package.json', 'package-lock.json'];
  const hash = createHash('sha256');
  for (const f of files) hash.update(await readFile(path.join(ROOT, f)));
  hash.update(`${process.platform}-${process.arch}`);
  const key = hash.digest('hex').slice(0, 16);
  const dir = path.join(outDir, key);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  return withLock('image-deps', 'npm ci --omit=dev for the image', async () => {
    if (existsSync(path.join(dir, '.complete'))) return dir;
    for (const old of await readdir(outDir)) {
      if (old !== key) await rm(path.join(outDir, old), { recursive: true, force: true });
    }
    await mkdir(dir, { recursive: true });
    for (const f of files) await cp(path.join(ROOT, f), path.join(dir, f));
    const started = Date.now();
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: dir,
      env: { ...process.env, npm_config_update_notifier: 'false' },
      timeoutMs: 600_000,
    });
    log(`npm ci --omit=dev took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await writeFile(path.join(dir, '.complete'), '');
    return dir;
  });
}

/** Native code under node_modules: addons (*.node) and shared libraries (*.so, *.so.N). */
async function sharedObjects(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const item of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, item.name);
      if (item.isDirectory()) await walk(p);
      else if (item.isFile() && /(\.node|\.so(\.\d+)*)$/.test(item.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/**
 * The shared libraries the ELF files need, from this machine, at their own paths (symlinks kept:
 * libc.so.6, the loader /lib64/ld-linux-x86-64.so.2 and its target), plus glibc's NSS modules
 * for files and DNS. Directories are their real paths (merged /usr: /lib → usr/lib is a symlink
 * of its own, as on the host).
 */
async function runtimeLibraries(elves: string[], ownTree: string): Promise<LayerEntry[]> {
  const wanted = new Set<string>();
  for (const elf of elves) {
    const out = await run('ldd', [elf], { timeoutMs: 30_000 });
    for (const line of out.split('\n')) {
      if (/not found/.test(line)) throw new Error(`image: ${elf} needs a library this machine lacks: ${line.trim()}`);
      const m = /=>\s*(\/\S+)\s*\(/.exec(line) ?? /^\s*(\/\S+)\s*\(/.exec(line);
      if (m && !path.resolve(m[1]!).startsWith(`${ownTree}/`)) wanted.add(m[1]!);
    }
  }
  const libc = [...wanted].find((p) => path.basename(p) === 'libc.so.6');
  if (!libc) throw new Error('image: ldd found no libc.so.6 (this packer needs glibc)');
  for (const nss of ['libnss_files.so.2', 'libnss_dns.so.2', 'libresolv.so.2']) {
    const p = path.join(path.dirname(libc), nss);
    if (existsSync(p)) wanted.add(p);
  }
  const entries = new Map<string, LayerEntry>();
  const add = async (p: string, depth = 0): Promise<void> => {
    if (depth > 10) throw new Error(`image: too many symlinks at ${p}`);
    const at = path.join(await realpath(path.dirname(p)), path.basename(p));
    if (entries.has(at)) return;
    const st = await lstat(at);
    if (st.isSymbolicLink()) {
      const target = await readlink(at);
      entries.set(at, { type: 'symlink', path: at, target });
      await add(path.resolve(path.dirname(at), target), depth + 1);
    } else {
      entries.set(at, { type: 'file', path: at, source: at, mode: st.mode & 0o111 ? 0o755 : 0o644 });
    }
  };
  for (const p of [...wanted].sort()) await add(p);
  // The host's merged-/usr symlinks (/lib → usr/lib, /lib64 → usr/lib64, ...).
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    const st = await lstat(`/${top}`).catch(() => undefined);
    if (st?.isSymbolicLink()) entries.set(`/${top}`, { type: 'symlink', path: `/${top}`, target: await readlink(`/${top}`) });
  }
  return [...entries.values()];
}

/** /etc and the directories every image has. */
function baseFiles(): LayerEntry[] {
  const id = IMAGE_UID;
  return [
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/root', mode: 0o700 },
    { type: 'dir', path: '/proc', mode: 0o555 },
    { type: 'dir', path: '/sys', mode: 0o555 },
    { type: 'dir', path: '/dev' },
    { type: 'dir', path: '/usr/bin' },
    { type: 'dir', path: '/usr/sbin' },
    { type: 'dir', path: '/usr/local/bin' },
    {
      type: 'file',
      path: '/etc/passwd',
      content: `root:x:0:0:root:/root:/usr/sbin/nologin\nimcloud:x:${id}:${id}:imcloud:/app:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    },
    { type: 'file', path: '/etc/group', content: `root:x:0:\nimcloud:x:${id}:\nnogroup:x:65534:\n` },
    { type: 'file', path: '/etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' },
    { type: 'file', path: '/etc/ssl/certs/ca-certificates.crt', source: '/etc/ssl/certs/ca-certificates.crt' },
  ];
}

/** /app as the Dockerfile copies it: package.json, node_modules (production), bin, dist (without dist/image). */
async function appEntries(nodeModules: string): Promise<LayerEntry[]> {
  return [
    { type: 'dir', path: '/app' },
    { type: 'file', path: '/app/package.json', source: path.join(ROOT, 'package.json') },
    ...(await entriesOfTree(path.join(ROOT, 'bin'), '/app/bin')),
    ...(await entriesOfTree(path.join(ROOT, 'dist'), '/app/dist', (rel) => rel === 'image' || rel.startsWith('image/'))),
    ...(await entriesOfTree(nodeModules, '/app/node_modules')),
  ];
}

/** A size in MB with one decimal. */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tag: { type: 'string', multiple: true },
      repository: { type: 'string' },
      'out-dir': { type: 'string' },
    },
  });
  const started = Date.now();
  const image = await buildImcloudImage({ tags: values.tag, repository: values.repository, outDir: values['out-dir'] });
  const uncompressed = image.layers.reduce((n, l) => n + l.uncompressedSize, 0);
  const rel = path.relative(process.cwd(), image.file) || image.file;
  console.log(`image: ${rel}`);
  console.log(`  digest ${image.digest}`);
  console.log(`  size   ${mb(image.size)} (${image.size} bytes; ${mb(uncompressed)} unpacked)`);
  for (const l of image.layers) console.log(`  layer  ${l.digest.slice(0, 19)}  ${mb(l.size).padStart(9)}  ${l.comment}`);
  for (const n of image.names) console.log(`  name   ${n}`);
  console.log(`  import ctr -n k8s.io images import ${rel}   (built in ${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
