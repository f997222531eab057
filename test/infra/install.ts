// Installing what is not built: Debian packages (Redis, RabbitMQ, PostgreSQL, the Kubernetes
// control plane's helpers) and single files of npm-registry packages (the benchmarks' Node).
// Both are reachable wherever `npm ci` and `apt-get` work, with no other download.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, tryRun, withLock, withProgress } from './base.js';

// ---------------------------------------------------------------------------
// Debian packages

let aptUpdated = false;

async function isDebInstalled(pkg: string): Promise<boolean> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax, not a template
  const status = await tryRun('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', pkg]);
  return status?.startsWith('ii') ?? false;
}

/**
 * Installs Debian packages that are missing (nothing happens when all are
 * present). `apt-get update` runs at most once per process and only when
 * something must be installed.
 */
export async function ensureDebPackages(packages: string[], estimate = '~10 s'): Promise<void> {
  const missing = async () => {
    const flags = await Promise.all(packages.map(isDebInstalled));
    return packages.filter((_, i) => !flags[i]);
  };
  if ((await missing()).length === 0) return;
  await withLock('apt', `installing ${packages.join(' ')}`, async () => {
    const todo = await missing();
    if (todo.length === 0) return;
    const sudo = await privilegePrefix(todo);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const aptGet = (args: string[]) => run(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...args], { env });
    await withProgress(`installing ${todo.join(' ')} (Debian packages)`, estimate, async () => {
      if (!aptUpdated) {
        await aptGet(['-o', 'DPkg::Lock::Timeout=300', 'update', '-q']);
        aptUpdated = true;
      }
      await aptGet(['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-q', '--no-install-recommends', ...todo]);
    });
  });
}

/** [] as root, ['sudo', '-n'] when passwordless sudo works, otherwise a clear error. */
async function privilegePrefix(todo: string[]): Promise<string[]> {
  if (process.getuid?.() === 0) return [];
  if ((await tryRun('sudo', ['-n', 'true'])) !== undefined) return ['sudo', '-n'];
  throw new Error(
    `infra: Debian packages ${todo.join(', ')} are missing and this user cannot install them.\n` +
      `Run once: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${todo.join(' ')}`,
  );
}

// ---------------------------------------------------------------------------
// npm-registry packages

/**
 * Fetches one file of an npm-registry package (`npm pack`: the tarball only, no install and no
 * install scripts) and moves it to `dest`. `file` is its path inside the package.
 */
export async function fetchNpmFile(pkgAtVersion: string, file: string, dest: string): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'imcloud-npm-'));
  try {
    const packed = await run('npm', ['pack', pkgAtVersion, '--loglevel=error', '--pack-destination', tmp], {
      cwd: tmp,
      timeoutMs: 300_000,
    });
    const tarball = packed.trim().split('\n').pop()!;
    await run('tar', ['-xzf', path.join(tmp, tarball), '-C', tmp, `package/${file}`]);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.rename(path.join(tmp, 'package', file), dest);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
