// Process supervision for the test servers and the role processes of test/support/cluster.ts:
// per-run directories, free ports, children in their own process groups with log files, and
// teardown that happens even when the test process is interrupted or killed (exit and signal
// handlers, then a watchdog shell). Readiness waits are in readiness.ts.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isAlive, log } from './base.js';

// ---------------------------------------------------------------------------
// Run directories

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

// ---------------------------------------------------------------------------
// Teardown

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
    writeSync(fd, `${lines.join('\n')}\n`);
    closeSync(fd);
  } catch {
    // tmp not writable: the exit handlers still work.
  }
}
