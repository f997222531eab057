// Building test servers from the Go module proxy into the cache: bin/<name>-<version>, trusted
// only with a matching `.version` stamp (written last) and, where the recipe says how, after
// the binary reports its version. Builds hold one machine-wide lock ('go-build'): they never
// run in parallel on a small machine, and a second test process waits for the first one's
// build instead of repeating it.

import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { binDir, cacheDir, run, withLock, withProgress } from './base.js';

export interface GoBinarySpec {
  /** File name stem, e.g. 'kube-apiserver'. The binary is bin/<name>-<version>. */
  name: string;
  version: string;
  /** Shown before a cold build, e.g. '~2 min'. */
  estimate: string;
  /**
   * A short description of how the binary is built (flags, wrapper module…).
   * It is part of the stamp, so changing the recipe rebuilds the binary.
   */
  recipe: string;
  /** Builds the binary at `out`. `go` runs the Go tool with the right environment. */
  build(out: string, go: GoRunner): Promise<void>;
  /** Run the binary with these args; the output must contain `expect`. */
  versionCheck?: { args: string[]; expect: string };
}

export type GoRunner = (args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => Promise<string>;

const verifiedBinaries = new Map<string, Promise<string>>();

/**
 * Returns the path of a Go-built binary in the cache, building it first if it is
 * missing or its version does not match. Builds are serialised machine-wide.
 */
export function ensureGoBinary(spec: GoBinarySpec): Promise<string> {
  const out = path.join(binDir(), `${spec.name}-${spec.version}`);
  let pending = verifiedBinaries.get(out);
  if (!pending) {
    pending = ensureGoBinaryUncached(spec, out);
    verifiedBinaries.set(out, pending);
    pending.catch(() => verifiedBinaries.delete(out));
  }
  return pending;
}

function stampOf(spec: GoBinarySpec): string {
  return JSON.stringify({ name: spec.name, version: spec.version, recipe: spec.recipe });
}

async function isCachedBinaryValid(spec: GoBinarySpec, out: string): Promise<boolean> {
  try {
    const stamp = await fs.readFile(`${out}.version`, 'utf8');
    if (stamp.trim() !== stampOf(spec)) return false;
    await fs.access(out, fs.constants.X_OK);
  } catch {
    return false;
  }
  return checkVersion(spec, out);
}

async function checkVersion(spec: GoBinarySpec, bin: string): Promise<boolean> {
  return (await versionMismatch(spec, bin)) === undefined;
}

/** undefined when the binary reports the expected version, otherwise what it said. */
async function versionMismatch(spec: GoBinarySpec, bin: string): Promise<string | undefined> {
  if (!spec.versionCheck) return undefined;
  try {
    const output = await run(bin, spec.versionCheck.args, { timeoutMs: 20_000 });
    return output.includes(spec.versionCheck.expect) ? undefined : output.trim() || '(no output)';
  } catch (err) {
    return (err as Error).message;
  }
}

async function ensureGoBinaryUncached(spec: GoBinarySpec, out: string): Promise<string> {
  if (await isCachedBinaryValid(spec, out)) return out;
  return withLock('go-build', `building ${spec.name} ${spec.version}`, async () => {
    // Another process may have finished this build while we waited for the lock.
    if (await isCachedBinaryValid(spec, out)) return out;
    await requireGo();
    await fs.mkdir(binDir(), { recursive: true });
    const buildLog = path.join(cacheDir(), 'logs', `${spec.name}-${spec.version}.build.log`);
    await fs.rm(buildLog, { force: true });
    const go: GoRunner = (args, opts = {}) =>
      run('go', args, { cwd: opts.cwd, env: { ...goEnv(), ...opts.env }, logFile: buildLog }).catch((err: Error) => {
        throw new Error(`${err.message}\n(full build log: ${buildLog})`);
      });
    const tmp = `${out}.tmp-${process.pid}`;
    await withProgress(`building ${spec.name} ${spec.version}`, spec.estimate, async () => {
      try {
        await spec.build(tmp, go);
        await fs.chmod(tmp, 0o755);
        const mismatch = await versionMismatch(spec, tmp);
        if (mismatch !== undefined) {
          const { args, expect } = spec.versionCheck!;
          throw new Error(`infra: freshly built ${spec.name} does not report "${expect}" for \`${args.join(' ')}\`:\n${mismatch}`);
        }
        await fs.rename(tmp, out);
      } finally {
        await fs.rm(tmp, { force: true });
      }
    });
    // The stamp is written last: a binary without a matching stamp is never trusted.
    await fs.writeFile(`${out}.version`, `${stampOf(spec)}\n`);
    return out;
  });
}

/** GOTOOLCHAIN=local: a module asking for a newer Go must fail, not download a toolchain. */
export function goEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' };
}

let goChecked: Promise<void> | undefined;

function requireGo(): Promise<void> {
  goChecked ??= run('go', ['env', 'GOVERSION'], { env: goEnv() }).then(
    () => undefined,
    (err: Error) => {
      goChecked = undefined;
      throw new Error(
        `infra: the Go toolchain is needed to build test servers but \`go\` did not run (${err.message.split('\n')[0]}).\n` +
          'Install Go 1.25 or newer from https://go.dev/dl/ and put it on PATH, then re-run.',
      );
    },
  );
  return goChecked;
}

/**
 * Prepares (once) a wrapper Go module in the cache: a throwaway main module that
 * requires the server's module, so that `go build <package>` can build commands
 * `go install pkg@version` cannot (kubernetes, a custom FerretDB main).
 * `setup` runs only when the module is not yet complete.
 */
export async function wrapperModule(name: string, setup: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(cacheDir(), 'src', name);
  const done = path.join(dir, '.complete');
  if (existsSync(done)) return dir;
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  await setup(dir);
  await fs.writeFile(done, `${new Date().toISOString()}\n`);
  return dir;
}

/** `go install module/cmd@version` into a private GOBIN, then move the binary to `out`. */
export async function goInstall(go: GoRunner, pkgAtVersion: string, out: string, flags: string[] = []): Promise<void> {
  const gobin = await fs.mkdtemp(path.join(binDir(), '.gobin-'));
  try {
    await go(['install', ...flags, pkgAtVersion], { env: { GOBIN: gobin } });
    const [built] = await fs.readdir(gobin);
    if (!built) throw new Error(`infra: go install ${pkgAtVersion} produced no binary`);
    await fs.rename(path.join(gobin, built), out);
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
}
