// What the attacks run against, always as OS processes of their own, so that an attack that
// kills a process is SEEN as a crash instead of taking vitest down with it:
//   - embedded: `node bin/imcloud.js all` (every role in one process, in-memory backends);
//   - multi-process: every role as its own process on real Redis, RabbitMQ and FerretDB, and a
//     file process on MinIO (test/support/cluster.ts; the servers come from the attack
//     project's globalSetup).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../infra/base.js';
import { freePort, type ServerProcess, spawnServer } from '../../infra/processes.js';
import { type BackendEnv, startCluster } from '../../support/cluster.js';
import { TARGET_ENV } from '../intended.js';
import type { Endpoint } from './client.js';
import { rawRequest } from './http.js';

const BIN = fileURLToPath(new URL('../../../bin/imcloud.js', import.meta.url));

export type TargetKind = 'embedded' | 'multi-process';

export interface TargetProcess {
  name: string;
  role: string;
  /** http://127.0.0.1:port */
  url: string;
  pid(): number | undefined;
  /** Starts it again after it died (same ports, same configuration). */
  restart(): Promise<void>;
}

export interface Target {
  kind: TargetKind;
  processes: TargetProcess[];
  /** The gates; attacks aim at the first, bystanders sit on the first and the last. */
  gates: Endpoint[];
  adminUrl: string;
  adminToken: string;
  dispatchUrl: string;
  /** The HTTP base URLs of the file role's processes (embedded: the one process). */
  fileUrls: string[];
  /** Whether a restart loses every app and message (in-memory backends). */
  volatile: boolean;
  stop(): Promise<void>;
}

export interface Health {
  ok: boolean;
  /** One line per process that is dead or did not answer, with why. */
  problems: string[];
  /** The names of the processes found dead (not merely slow). */
  dead: string[];
}

/** GET on a fresh connection (never one an attack may have left in a bad state). */
async function status(url: string, timeoutMs: number): Promise<number | string> {
  const u = new URL(url);
  const answer = await rawRequest(u.origin, `GET ${u.pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeoutMs });
  if (answer.status !== undefined) return answer.status;
  return answer.error ?? `no answer within ${timeoutMs} ms`;
}

/** Every process alive (its pid exists), /healthz 200 and /readyz 200. */
export async function health(target: Target, timeoutMs = 5_000): Promise<Health> {
  const problems: string[] = [];
  const dead: string[] = [];
  await Promise.all(
    target.processes.map(async (p) => {
      const pid = p.pid();
      if (pid === undefined || !isAlive(pid)) {
        problems.push(`${p.name}: process is gone`);
        dead.push(p.name);
        return;
      }
      const [h, r] = await Promise.all([status(`${p.url}/healthz`, timeoutMs), status(`${p.url}/readyz`, timeoutMs)]);
      if (h !== 200) problems.push(`${p.name} (pid ${pid}): /healthz ${h}`);
      if (r !== 200) problems.push(`${p.name} (pid ${pid}): /readyz ${r}`);
    }),
  );
  return { ok: problems.length === 0, problems, dead };
}

/** Restarts the processes that died; waits until every process is ready again. */
export async function revive(target: Target, dead: string[]): Promise<void> {
  for (const p of target.processes) {
    if (dead.includes(p.name)) await p.restart();
  }
}

/** VmRSS of a process in bytes (Linux /proc), or undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function waitReady(url: string, exited: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`${what} exited while starting`);
    if ((await status(`${url}/readyz`, 2_000)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms`);
}

