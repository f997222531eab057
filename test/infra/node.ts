// A Node.js release other than the machine's, for the benchmarks: they run the roles on the
// Node line the image ships (ADR 0016), which development machines need not have. The
// official binary comes from the npm registry (package node-linux-<arch>), which is reachable
// wherever `npm ci` works, and is cached like the Go builds.

import * as path from 'node:path';
import { cacheDir, run, withLock, withProgress } from './base.js';
import { fetchNpmFile } from './install.js';

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
    throw new Error(
      `infra: no Node ${version} binary for ${process.platform}-${process.arch} in the npm registry; install Node ${version} yourself and run with BENCH_NODE=system`,
    );
  }
  const pkg = `node-linux-${arch}@${version}`;
  return withLock(`node-v${version}`, `fetching ${pkg}`, async () => {
    if (await reports(dir, version)) return dir;
    try {
      await withProgress(`fetching Node ${version} (${pkg} from the npm registry)`, '~10 s', () =>
        fetchNpmFile(pkg, 'bin/node', path.join(dir, 'node')),
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\ninfra: could not fetch Node ${version}; check that the npm registry is reachable, or run with BENCH_NODE=system (this machine's node)`,
      );
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
