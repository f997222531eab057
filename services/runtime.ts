// Starts roles in one process: one config, one logger, one metrics registry, one HTTP server
// and one set of backends shared by every role the process runs. Each role is handed only its
// view of the config (roleConfig: its section and the shared ones it reads; ADR 0028).
import { randomBytes } from 'node:crypto';
import { Admin } from './admin/admin.js';
import { createBackends, createBlobStore } from './backends.js';
import { Consumer } from './consumer/consumer.js';
import { WebhookDeliverer } from './consumer/webhook-deliverer.js';
import { Dispatch } from './dispatch/dispatch.js';
import { FileService } from './file/file-service.js';
import { Gate } from './gate/gate.js';
import { Logic } from './logic/logic.js';
import type { Backends } from './ports/backends.js';
import type { WorkerIdLease } from './ports/worker-ids.js';
import type { Config } from './shared/config.js';
import { type HttpLimits, HttpServer } from './shared/http-server.js';
import { IdGenerator, MAX_WORKER_ID } from './shared/ids.js';
import { installLastResortHandlers } from './shared/last-resort.js';
import { createLogger, type Logger } from './shared/logger.js';
import { createMetrics, type Metrics } from './shared/metrics.js';
import { roleConfig } from './shared/role-config.js';
import { TlsFiles } from './shared/tls-files.js';
import { serveWebPage } from './web-page.js';

export const ROLES = ['gate', 'dispatch', 'logic', 'consumer', 'admin', 'file'] as const;
export type Role = (typeof ROLES)[number];

export interface Runtime {
  config: Config;
  log: Logger;
  metrics: Metrics;
  backends: Backends;
  http: HttpServer;
  httpPort: number;
  /** The ops listener's port (metrics, admin API); the public port when there is none. */
  opsPort: number;
  /** The certificate files served, when TLS is configured. */
  tls?: TlsFiles;
  gate?: Gate;
  logic?: Logic;
  admin?: Admin;
  file?: FileService;
  /** Where the file role keeps bytes (a folder, or MinIO's endpoint and bucket). */
  filesAt?: string;
  adminToken: string;
  stop(): Promise<void>;
}

const WORKER_LEASE_MS = 30_000;

export interface RuntimeOptions {
  /** Serve the web chat page. */
  web?: boolean;
  /** The process's name in logs (default: its roles). */
  name?: string;
  /** Install the process-wide last-resort error handlers (the executable does; tests do not). */
  lastResort?: boolean;
}

