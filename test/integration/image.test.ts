// The imcloud image built without Docker (scripts/build-image.ts, ADR 0033), checked without Docker:
// the OCI layout (index → manifest → config and layers, digests and sizes), the config the
// Dockerfile describes, reproducible layers (sorted, owners 0, mtime 0, same digest twice), then the
// layers unpacked into a root filesystem and the image's entrypoint run in it with the image's own
// node and libraries only (a chroot in a private mount and PID namespace, as the image's user
// 10001:10001): `help`, sharp with its libvips, and `all` answering /healthz and /readyz.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImcloudImage, IMAGE_NODE, IMAGE_UID, type ImcloudImage, mb } from '../../scripts/build-image.js';
import { fileDigest, MEDIA_TYPES } from '../../scripts/oci-image.js';
import { run } from '../infra/base.js';
import { freePort } from '../infra/processes.js';

const work = mkdtempSync(path.join(tmpdir(), 'imcloud-image-'));
const layout = path.join(work, 'layout');
const rootfs = path.join(work, 'rootfs');
const CANARY = '0.1.1-canary';
const say = (msg: string) => process.stdout.write(`image-test: ${msg}\n`);

let image: ImcloudImage;
let index: any;
let manifest: any;
let config: any;
const running = new Set<ChildProcess>();

/** How the image's processes are started here: a chroot in new namespaces (root or a user namespace), else the image's loader. */
type Runner = 'chroot-root' | 'chroot-userns' | 'loader';
let runner: Runner;

function pickRunner(): Runner {
  const forced = process.env.IMCLOUD_IMAGE_TEST_RUNNER as Runner | undefined;
  if (forced) return forced;
  const probe = (args: string[]) =>
    spawnSync('unshare', [...args, '--mount', '--pid', '--fork', '--', 'true'], { stdio: 'ignore' }).status === 0;
  if (process.getuid?.() === 0 && probe([])) return 'chroot-root';
  if (probe(['--user', '--map-root-user'])) return 'chroot-userns';
  return 'loader';
}

/**
 * The command that runs `argv` (argv[0] looked up on the image's PATH) in the image's root
 * filesystem with the image's env (plus `env`) and working directory: nothing of this machine's
 * userland (node, libraries) is used by the image's process.
 */
