// Starts roles in one process: one config, one logger, one metrics registry, one HTTP server
// and one set of backends shared by every role the process runs.
import { randomBytes } from 'node:crypto';
import { Admin } from './admin/admin.js';
import { createBackends } from './backends.js';
import { Consumer } from './consumer/consumer.js';
import { Dispatch } from './dispatch/dispatch.js';
import { Gate } from './gate/gate.js';
import { Logic } from './logic/logic.js';
import type { Backends } from './ports/backends.js';
import type { WorkerIdLease } from './ports/worker-ids.js';
import type { Config } from './shared/config.js';
import { HttpServer } from './shared/http-server.js';
import { IdGenerator, MAX_WORKER_ID } from './shared/ids.js';
import { createLogger, type Logger } from './shared/logger.js';
import { createMetrics, type Metrics } from './shared/metrics.js';
import { serveWebPage } from './web-page.js';

export const ROLES = ['gate', 'dispatch', 'logic', 'consumer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Runtime {
  config: Config;
  log: Logger;
  metrics: Metrics;
  backends: Backends;
  http: HttpServer;
  httpPort: number;
  gate?: Gate;
  logic?: Logic;
  admin?: Admin;
  adminToken: string;
  stop(): Promise<void>;
}

const WORKER_LEASE_MS = 30_000;

export async function startRuntime(config: Config, roles: readonly Role[], opts: { web?: boolean; name?: string } = {}): Promise<Runtime> {
  const name = opts.name ?? (roles.length === ROLES.length ? 'all' : roles.join('+'));
  const log = createLogger(name, config.node.id, config.log.level);
  const metrics = createMetrics();
  const backends = await createBackends(config, log);
  const http = new HttpServer(log, metrics, name);
  http.readyWhen(() => backends.ready());
  const stops: Array<() => Promise<void>> = [];
  const adminToken = config.admin.token || randomBytes(18).toString('base64url');

  let lease: WorkerIdLease | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let logic: Logic | undefined;
  if (roles.includes('logic')) {
    lease = await backends.workerIds.lease(config.node.id, MAX_WORKER_ID, WORKER_LEASE_MS);
    renewTimer = setInterval(() => {
      lease!.renew().then((held) => {
        if (held) return;
        // Another process may now hold this worker id; issuing ids could collide. Restart.
        log.fatal({ workerId: lease!.workerId }, 'lost the id-generator worker lease; exiting');
        process.exit(70);
      }, (err: unknown) => log.warn({ err: String(err) }, 'worker lease renewal failed; retrying'));
    }, WORKER_LEASE_MS / 3);
    renewTimer.unref();
    logic = new Logic(config, backends, log, metrics);
    await logic.start(new IdGenerator(lease.workerId), [config.gate.track]);
    stops.push(() => logic!.stop());
    log.info({ workerId: lease.workerId }, 'logic consuming upstream');
  }
  if (roles.includes('consumer')) {
    const consumer = new Consumer(config, backends, log, metrics);
    await consumer.start();
    stops.push(() => consumer.stop());
  }
  let admin: Admin | undefined;
  if (roles.includes('admin')) {
    admin = new Admin(config, backends, metrics, adminToken);
    admin.register(http);
    if (!config.admin.token) log.warn('admin.token is not set: generated a platform admin token for this process (printed at start)');
  }
  if (roles.includes('dispatch')) new Dispatch(config, backends, metrics).register(http);
  if (opts.web) serveWebPage(http, config, backends, admin);

  const httpPort = await http.listen(config.http.port, config.http.host);
  let gate: Gate | undefined;
  if (roles.includes('gate')) {
    gate = new Gate(config, backends, http, log, metrics);
    await gate.start(httpPort);
    // The gate drains first so its clients move before the rest stops.
    stops.unshift(() => gate!.stop());
  }
  log.info({ roles, port: httpPort, backends: backends.kind }, 'imcloud started');

  return {
    config, log, metrics, backends, http, httpPort, gate, logic, admin, adminToken,
    async stop() {
      for (const stop of stops) {
        await stop().catch((err: unknown) => log.warn({ err: String(err) }, 'stop step failed'));
      }
      clearInterval(renewTimer);
      await lease?.release().catch(() => undefined);
      await http.close();
      await backends.close();
    },
  };
}
