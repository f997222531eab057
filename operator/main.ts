// `imcloud operator`: the Kubernetes operator process. Serves /healthz, /readyz and /metrics on
// http.port, campaigns for the leader Lease (operator.leaderElection), runs the controller while
// it leads, and on SIGTERM/SIGINT stops taking work, finishes in-flight reconciles, hands the
// Lease back and exits 0.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { errorCatalog } from '../protocol/errors.js';
import type { Config } from '../services/shared/config.js';
import { installLastResortHandlers } from '../services/shared/last-resort.js';
import { Controller } from './controller.js';
import { EventRecorder } from './events.js';
import { KubeClient } from './kube/client.js';
import { LeaderElector } from './leader.js';
import { LiveLoadSource, type LoadSource } from './load.js';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.js';

export interface OperatorHandle {
  port: number;
  controller: () => Controller | undefined;
  isLeader: () => boolean;
  metrics: OperatorMetrics;
  /** Graceful stop: controller drained, Lease released, server closed. */
  stop(): Promise<void>;
}

export interface OperatorOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  load?: LoadSource;
  /** Called when leadership is lost (default: exit 1 so that Kubernetes restarts the pod). */
  onLostLeadership?: () => void;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

export async function startOperator(o: OperatorOptions): Promise<OperatorHandle> {
  const { config, log } = o;
  const oc = config.operator;
  const kube = await KubeClient.load(oc.kubeconfig || undefined);
  const metrics = createOperatorMetrics();
  const identity = config.node.id;
  const events = new EventRecorder(kube, 'imcloud-operator', identity, log);
  const load = o.load ?? new LiveLoadSource();
  let controller: Controller | undefined;
  let leading = false;
  let stopping = false;

  // A standby is ready (it is waiting for the Lease); a leader once its caches are synced.
  const server = healthServer(metrics, () => ({ ready: !stopping && (!leading || Boolean(controller?.synced)), leader: leading }));
  const port = await listen(server, config.http.port, config.http.host);
  log.info(
    { port, identity, namespace: oc.namespace || '(all)', leaderElection: oc.leaderElection, server: kube.server.origin },
    'operator listening',
  );

  const startController = async () => {
    leading = true;
    metrics.leader.set(1);
    controller = new Controller({ kube, config: oc, log, metrics, events, load });
    await controller.start();
  };

  let elector: LeaderElector | undefined;
  if (oc.leaderElection) {
    elector = campaign(kube, o, metrics, startController);
    elector.start();
  } else {
    await startController();
  }

  return {
    port,
    controller: () => controller,
    isLeader: () => leading,
    metrics,
    async stop() {
      if (stopping) return;
      stopping = true;
      log.info('operator stopping: finishing in-flight reconciles');
      await controller?.stop();
      await elector?.release();
      metrics.leader.set(0);
      await load.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      kube.close();
      log.info('operator stopped');
    },
  };
}

/** /healthz, /readyz (200 while `readiness()` says ready, else 503) and /metrics. */
function healthServer(metrics: OperatorMetrics, readiness: () => { ready: boolean; leader: boolean }): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/healthz') return json(200, { ok: true });
    if (path === '/readyz') {
      const r = readiness();
      return json(r.ready ? 200 : 503, r);
    }
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
      return;
    }
    json(404, { error: { code: 'IM_ROUTE_NOT_FOUND', message: errorCatalog.IM_ROUTE_NOT_FOUND.message } });
  });
  // Only the kubelet and Prometheus call it; a slow or broken client still gets cut off.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}

/**
 * The leader election for the Lease (not started): `lead` runs once this process holds it; a
 * process that loses it exits (or calls onLostLeadership) rather than stop half-done work.
 */
function campaign(kube: KubeClient, o: OperatorOptions, metrics: OperatorMetrics, lead: () => Promise<void>): LeaderElector {
  const { config, log } = o;
  const oc = config.operator;
  const identity = config.node.id;
  const leaseNamespace = oc.leaseNamespace || (o.env ?? process.env).POD_NAMESPACE || oc.namespace || 'default';
  return new LeaderElector(kube, {
    namespace: leaseNamespace,
    name: oc.leaseName,
    identity,
    leaseDurationMs: oc.leaseDurationMs,
    renewDeadlineMs: oc.renewDeadlineMs,
    retryPeriodMs: oc.retryPeriodMs,
    log,
    onStartedLeading: () => {
      log.info({ lease: `${leaseNamespace}/${oc.leaseName}`, identity }, 'became the leader; starting the controller');
      lead().catch((err: unknown) => {
        log.fatal({ err: String(err) }, 'controller failed to start');
        process.exit(1);
      });
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      log.fatal({ identity }, 'lost the leader Lease; exiting so that exactly one operator acts');
      if (o.onLostLeadership) o.onLostLeadership();
      else process.exit(1);
    },
    onNewLeader: (leader) => {
      if (leader !== identity) log.info({ leader }, 'another operator leads; standing by');
    },
  });
}

/** The `imcloud operator` command: runs until SIGTERM/SIGINT. */
export async function runOperatorCommand(config: Config, log: Logger): Promise<void> {
  const handle = await startOperator({ config, log });
  installLastResortHandlers(log, (kind) => handle.metrics.uncaught.inc({ kind }));
  let done = false;
  const shutdown = (signal: string) => {
    if (done) return;
    done = true;
    // Armed before anything is logged: a log line that cannot be written (stdout gone) must not stop the stop.
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    try {
      log.info({ signal }, 'shutting down');
    } catch {
      // stdout is gone; stop all the same
    }
    handle.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