/** `node bin/imcloud.js all` on free ports, logging to logDir/embedded.log. */
export async function startEmbedded(logDir: string, extraEnv: Record<string, string> = {}): Promise<Target> {
  const httpPort = await freePort();
  const tcpPort = await freePort();
  const adminToken = `attack-admin-${Math.random().toString(36).slice(2)}`;
  // The file role's folder: this target's own, removed when it stops.
  const filesDir = mkdtempSync(join(tmpdir(), 'imcloud-attack-files-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    IMCLOUD_NODE_ID: 'attack-embedded',
    IMCLOUD_HTTP_HOST: '127.0.0.1',
    IMCLOUD_HTTP_PORT: String(httpPort),
    IMCLOUD_GATE_TCP_PORT: String(tcpPort),
    IMCLOUD_ADMIN_TOKEN: adminToken,
    IMCLOUD_LOG_LEVEL: 'warn',
    IMCLOUD_FILE_DIR: filesDir,
    ...TARGET_ENV,
    ...extraEnv,
  };
  const url = `http://127.0.0.1:${httpPort}`;
  let server: ServerProcess | undefined;
  const start = async () => {
    server = await spawnServer({
      name: 'imcloud-all',
      command: process.execPath,
      args: [BIN, 'all'],
      env,
      logFile: join(logDir, 'embedded.log'),
    });
    const s = server;
    await waitReady(url, () => !s.isRunning(), `the embedded process (log: ${join(logDir, 'embedded.log')})`);
  };
  await start();
  const proc: TargetProcess = {
    name: 'embedded',
    role: 'all',
    url,
    pid: () => (server?.isRunning() ? server.pid : undefined),
    restart: async () => {
      await server?.stop(2_000);
      await start();
    },
  };
  return {
    kind: 'embedded',
    processes: [proc],
    gates: [{ wsUrl: `ws://127.0.0.1:${httpPort}/ws`, tcpPort }],
    adminUrl: url,
    adminToken,
    dispatchUrl: `${url}/v1/dispatch`,
    fileUrls: [url],
    volatile: true,
    stop: async () => {
      await server?.stop(5_000);
      rmSync(filesDir, { recursive: true, force: true });
    },
  };
}

/** Two gates, two logic, two consumers, dispatch, admin and a file process on the real servers in process.env. */
export async function startMultiProcess(logDir: string, extraEnv: Record<string, string> = {}): Promise<Target> {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v)
      throw new Error(
        `${name} is not set: run the attack suite through its vitest project (its globalSetup starts Redis, RabbitMQ, FerretDB and MinIO)`,
      );
    return v;
  };
  const backend: BackendEnv = {
    IMCLOUD_REDIS_URL: need('IMCLOUD_REDIS_URL'),
    IMCLOUD_RABBITMQ_URL: need('IMCLOUD_RABBITMQ_URL'),
    IMCLOUD_MONGODB_URL: need('IMCLOUD_MONGODB_URL'),
    IMCLOUD_MONGODB_DATABASE: `attack_${Date.now()}`,
  };
  const minio = Object.fromEntries(
    ['END_POINT', 'PORT', 'ACCESS_KEY', 'SECRET_KEY', 'USE_SSL'].map((k) => [`IMCLOUD_MINIO_${k}`, need(`IMCLOUD_MINIO_${k}`)]),
  );
  const cluster = await startCluster(
    backend,
    logDir,
    { file: 1 },
    { IMCLOUD_LOG_LEVEL: 'warn', ...minio, IMCLOUD_MINIO_BUCKET: `attack-${Date.now()}`, ...TARGET_ENV, ...extraEnv },
  );
  const processes: TargetProcess[] = cluster.processes.map((p) => ({
    name: p.name,
    role: p.role,
    url: p.url,
    pid: () => p.pid,
    restart: async () => {
      await p.stop();
      await p.start();
    },
  }));
  return {
    kind: 'multi-process',
    processes,
    gates: cluster.byRole('gate').map((g) => ({ wsUrl: `ws://127.0.0.1:${g.httpPort}/ws`, tcpPort: g.tcpPort })),
    adminUrl: cluster.adminUrl,
    adminToken: cluster.adminToken,
    dispatchUrl: cluster.dispatchUrl,
    fileUrls: cluster.byRole('file').map((p) => p.url),
    volatile: false,
    stop: () => cluster.stop(),
  };
}
