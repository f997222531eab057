// What every part of the test infrastructure shares: progress messages, the cache directory,
// commands run to completion, and locks that hold across processes (a Go build, an apt
// install, a download happens once however many test processes ask for it).
//
// Only Node built-ins are used in test/infra so that it works from vitest globalSetup, from
// `npx tsx test/infra/cli.ts`, and before anything else of the project has been built.

import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
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

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// The cache

/** Everything built or installed by test/infra lives here, outside the repository. */
export function cacheDir(): string {
  return process.env.IMCLOUD_CACHE ?? path.join(os.homedir(), '.cache', 'imcloud');
}

export function binDir(): string {
  return path.join(cacheDir(), 'bin');
}

// ---------------------------------------------------------------------------
// Commands

/** Whether process `pid` exists (a lock's owner, a run directory's owner). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
    const ageMs = await fs.stat(file).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
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
