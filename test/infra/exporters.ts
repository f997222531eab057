// The servers' own Prometheus exporters, from Debian: prometheus-redis-exporter (1.45) beside
// Redis and prometheus-postgres-exporter (0.11) beside the PostgreSQL under FerretDB, each on a
// free port on 127.0.0.1 as its own process group. RabbitMQ needs none: its bundled
// rabbitmq_prometheus plugin is enabled in the node itself (rabbitmq.ts, `prometheus: true`).

import * as path from 'node:path';
import { ensureDebPackages } from './install.js';
import { freePort, spawnServer } from './processes.js';
import { httpRequest, waitForReady } from './readiness.js';

export interface ExporterBinaries {
  redis: string;
  postgres: string;
}

export interface Exporter {
  /** http://127.0.0.1:PORT/metrics */
  url: string;
  /** 127.0.0.1:PORT, what a scrape config names. */
  address: string;
  port: number;
  stop(): Promise<void>;
}

export async function ensureExporters(): Promise<ExporterBinaries> {
  await ensureDebPackages(['prometheus-redis-exporter', 'prometheus-postgres-exporter'], '~20 s');
  return { redis: '/usr/bin/prometheus-redis-exporter', postgres: '/usr/bin/prometheus-postgres-exporter' };
}

async function startExporter(opts: {
  name: string;
  command: string;
  args: (port: number) => string[];
  env?: NodeJS.ProcessEnv;
  dir: string;
  /** A metric the first page must hold, so that "ready" means it reached its server. */
  expect: string;
  hint: string;
}): Promise<Exporter> {
  const port = await freePort();
  const proc = await spawnServer({
    name: opts.name,
    command: opts.command,
    args: opts.args(port),
    env: opts.env,
    cwd: opts.dir,
    logFile: path.join(opts.dir, `${opts.name}.log`),
  });
  const url = `http://127.0.0.1:${port}/metrics`;
  await waitForReady({
    server: proc,
    what: `GET ${url} with ${opts.expect}`,
    probe: async () => {
      const res = await httpRequest(url, { timeoutMs: 10_000 });
      return res.status === 200 && res.body.includes(`\n${opts.expect}`);
    },
    timeoutMs: 30_000,
    hint: opts.hint,
  });
  return { url, address: `127.0.0.1:${port}`, port, stop: () => proc.stop() };
}

/** prometheus-redis-exporter for the Redis at `redisUrl` (redis://127.0.0.1:PORT). */
export async function startRedisExporter(opts: { dir: string; redisUrl: string }): Promise<Exporter> {
  const { redis } = await ensureExporters();
  return startExporter({
    name: 'redis-exporter',
    command: redis,
    args: (port) => [`-redis.addr=${opts.redisUrl}`, `-web.listen-address=127.0.0.1:${port}`, '-web.telemetry-path=/metrics'],
    dir: opts.dir,
    expect: 'redis_up 1',
    hint: 'Check that `prometheus-redis-exporter --version` works (Debian package prometheus-redis-exporter).',
  });
}

/** prometheus-postgres-exporter for the PostgreSQL at `postgresqlUrl` (postgres://postgres@127.0.0.1:PORT/postgres). */
export async function startPostgresExporter(opts: { dir: string; postgresqlUrl: string }): Promise<Exporter> {
  const { postgres } = await ensureExporters();
  const dsn = new URL(opts.postgresqlUrl);
  dsn.searchParams.set('sslmode', 'disable');
  return startExporter({
    name: 'postgres-exporter',
    command: postgres,
    args: (port) => [`--web.listen-address=127.0.0.1:${port}`, '--web.telemetry-path=/metrics', '--log.level=warn'],
    // Only what the exporter needs: no PG* variables of the caller's shell leak in.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_SOURCE_NAME: dsn.toString() },
    dir: opts.dir,
    expect: 'pg_up 1',
    hint: 'Check that `prometheus-postgres-exporter --version` works (Debian package prometheus-postgres-exporter).',
  });
}
