// Shared machinery for the test servers: cache and run directories, free ports,
// child processes with log files, readiness waits, teardown, cached Go builds
// and Debian packages. Every server module (redis.ts, rabbitmq.ts, …) is a thin
// recipe on top of this file.
//
// Only Node built-ins are used here so that the library works from vitest
// globalSetup, from `npx tsx test/infra/cli.ts`, and before anything else of the
// project has been built.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// Messages

/** Progress and diagnostics go to stderr so that `cli.ts up` can keep stdout for `export` lines. */
export function log(message: string): void {
  process.stderr.write(`infra: ${message}\n`);
}

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/**
 * Runs a long task (a Go build, an apt install) while telling the user what is
 * happening: a first line with the expected duration, then the elapsed time every
 * 15 s, so a cold first run never looks hung.
 */
export async function withProgress<T>(label: string, estimate: string, task: () => Promise<T>): Promise<T> {
  const started = Date.now();
  log(`${label} (first run only, ${estimate})…`);
  const timer = setInterval(() => log(`  …still ${label}, ${seconds(Date.now() - started)} elapsed`), 15_000);
  timer.unref();
  try {
    const result = await task();
    log(`${label}: done in ${seconds(Date.now() - started)}`);
    return result;
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------
// Directories

/** Everything built or installed by the library lives here, outside the repository. */
export function cacheDir(): string {
  return process.env.IMCLOUD_CACHE ?? path.join(os.homedir(), '.cache', 'imcloud');
}

export function binDir(): string {
  return path.join(cacheDir(), 'bin');
}

/** Keep run directories (data + server logs) after stop(), for debugging. */
export function keepRunDirs(): boolean {
  return process.env.IMCLOUD_KEEP_RUN === '1';
}

const RUN_DIR_PREFIX = 'imcloud-run-';

/**
 * Creates a fresh per-run directory (os.tmpdir()/imcloud-run-XXXX). The owner pid
 * is recorded so that a later run can sweep directories left by crashed runs.
 */
export async function createRunDir(): Promise<string> {
  await sweepStaleRunDirs();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
  await fs.writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

export async function removeRunDir(dir: string): Promise<void> {
  if (keepRunDirs()) {
    log(`keeping run directory ${dir} (IMCLOUD_KEEP_RUN=1)`);
    return;
  }
  await fs.rm(dir, { recursive: true, force: true });
}

/** Removes run directories whose owner process is gone and which are older than an hour. */
async function sweepStaleRunDirs(): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[];
  try {
    names = (await fs.readdir(tmp)).filter((n) => n.startsWith(RUN_DIR_PREFIX));
  } catch {
    return;
  }
  const hourAgo = Date.now() - 3_600_000;
  for (const name of names) {
    const dir = path.join(tmp, name);
    try {
      const owner = Number(await fs.readFile(path.join(dir, 'owner.pid'), 'utf8'));
      const { mtimeMs } = await fs.stat(dir);
      if (mtimeMs < hourAgo && !isAlive(owner)) await fs.rm(dir, { recursive: true, force: true });
    } catch {
      // Not ours or already gone: leave it.
    }
  }
}

// ---------------------------------------------------------------------------
// Ports

const handedOut = new Set<number>();

/**
 * A TCP port that is free on 127.0.0.1 right now. The kernel picks it; ports
 * already handed out by this process are skipped so that two servers started
 * in parallel never receive the same one.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('infra: could not find a free TCP port on 127.0.0.1');
}

// ---------------------------------------------------------------------------
// Child processes

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** Sends `sig` to the whole process group (nothing once it has exited). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM to the whole process group, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  /** Appended to (restarts keep one log per server). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Children still running, by process-group id; killed by the exit/signal handlers. */
const liveGroups = new Map<number, string>();

/**
 * Starts a server in its own process group (so that helpers it forks die with it)
 * with stdout and stderr appended to logFile.
 */
export async function spawnServer(opts: SpawnOptions): Promise<ServerProcess> {
  installExitHandlers();
  await fs.mkdir(path.dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  writeSync(fd, `\n--- ${new Date().toISOString()} infra: ${opts.command} ${opts.args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`infra: cannot start ${opts.name} (${opts.command}): ${err.message}`)));
  });
  child.on('error', () => undefined); // later errors surface through `exited` and the log
  const pid = child.pid!;
  let running = true;
  liveGroups.set(pid, opts.name);
  recordWatchdogGroups();
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      liveGroups.delete(pid);
      recordWatchdogGroups();
      resolve({ code, signal });
    });
  });

  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited,
    isRunning: () => running,
    signal: (sig) => {
      if (running) signalGroup(pid, sig);
    },
    async stop(graceMs = 10_000) {
      if (!running) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Whatever the leader forked and left behind in its group goes too.
      signalGroup(pid, 'SIGKILL');
    },
  };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let exitHandlersInstalled = false;

/**
 * Teardown must happen even when the caller's tests fail or the user presses
 * Ctrl-C. 'exit' handlers can only run synchronous code, so they signal the
 * process groups; a detached watchdog shell finishes the job (SIGKILL, run-dir
 * removal) if this process dies in a way no handler sees, e.g. SIGKILL.
 */
function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  const killAll = () => {
    for (const pgid of liveGroups.keys()) signalGroup(pgid, 'SIGTERM');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Stays installed: Ctrl-C under tsx or npm delivers SIGINT more than once
    // (to the whole process group, then relayed), and an unhandled repeat would
    // kill this process in the middle of a graceful stop().
    const handler = () => {
      // Someone else (vitest, cli.ts, run-dist, a benchmark) handles this signal: they stop the
      // servers themselves, after what runs on them (roles first, so roles do not spend their
      // shutdown retrying servers that are gone); 'exit' and the watchdog remain the safety net.
      if (process.listeners(sig).some((l) => l !== handler)) return;
      // Nobody else: stop the servers and keep the signal's default meaning.
      killAll();
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// The watchdog: one small `sh` per process that polls whether we are alive and, once
// we are not, kills every process group listed in its file and removes run dirs.
let watchdogFile: string | undefined;
const watchedRunDirs = new Set<string>();

/** Run directories the watchdog should delete if this process dies without cleaning up. */
export function watchRunDir(dir: string, watch: boolean): void {
  if (watch && !keepRunDirs()) watchedRunDirs.add(dir);
  else watchedRunDirs.delete(dir);
  recordWatchdogGroups();
}

function recordWatchdogGroups(): void {
  if (!watchdogFile) {
    if (liveGroups.size === 0) return;
    watchdogFile = path.join(os.tmpdir(), `imcloud-watchdog-${process.pid}`);
    const script = [
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done',
      '[ -f "$2" ] || exit 0',
      'for g in $(grep "^g " "$2" | cut -c3-); do kill -TERM "-$g" 2>/dev/null; done',
      'sleep 3',
      'for g in $(grep "^g " "$2" | cut -c3-); do kill -KILL "-$g" 2>/dev/null; done',
      'grep "^d " "$2" | cut -c3- | while read -r d; do rm -rf -- "$d"; done',
      'rm -f -- "$2"',
    ].join('\n');
    const dog = spawn('sh', ['-c', script, 'imcloud-watchdog', String(process.pid), watchdogFile], {
      detached: true,
      stdio: 'ignore',
    });
    dog.unref();
    process.on('exit', () => {
      // Normal exit after stop(): nothing left to watch.
      if (liveGroups.size === 0 && watchedRunDirs.size === 0 && watchdogFile) {
        try {
          unlinkSync(watchdogFile);
        } catch {
          /* already gone */
        }
      }
    });
  }
  const lines = [...[...liveGroups.keys()].map((g) => `g ${g}`), ...[...watchedRunDirs].map((d) => `d ${d}`)];
  // Synchronous write keeps the file consistent with the in-memory state at every await point.
  try {
    const fd = openSync(watchdogFile, 'w');
    writeSync(fd, lines.join('\n') + '\n');
    closeSync(fd);
  } catch {
    // tmp not writable: the exit handlers still work.
  }
}

// ---------------------------------------------------------------------------
// Readiness

export interface WaitOptions {
  server: ServerProcess;
  /** Other processes the probe depends on: if one of them dies, fail with its log. */
  companions?: ServerProcess[];
  /** What is probed, for messages: e.g. "PING on 127.0.0.1:6379". */
  what: string;
  /** true when ready; false or a thrown error means "not yet". */
  probe: () => Promise<boolean>;
  timeoutMs?: number;
  /** What the user should try next when the server does not come up. */
  hint?: string;
}

/** Polls `probe` until it succeeds, the process dies, or the timeout passes. */
export async function waitForReady(opts: WaitOptions): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const started = Date.now();
  let delay = 50;
  let lastError = '';
  while (Date.now() - started < timeoutMs) {
    for (const server of [opts.server, ...(opts.companions ?? [])]) {
      if (server.isRunning()) continue;
      const exit = await server.exited;
      const why = `exited before it was ready (code ${exit.code}, signal ${exit.signal})`;
      throw await startupError({ ...opts, server, hint: server === opts.server ? opts.hint : undefined }, why);
    }
    try {
      if (await opts.probe()) return Date.now() - started;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  const why = `did not become ready within ${seconds(timeoutMs)} (${opts.what}${lastError ? `; last probe error: ${lastError}` : ''})`;
  const error = await startupError(opts, why);
  // A server that never became ready is of no use to anyone: don't leave it running.
  await opts.server.stop(2_000);
  throw error;
}

async function startupError(opts: WaitOptions, why: string): Promise<Error> {
  const tail = await lastLines(opts.server.logFile, 40);
  return new Error(
    [
      `infra: ${opts.server.name} ${why}.`,
      `--- last 40 lines of ${opts.server.logFile} ---`,
      tail,
      '--- what to do ---',
      opts.hint ?? `Read the log above.`,
      `The run directory is kept for inspection: ${path.dirname(opts.server.logFile)}.`,
      `If a cached binary looks broken, delete it from ${binDir()} and run \`npx tsx test/infra/cli.ts ensure\`.`,
    ].join('\n'),
  );
}

export async function lastLines(file: string, count: number): Promise<string> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no log written)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Opens a TCP connection, writes `request`, and resolves with `accept(received)`
 * as soon as it returns a verdict (true/false); undefined means "read more".
 */
export function tcpProbe(
  port: number,
  request: Buffer | string,
  accept: (received: Buffer) => boolean | undefined,
  timeoutMs = 2_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const verdict = accept(received);
      if (verdict !== undefined) done(verdict);
    });
    socket.once('end', () => done(false));
  });
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Small HTTP(S) client for probes and for the Kubernetes API (no dependencies). */
export function httpRequest(
  url: string,
  opts: { method?: string; body?: string; headers?: Record<string, string>; tls?: https.RequestOptions; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === 'https:' ? https : http;
    const req = lib.request(
      target,
      { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 5_000, ...opts.tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5_000} ms: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

// ---------------------------------------------------------------------------
// Commands

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Also append stdout/stderr to this file (build logs). */
  logFile?: string;
}

/** Runs a command to completion; the error names the command and includes its output. */
export async function run(command: string, args: string[], opts: RunOptions = {}): Promise<string> {
  if (opts.logFile) {
    await fs.mkdir(path.dirname(opts.logFile), { recursive: true });
    await fs.appendFile(opts.logFile, `\n$ ${command} ${args.join(' ')}\n`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sink = (chunks: Buffer[]) => (c: Buffer) => {
      chunks.push(c);
      if (opts.logFile) void fs.appendFile(opts.logFile, c);
    };
    child.stdout.on('data', sink(out));
    child.stderr.on('data', sink(err));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`infra: cannot run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve(stdout);
      const stderr = Buffer.concat(err).toString('utf8');
      const output = (stderr + stdout).trimEnd().split('\n').slice(-40).join('\n');
      reject(new Error(`infra: \`${command} ${args.join(' ')}\` failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

/** execFile without a shell, for quick queries whose failure is an answer (dpkg-query). */
export function tryRun(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

// ---------------------------------------------------------------------------
// Locks

const inProcessLocks = new Map<string, Promise<unknown>>();

/**
 * Mutual exclusion across this process (a promise chain) and across processes
 * (an O_EXCL lock file holding the owner's pid; a lock whose owner died is
 * taken over). Used so that two test processes never build the same binary
 * twice, and so that builds never run in parallel on a small machine.
 */
export async function withLock<T>(name: string, purpose: string, task: () => Promise<T>): Promise<T> {
  const previous = inProcessLocks.get(name) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => withFileLock(name, purpose, task));
  inProcessLocks.set(name, mine);
  return mine;
}

async function withFileLock<T>(name: string, purpose: string, task: () => Promise<T>): Promise<T> {
  const dir = path.join(cacheDir(), 'locks');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.lock`);
  let lastNotice = 0;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString() }));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: { pid?: number; purpose?: string } = {};
    try {
      owner = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch {
      // Being written right now, or corrupt: judge by age below.
    }
    const ageMs = await fs.stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (owner.pid ? !isAlive(owner.pid) : ageMs > 10_000) {
      log(`taking over stale lock ${file} (owner ${owner.pid ?? 'unknown'} is gone)`);
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() - lastNotice > 15_000) {
      log(`waiting for process ${owner.pid} (${owner.purpose ?? name}) to release ${file}…`);
      lastNotice = Date.now();
    }
    await sleep(500);
  }
  try {
    return await task();
  } finally {
    await fs.rm(file, { force: true });
  }
}

// ---------------------------------------------------------------------------
// Go builds

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
    await fs.writeFile(`${out}.version`, stampOf(spec) + '\n');
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
  await fs.writeFile(done, new Date().toISOString() + '\n');
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

// ---------------------------------------------------------------------------
// Debian packages

let aptUpdated = false;

async function isDebInstalled(pkg: string): Promise<boolean> {
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
    const aptGet = (args: string[]) =>
      run(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...args], { env });
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
