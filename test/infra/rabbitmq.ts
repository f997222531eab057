// RabbitMQ from Debian's rabbitmq-server package, as a private node per run.
//
// /usr/sbin/rabbitmq-server switches to the rabbitmq user and drops the
// environment, so the broker is started through /usr/lib/rabbitmq/bin directly,
// with every path (data, logs, config, cookie) pointed into the run directory.
// A per-run node name keeps concurrent runs (and a system broker) apart.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { run } from './base.js';
import { ensureDebPackages } from './install.js';
import { freePort, type ServerProcess, spawnServer } from './processes.js';
import { httpRequest, tcpProbe, waitForReady } from './readiness.js';

const RABBIT_BIN = '/usr/lib/rabbitmq/bin';

export interface RabbitmqOptions {
  /** Directory owned by this server (mnesia, logs, config, HOME). */
  dir: string;
  /**
   * Enables the bundled rabbitmq_prometheus plugin on a free port on 127.0.0.1 (metricsUrl), with
   * per-queue metrics on /metrics (prometheus.return_per_object_metrics). Off by default: the
   * plugin and its web listener add boot time.
   */
  prometheus?: boolean;
  /**
   * Address to listen on and to name in the URL (default 127.0.0.1), e.g. the real node's address
   * when the server runs inside the node's network namespace (startServersInNode), where pods reach it.
   */
  host?: string;
}

export interface RabbitmqServer {
  /** amqp://guest:guest@127.0.0.1:PORT */
  url: string;
  port: number;
  nodeName: string;
  /** http://127.0.0.1:PORT/metrics of the rabbitmq_prometheus plugin, when started with `prometheus: true`. */
  metricsUrl?: string;
  /** Stops the node and starts it again with the same name and data: durable/quorum queues survive. */
  restart(): Promise<void>;
  /** Runs rabbitmqctl against this node, e.g. ['list_queues', 'name', 'messages']. */
  ctl(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function ensureRabbitmq(): Promise<string> {
  await ensureDebPackages(['rabbitmq-server'], '~30 s');
  return path.join(RABBIT_BIN, 'rabbitmq-server');
}

export async function startRabbitmq(opts: RabbitmqOptions): Promise<RabbitmqServer> {
  const bin = await ensureRabbitmq();
  const [port, distPort, metricsPort] = await Promise.all([freePort(), freePort(), opts.prometheus ? freePort() : 0]);
  const host = opts.host ?? '127.0.0.1';
  const nodeName = `imcloud-${randomBytes(4).toString('hex')}@localhost`;
  const home = path.join(opts.dir, 'home');
  await fs.mkdir(home, { recursive: true });

  // rabbitmq.conf (new-style). RABBITMQ_CONFIG_FILE is given without its extension.
  await fs.writeFile(
    path.join(opts.dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${host}:${port}`,
      // guest may log in only over loopback, unless told otherwise (on another address: the real
      // node's, in its private namespace, where pods connect).
      ...(host === '127.0.0.1' ? [] : ['loopback_users = none']),
      // Log to stdout, which goes to our log file.
      'log.console = true',
      'log.console.level = info',
      'log.file = false',
      // Small test disks must not block publishers.
      'disk_free_limit.absolute = 10MB',
      ...(opts.prometheus
        ? [
            `prometheus.tcp.port = ${metricsPort}`,
            'prometheus.tcp.ip = 127.0.0.1',
            // Queue depth, rates and consumers per queue on /metrics (the aggregate is the default).
            'prometheus.return_per_object_metrics = true',
          ]
        : []),
      '',
    ].join('\n'),
  );
  // No management UI (not needed, costs boot time); the Prometheus endpoint only when asked for.
  await fs.writeFile(path.join(opts.dir, 'enabled_plugins'), opts.prometheus ? '[rabbitmq_prometheus].\n' : '[].\n');
  const metricsUrl = opts.prometheus ? `http://127.0.0.1:${metricsPort}/metrics` : undefined;

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home, // the Erlang cookie is created here
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: host,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(opts.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(opts.dir, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_PID_FILE: path.join(opts.dir, 'rabbitmq.pid'),
    RABBITMQ_CONFIG_FILE: path.join(opts.dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(opts.dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(opts.dir, 'enabled_plugins'),
    // Keep the system's /etc/rabbitmq/rabbitmq-env.conf out of this node.
    RABBITMQ_CONF_ENV_FILE: path.join(opts.dir, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const logFile = path.join(opts.dir, 'rabbitmq.log');

  let proc: ServerProcess;
  const start = async () => {
    // Foreground mode: the script traps SIGTERM and stops the node cleanly.
    proc = await spawnServer({ name: 'rabbitmq', command: bin, args: [], env, logFile });
    await waitForReady({
      server: proc,
      what: `AMQP handshake on ${host}:${port}`,
      // The AMQP listener opens last in the boot sequence, so a Connection.Start
      // frame (type 1) means the broker is fully up; cheaper than `rabbitmqctl wait`.
      probe: async () =>
        (await tcpProbe(port, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), (b) => (b.length ? b[0] === 1 : undefined), 2_000, host)) &&
        (!metricsUrl || (await httpRequest(metricsUrl, { timeoutMs: 10_000 })).status === 200),
      timeoutMs: 90_000,
      hint:
        'RabbitMQ needs Erlang and epmd on 127.0.0.1:4369; look for "epmd" or "eaddrinuse" above. ' +
        `Try \`${RABBIT_BIN}/rabbitmq-diagnostics -n ${nodeName} status\` with HOME=${home}.`,
    });
  };
  await start();

  return {
    url: `amqp://guest:guest@${host}:${port}`,
    port,
    nodeName,
    ...(metricsUrl ? { metricsUrl } : {}),
    async restart() {
      await proc.stop(30_000);
      await start();
    },
    ctl: (args) => run(path.join(RABBIT_BIN, 'rabbitmqctl'), ['-n', nodeName, ...args], { env, timeoutMs: 60_000 }),
    stop: () => proc.stop(30_000),
  };
}
