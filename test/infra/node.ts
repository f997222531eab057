// A Node.js release other than the machine's, for the benchmarks: they run the roles on the
// Node line the image ships (ADR 0016), which development machines need not have. The
// official binary comes from the npm registry (package node-linux-<arch>), which is reachable
// wherever `npm ci` works, and is cached like the Go builds.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheDir, run, withLock, withProgress } from './lib.js';

/** The Node release the benchmarks run on: the newest of the image's line (Dockerfile NODE_IMAGE; test/kubernetes/kind-static.test.ts checks they agree). */
export const BENCH_NODE_VERSION = '24.21.0';

/** The architectures the registry has binaries for (node-linux-<arch>). */
const ARCHES = new Set(['x64', 'arm64']);

/** The directory whose `node` is the given release (put it first on PATH), fetched on first use. */
export async function ensureNode(version: string = BENCH_NODE_VERSION): Promise<string> {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`infra: "${version}" is not a Node release (expected e.g. ${BENCH_NODE_VERSION})`);
  const dir = path.join(cacheDir(), `node-v${version}`, 'bin');
  if (await reports(dir, version)) return dir;
  const arch = process.arch;
  if (process.platform !== 'linux' || !ARCHES.has(arch)) {
    throw new Error(`infra: no Node ${version} binary for ${process.platform}-${process.arch} in the npm registry; install Node ${version} yourself and run with BENCH_NODE=system`);
  }
  const pkg = `node-linux-${arch}@${version}`;
  return withLock(`node-v${version}`, `fetching ${pkg}`, async () => {
    if (await reports(dir, version)) return dir;
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'imcloud-node-'));
    try {
      await withProgress(`fetching Node ${version} (${pkg} from the npm registry)`, '~10 s', async () => {
        const tarball = (await run('npm', ['pack', pkg, '--loglevel=error', '--pack-destination', tmp], { cwd: tmp, timeoutMs: 300_000 })).trim().split('\n').pop()!;
        await run('tar', ['-xzf', path.join(tmp, tarball), '-C', tmp, 'package/bin/node']);
      });
      await fs.mkdir(dir, { recursive: true });
      await fs.rename(path.join(tmp, 'package', 'bin', 'node'), path.join(dir, 'node'));
    } catch (err) {
      throw new Error(`${(err as Error).message}\ninfra: could not fetch Node ${version}; check that the npm registry is reachable, or run with BENCH_NODE=system (this machine's node)`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    if (!(await reports(dir, version))) throw new Error(`infra: ${path.join(dir, 'node')} does not report v${version}`);
    return dir;
  });
}

/** Whether `dir/node` exists and says it is `version`. */
async function reports(dir: string, version: string): Promise<boolean> {
  try {
    return (await run(path.join(dir, 'node'), ['--version'], { timeoutMs: 20_000 })).trim() === `v${version}`;
  } catch {
    return false;
  }
}
