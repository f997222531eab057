// Runs imcloud roles as separate OS processes on real servers: the multi-process end-to-end
// tests, the chaos test, `make run-dist` and `make bench-dist` all start their platform here.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type ServerProcess, spawnServer } from '../infra/processes.js';
import type { ScrapeJob } from '../infra/prometheus.js';

const BIN = fileURLToPath(new URL('../../bin/imcloud.js', import.meta.url));

export type RoleName = 'gate' | 'dispatch' | 'logic' | 'consumer' | 'admin' | 'file';

export interface BackendEnv {
  IMCLOUD_REDIS_URL: string;
  IMCLOUD_RABBITMQ_URL: string;
  IMCLOUD_MONGODB_URL: string;
  [extra: string]: string;
}

export interface Layout {
  gate?: number;
  logic?: number;
  consumer?: number;
  dispatch?: number;
  admin?: number;
  /** File processes (default none; they need IMCLOUD_MINIO_* in the backend env). */
  file?: number;
}

export { freePort };

/**
 * One role process. Started like the test servers (test/infra spawnServer): its own process
 * group, output appended to its log file, and stopped by the same signal, exit and watchdog
 * handlers, so that Ctrl-C or a crashed test run never leaves roles behind.
 */
export class RoleProcess {
  private server?: ServerProcess;
  exited?: Promise<number | null>;

  constructor(
    readonly role: RoleName,
    readonly name: string,
    readonly httpPort: number,
    readonly tcpPort: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logDir: string,
    private readonly nodeArgs: string[] = [],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** The process id (while it runs). */
  get pid(): number | undefined {
    return this.server?.isRunning() ? this.server.pid : undefined;
  }

  async start(): Promise<void> {
    const server = await spawnServer({
      name: this.name,
      command: process.execPath,
      args: [...this.nodeArgs, BIN, this.role],
      env: this.env,
      logFile: join(this.logDir, `${this.name}.log`),
    });
    this.server = server;
    this.exited = server.exited.then((e) => e.code);
    await this.waitReady();
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | null | undefined;
    void this.exited?.then((c) => (exitCode = c));
    while (Date.now() < deadline) {
      if (exitCode !== undefined)
        throw new Error(`${this.name} exited with ${exitCode} while starting; see ${join(this.logDir, `${this.name}.log`)}`);
      try {
        const res = await fetch(`${this.url}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} not ready within ${timeoutMs} ms; see ${join(this.logDir, `${this.name}.log`)}`);
  }

  /** kill -9: no drain, no cleanup, exactly like a node dying. */
  async kill9(): Promise<void> {
    this.server?.signal('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a graceful stop), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    await this.server?.stop(15_000);
  }
}

export interface Cluster {
  processes: RoleProcess[];
  byRole(role: RoleName): RoleProcess[];
  adminToken: string;
  dispatchUrl: string;
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startCluster(
  backend: BackendEnv,
  logDir: string,
  layout: Layout = {},
  extraEnv: Record<string, string> = {},
  /** HTTP ports chosen by the caller for the first process of a role. */
  ports: Partial<Record<RoleName, number>> = {},
  /** Node flags for every role process (e.g. --cpu-prof). */
  nodeArgs: string[] = [],
): Promise<Cluster> {
  mkdirSync(logDir, { recursive: true });
  const counts: Required<Layout> = { gate: 2, logic: 2, consumer: 2, dispatch: 1, admin: 1, file: 0, ...layout };
  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  const processes: RoleProcess[] = [];
  for (const role of ['consumer', 'logic', 'admin', 'file', 'dispatch', 'gate'] as RoleName[]) {
    for (let i = 1; i <= counts[role]; i++) {
      const name = `${role}-${i}`;
      const httpPort = (i === 1 ? ports[role] : undefined) ?? (await freePort());
      const tcpPort = role === 'gate' ? await freePort() : 0;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...backend,
        IMCLOUD_NODE_ID: name,
        IMCLOUD_HTTP_HOST: '127.0.0.1',
        IMCLOUD_HTTP_PORT: String(httpPort),
        IMCLOUD_GATE_TCP_PORT: String(tcpPort),
        IMCLOUD_ADMIN_TOKEN: adminToken,
        IMCLOUD_LOG_LEVEL: 'info',
        ...extraEnv,
      };
      processes.push(new RoleProcess(role, name, httpPort, tcpPort, env, logDir, nodeArgs));
    }
  }
  // Start in dependency order (consumers and logic before gates), each until ready.
  for (const p of processes) await p.start();
  const first = (role: RoleName) => processes.find((p) => p.role === role)!;
  return {
    processes,
    byRole: (role) => processes.filter((p) => p.role === role),
    adminToken,
    dispatchUrl: `${first('dispatch').url}/v1/dispatch`,
    adminUrl: first('admin').url,
    async stop() {
      await Promise.all(processes.map((p) => p.stop()));
    },
  };
}

/**
 * Prometheus scrape jobs for role processes (PrometheusServer.setTargets): one job per role,
 * named after it (gate, logic, …), each process's http port, /metrics; labelled as Kubernetes
 * labels them (the role as `app_kubernetes_io_component`, the process as `pod`), so the chart's
 * dashboards group these series as they do a cluster's.
 */
export function roleScrapeJobs(processes: RoleProcess[]): ScrapeJob[] {
  const roles = [...new Set(processes.map((p) => p.role))];
  return roles.map((role) => {
    const mine = processes.filter((p) => p.role === role);
    return {
      job: role,
      targets: mine.map((p) => `127.0.0.1:${p.httpPort}`),
      labels: { app_kubernetes_io_component: role },
      targetLabels: Object.fromEntries(mine.map((p) => [`127.0.0.1:${p.httpPort}`, { pod: p.name }])),
    };
  });
}