function imageCommand(argv: string[], env: Record<string, string> = {}): { command: string; args: string[]; env: Record<string, string> } {
  const c = config.config;
  const imageEnv: Record<string, string> = Object.fromEntries(
    c.Env.map((kv: string) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const fullEnv = { ...imageEnv, ...env };
  if (runner === 'loader') {
    const exe = argv[0] === 'node' ? path.join(rootfs, IMAGE_NODE) : argv[0]!;
    const libDirs = ['usr/lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'usr/lib', 'usr/lib64'].map((d) => path.join(rootfs, d));
    const loader = ['lib64/ld-linux-x86-64.so.2', 'lib/ld-linux-aarch64.so.1'].map((l) => path.join(rootfs, l)).find((l) => existsSync(l))!;
    // Paths the image names absolutely (/app/...) are taken inside the root filesystem.
    const args = argv.slice(1).map((a) => (a.startsWith('/app/') ? path.join(rootfs, a) : a));
    return { command: loader, args: ['--library-path', libDirs.join(':'), exe, ...args], env: fullEnv };
  }
  const [uid, gid] = String(c.User).split(':');
  const user = runner === 'chroot-root' ? ['--setgid', gid!, '--setuid', uid!] : [];
  // The host's sh and mount prepare the namespace; then unshare chroots and execs the image's own binary.
  const script = [
    'R="$1"; W="$2"; shift 2',
    'mount --rbind /dev "$R/dev" 2>/dev/null || true',
    'mount -t proc proc "$R/proc" 2>/dev/null || true',
    `exec unshare --root="$R" --wd="$W" ${user.join(' ')} -- "$@"`,
  ].join('\n');
  const ns = runner === 'chroot-userns' ? ['--user', '--map-root-user'] : [];
  return {
    command: 'unshare',
    args: [
      ...ns,
      '--mount',
      '--pid',
      '--fork',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      script,
      'sh',
      rootfs,
      c.WorkingDir,
      ...argv,
    ],
    env: fullEnv,
  };
}

/** Runs argv in the image to completion: exit code and output. */
function runInImage(
  argv: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cmd = imageCommand(argv, env);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, {
      env: cmd.env,
      cwd: runner === 'loader' ? path.join(rootfs, 'app') : work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** sha256 and size of a gzip stream's uncompressed bytes. */
async function gunzipDigest(file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file).pipe(createGunzip())) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

const blob = (digest: string) => path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));

beforeAll(async () => {
  const started = Date.now();
  image = await buildImcloudImage({ outDir: path.join(work, 'out'), tags: [CANARY], log: say });
  say(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  mkdirSync(layout);
  await run('tar', ['-xf', image.file, '-C', layout]);
  index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
  mkdirSync(rootfs);
  for (const layer of manifest.layers) await run('tar', ['-xzf', blob(layer.digest), '-C', rootfs]);
  runner = pickRunner();
  const unpacked = image.layers.reduce((n, l) => n + l.uncompressedSize, 0);
  say(
    `image size ${mb(image.size)} (${image.size} bytes; layers ${image.layers.map((l) => mb(l.size)).join(' + ')}; ${mb(unpacked)} unpacked), digest ${image.digest}, run with ${runner}`,
  );
}, 600_000);

afterAll(async () => {
  for (const child of running) {
    if (child.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the imcloud image, built without Docker', () => {
  it('is an OCI layout: index → manifest → config and layers, digests and sizes match', async () => {
    expect(JSON.parse(readFileSync(path.join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MEDIA_TYPES.index);
    // Two names of one build: the version and the canary tag for gray release tests.
    expect(index.manifests.map((m: any) => m.annotations['io.containerd.image.name'])).toEqual([
      `ghcr.io/imcloud/imcloud:${image.version}`,
      `ghcr.io/imcloud/imcloud:${CANARY}`,
    ]);
    expect(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name'])).toEqual([image.version, CANARY]);
    expect(new Set(index.manifests.map((m: any) => m.digest))).toEqual(new Set([image.digest]));
    const m = index.manifests[0];
    expect(m.mediaType).toBe(MEDIA_TYPES.manifest);
    expect(await fileDigest(blob(m.digest))).toBe(m.digest);
    expect(statSync(blob(m.digest)).size).toBe(m.size);
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.config.mediaType).toBe(MEDIA_TYPES.config);
    expect(await fileDigest(blob(manifest.config.digest))).toBe(manifest.config.digest);
    expect(statSync(blob(manifest.config.digest)).size).toBe(manifest.config.size);
    expect(manifest.layers).toHaveLength(3);
    expect(config.rootfs).toMatchObject({ type: 'layers' });
    expect(config.rootfs.diff_ids).toHaveLength(3);
    for (const [i, layer] of manifest.layers.entries()) {
      expect(layer.mediaType).toBe(MEDIA_TYPES.layer);
      expect(await fileDigest(blob(layer.digest))).toBe(layer.digest);
      expect(statSync(blob(layer.digest)).size).toBe(layer.size);
      expect((await gunzipDigest(blob(layer.digest))).digest, `diff_id of layer ${i}`).toBe(config.rootfs.diff_ids[i]);
    }
    // Nothing in the layout that the index does not reach.
    const reachable = new Set([m.digest, manifest.config.digest, ...manifest.layers.map((l: any) => l.digest)].map((d) => d.slice(7)));
    const listed = (await run('tar', ['-tf', image.file])).trim().split('\n');
    expect(listed.filter((f) => /^blobs\/sha256\/./.test(f)).map((f) => f.slice('blobs/sha256/'.length))).toEqual([...reachable].sort());
  });

  it("has the Dockerfile's config: entrypoint, cmd, non-root user, env, working dir, ports", () => {
    expect(config.os).toBe('linux');
    expect(config.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(config.config.Entrypoint).toEqual(['node', '--enable-source-maps', '/app/bin/imcloud.js']);
    expect(config.config.Cmd).toEqual(['help']);
    expect(config.config.User).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(config.config.WorkingDir).toBe('/app');
    expect(config.config.ExposedPorts).toEqual({ '8080/tcp': {}, '8090/tcp': {} });
    expect(config.config.Env).toEqual(
      expect.arrayContaining(['NODE_ENV=production', 'IMCLOUD_HTTP_HOST=0.0.0.0', `NODE_VERSION=${image.nodeVersion}`]),
    );
    expect(config.config.Env.find((e: string) => e.startsWith('PATH='))).toContain('/usr/local/bin');
    expect(config.config.Labels['org.opencontainers.image.version']).toBe(image.version);
    // The same Node major as the Dockerfile's NODE_IMAGE line.
    const major = /^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    expect(image.nodeVersion.split('.')[0]).toBe(major);
  });

  it('has reproducible layers in order runtime → node → app: sorted, owners 0:0, mtime 0, /app readable by all; the same digest when built again', async () => {
    expect(config.history.map((h: any) => h.comment)).toEqual([
      expect.stringMatching(/^runtime/),
      expect.stringMatching(/^node /),
      expect.stringMatching(/^imcloud/),
    ]);
    const contents: string[][] = [];
    for (const layer of manifest.layers) {
      const lines = (await run('tar', ['--numeric-owner', '--utc', '-tvzf', blob(layer.digest)])).trim().split('\n');
      const names: string[] = [];
      for (const line of lines) {
        const m = /^(\S{10}) (\d+)\/(\d+)\s+\d+ (\S+ \S+) (.*?)(?: -> .*)?$/.exec(line);
        expect(m, line).not.toBeNull();
        const [, perms, uid, gid, time, name] = m!;
        expect(`${uid}:${gid}`, name).toBe('0:0');
        expect(time, name).toBe('1970-01-01 00:00');
        if (name!.startsWith('app/') && !perms!.startsWith('l')) expect(perms![7], `${name} readable by all`).toBe('r');
        names.push(name!.replace(/\/$/, ''));
      }
      const byComponents = [...names].sort((a, b) => {
        const [x, y] = [a.split('/').join('\0'), b.split('/').join('\0')];
        return x < y ? -1 : x > y ? 1 : 0;
      });
      expect(names).toEqual(byComponents);
      contents.push(names);
    }
    const [runtime, node, app] = contents;
    expect(runtime).toEqual(expect.arrayContaining(['etc/passwd', 'etc/group', 'etc/ssl/certs/ca-certificates.crt', 'tmp', 'lib64']));
    expect(runtime!.some((n) => /\/libc\.so\.6$/.test(n))).toBe(true);
    expect(runtime!.some((n) => /\/libstdc\+\+\.so\.6$/.test(n))).toBe(true);
    expect(node).toContain('usr/local/bin/node');
    expect(app).toEqual(
      expect.arrayContaining(['app/package.json', 'app/bin/imcloud.js', 'app/dist/imcloud.js', 'app/node_modules/sharp/package.json']),
    );
    expect(app!.some((n) => n.startsWith('app/node_modules/@img/sharp-libvips-linux'))).toBe(true);
    // Production dependencies only: no dev tool chain.
    for (const dev of ['vitest', 'esbuild', 'typescript', '@biomejs']) expect(app).not.toContain(`app/node_modules/${dev}`);
    expect(app!.some((n) => n.startsWith('app/dist/image'))).toBe(false);
    expect(statSync(path.join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8')).toContain(`:${IMAGE_UID}:${IMAGE_UID}:`);
    const again = await buildImcloudImage({ outDir: path.join(work, 'again'), tags: [CANARY], log: () => {} });
    expect(again.digest).toBe(image.digest);
    expect(await fileDigest(again.file)).toBe(await fileDigest(image.file));
  });

  it("runs its entrypoint with the image's own node and libraries: `help`", async () => {
    const { code, stdout, stderr } = await runInImage([...config.config.Entrypoint, ...config.config.Cmd]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('usage: imcloud <command>');
  });

  it("loads sharp and its libvips in the image's node, as the image's user, and writes /tmp", async () => {
    const script = `
      import sharp from 'sharp';
      import { writeFileSync, readFileSync } from 'node:fs';
      const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#f00' } }).png().toBuffer();
      const thumb = await sharp(png).resize(16).jpeg().toBuffer();
      writeFileSync('/tmp/probe', 'ok');
      const certs = readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8').split('BEGIN CERTIFICATE').length - 1;
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), cwd: process.cwd(), node: process.version,
        execPath: process.execPath, vips: sharp.versions.vips, width: (await sharp(thumb).metadata()).width, tmp: readFileSync('/tmp/probe', 'utf8'), certs }));`;
    const { code, stdout, stderr } = await runInImage(['node', '--input-type=module', '-e', script]);
    expect(code, stderr).toBe(0);
    const probe = JSON.parse(stdout.trim().split('\n').at(-1)!);
    say(`in the image: ${JSON.stringify(probe)}`);
    expect(probe.node).toBe(`v${image.nodeVersion}`);
    expect(probe.vips).toMatch(/^\d+\.\d+/);
    expect(probe.width).toBe(16);
    expect(probe.tmp).toBe('ok');
    expect(probe.certs).toBeGreaterThan(50);
    if (runner === 'chroot-root') {
      expect([probe.uid, probe.gid]).toEqual([IMAGE_UID, IMAGE_UID]);
      expect(probe.cwd).toBe('/app');
      expect(probe.execPath).toBe(IMAGE_NODE);
    }
  });

  it('runs `all` on loopback: /healthz and /readyz answer, SIGTERM stops it cleanly', async () => {
    const port = await freePort();
    const cmd = imageCommand([...config.config.Entrypoint, 'all'], {
      IMCLOUD_HTTP_HOST: '127.0.0.1',
      IMCLOUD_HTTP_PORT: String(port),
      IMCLOUD_GATE_TCP_PORT: '0',
    });
    const child = spawn(cmd.command, cmd.args, {
      env: cmd.env,
      cwd: runner === 'loader' ? path.join(rootfs, 'app') : work,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c));
    child.stderr!.on('data', (c: Buffer) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    let ready = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      ready = await fetch(`${base}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready, output).toBe(200);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const page = await fetch(`${base}/`);
    expect(page.status, 'the web page from /app/dist/web').toBe(200);
    process.kill(-child.pid!, 'SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(code, output).toBe(0);
  });
});