export async function startRuntime(config: Config, roles: readonly Role[], opts: RuntimeOptions = {}): Promise<Runtime> {
  const name = opts.name ?? (roles.length === ROLES.length ? 'all' : roles.join('+'));
  const log = createLogger(name, config.node.id, config.log.level);
  const metrics = createMetrics();
  if (opts.lastResort) installLastResortHandlers(log, (kind) => metrics.uncaught.inc({ kind }));
  const tls = config.tls.certFile ? new TlsFiles(config.tls.certFile, config.tls.keyFile, log) : undefined;
  tls?.watch(config.tls.reloadMs);
  const http = new HttpServer(log, metrics, name, httpLimits(roleConfig(config, 'http').http), tls);
  // Health and readiness answer from the start; /readyz stays false until the backends are
  // connected and the roles run (a backend that is down at start-up is retried with backoff).
  let backends: Backends | undefined;
  http.readyWhen(() => backends?.ready() ?? false);
  const httpPort = await http.listen(config.http.port, config.http.host);
  const opsPort = config.http.opsPort === undefined ? httpPort : await http.listenOps(config.http.opsPort, config.http.host);
  backends = await createBackends(config, log, metrics);
  const stops: Array<() => Promise<void>> = [];
  const adminToken = config.admin.token || randomBytes(18).toString('base64url');

  let lease: WorkerIdLease | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let logic: Logic | undefined;
  if (roles.includes('logic')) {
    lease = await backends.workerIds.lease(config.node.id, MAX_WORKER_ID, WORKER_LEASE_MS);
    const ids = new IdGenerator(lease.workerId);
    renewTimer = setInterval(() => void renewWorkerLease(), WORKER_LEASE_MS / 3);
    renewTimer.unref();
    // A lost lease (e.g. the presence store was wiped) is replaced by a fresh one, so that no
    // other process that takes the old id shares it with us for longer than one renewal period.
    const renewWorkerLease = async () => {
      try {
        if (await lease!.renew()) return;
        const old = lease!.workerId;
        lease = await backends!.workerIds.lease(config.node.id, MAX_WORKER_ID, WORKER_LEASE_MS);
        ids.reassign(lease.workerId);
        log.warn({ oldWorkerId: old, workerId: lease.workerId }, 'the id-generator worker lease was lost; leased a new worker id');
      } catch (err) {
        log.warn({ err: String(err) }, 'worker lease renewal failed; retrying');
      }
    };
    logic = new Logic(roleConfig(config, 'logic'), backends, ids, log, metrics);
    await logic.start();
    stops.push(() => logic!.stop());
    log.info({ workerId: lease.workerId }, 'logic consuming upstream');
  }
  if (roles.includes('consumer')) {
    const consumer = new Consumer(roleConfig(config, 'consumer'), backends, log, metrics);
    await consumer.start();
    stops.push(() => consumer.stop());
    const webhooks = new WebhookDeliverer(roleConfig(config, 'consumer'), backends, log, metrics);
    await webhooks.start();
    stops.push(() => webhooks.stop());
  }
  let admin: Admin | undefined;
  if (roles.includes('admin')) {
    admin = new Admin(roleConfig(config, 'admin'), backends, metrics, adminToken);
    admin.register(http);
    await admin.start();
    const started = admin;
    stops.push(() => started.stop());
    if (!config.admin.token) log.warn('admin.token is not set: generated a platform admin token for this process (printed at start)');
  }
  let file: FileService | undefined;
  let filesAt: string | undefined;
  if (roles.includes('file')) {
    const blobs = createBlobStore(config);
    filesAt = blobs.where;
    const { files, apps, groups, bus } = backends;
    file = new FileService(roleConfig(config, 'file'), { files, blobs: blobs.store, apps, groups, bus }, metrics, log);
    file.register(http);
    const started = file;
    http.readyWhen(() => started.ready);
    await file.start();
    stops.push(() => started.stop());
  }
  if (roles.includes('dispatch')) new Dispatch(roleConfig(config, 'dispatch'), backends, metrics).register(http);
  if (opts.web) serveWebPage(http, roleConfig(config, 'admin'), backends, admin);

  let gate: Gate | undefined;
  if (roles.includes('gate')) {
    gate = new Gate(roleConfig(config, 'gate'), backends, http, log, metrics, tls);
    await gate.start({ host: config.http.host, httpPort });
    // The gate drains first so its clients move before the rest stops.
    stops.unshift(() => gate!.stop());
  }
  await http.serve();
  log.info({ roles, port: httpPort, backends: backends.kind }, 'imcloud started');

  const ready: Backends = backends;
  return {
    config,
    log,
    metrics,
    backends: ready,
    http,
    httpPort,
    opsPort,
    tls,
    gate,
    logic,
    admin,
    file,
    filesAt,
    adminToken,
    async stop() {
      for (const stop of stops) {
        await stop().catch((err: unknown) => log.warn({ err: String(err) }, 'stop step failed'));
      }
      clearInterval(renewTimer);
      tls?.stop();
      await lease?.release().catch(() => undefined);
      await http.close();
      await backends!.close();
    },
  };
}

function httpLimits(http: Config['http']): HttpLimits {
  const { maxConnections, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, bodyLimitBytes } = http;
  return { maxConnections, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, bodyLimitBytes };
}
