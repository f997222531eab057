// Entry point of the test infrastructure: start real servers for a test run
// (vitest globalSetup, integration suites, `cli.ts up`) and tear them down.
//
//   const servers = await startServers(['redis', 'mongodb']);
//   try { … servers.redis!.url … } finally { await servers.stop(); }
//
// With 'prometheus' among the names, every other server started gets its exporter (Redis:
// prometheus-redis-exporter, RabbitMQ: its rabbitmq_prometheus plugin, mongodb: a
// prometheus-postgres-exporter on FerretDB's PostgreSQL) and Prometheus scrapes them as the jobs
// redis, rabbitmq and postgresql; servers.prometheus.setTargets() adds more (role processes).

import * as path from 'node:path';
import { log, seconds } from './base.js';
import { type Exporter, ensureExporters, startPostgresExporter, startRedisExporter } from './exporters.js';
import { ensureFerretdb, type FerretdbServer, startFerretdb } from './ferretdb.js';
import { ensureHelm } from './helm.js';
import { ensureKubernetes, type KubernetesCluster, startKubernetes } from './kubernetes.js';
import { ensureMinio, type MinioServer, startMinio } from './minio.js';
import { ensurePostgresql } from './postgresql.js';
import { createRunDir, removeRunDir, watchRunDir } from './processes.js';
import { ensurePrometheus, type PrometheusServer, type ScrapeJob, startPrometheus } from './prometheus.js';
import { ensureRabbitmq, type RabbitmqServer, startRabbitmq } from './rabbitmq.js';
import { ensureRedis, type RedisServer, startRedis } from './redis.js';

// The real node (kubelet + containerd + runc in a private namespace) is started on its own, not
// through startServers: it needs root, takes its own network namespace and must not start
// wherever "all servers" are asked for (see README.md, "A real node").
export type { OciImageSpec } from '../../scripts/oci-image.js';
export { packOciImage } from '../../scripts/oci-image.js';
export type { PrometheusClient, PrometheusSample, PrometheusTarget } from './prometheus.js';
export { connectPrometheus, ensurePrometheus } from './prometheus.js';
export type { RealNode, RealNodeBinaries, RealNodeOptions } from './real-node.js';
export { buildGoProgram, ensureRealNode, NODE_IP, nodeLeftovers, packBinaryImage, startNode } from './real-node.js';
export type { Exporter, FerretdbServer, KubernetesCluster, MinioServer, PrometheusServer, RabbitmqServer, RedisServer, ScrapeJob };
export { ensureHelm };

export const SERVER_NAMES = ['redis', 'rabbitmq', 'mongodb', 'minio', 'kubernetes', 'prometheus'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];
/** Everything `ensureBuilt` can prepare: the servers plus client tools. */
export const BUILD_NAMES = [...SERVER_NAMES, 'helm'] as const;
export type BuildName = (typeof BUILD_NAMES)[number];

export interface StartOptions {
  /**
   * Address redis, rabbitmq, mongodb and minio listen on and their URLs name (default 127.0.0.1):
   * the real node's address when they run inside its network namespace (startServersInNode).
   */
  host?: string;
  redis?: {
    /** Append-only persistence, so that data survives `redis.restart()`. */
    appendonly?: boolean;
  };
  kubernetes?: {
    /** CRD manifests applied before the controllers start (see KubernetesOptions.crds). */
    crds?: string[];
  };
  prometheus?: {
    /** More scrape jobs besides the exporters' (setTargets() adds jobs later). */
    scrape?: ScrapeJob[];
    /** Default 1000 ms (scrape and rule evaluation). */
    scrapeIntervalMs?: number;
    ruleFiles?: string[];
  };
}

/** The exporters' scrape jobs, by job name (started with 'prometheus'). */
export type ExporterJob = 'redis' | 'rabbitmq' | 'postgresql';

export interface Servers {
  /** Per-run directory holding every server's data and log (removed by stop()). */
  runDir: string;
  redis?: RedisServer;
  rabbitmq?: RabbitmqServer;
  mongodb?: FerretdbServer;
  minio?: MinioServer;
  kubernetes?: KubernetesCluster;
  prometheus?: PrometheusServer;
  /** The exporters' metrics URLs (http://127.0.0.1:PORT/metrics), by job; only with 'prometheus'. */
  exporters?: Partial<Record<ExporterJob, string>>;
  /** Stops every server and removes the run directory. Safe to call twice. */
  stop(): Promise<void>;
}

const ENSURE: Record<BuildName, () => Promise<unknown>> = {
  redis: ensureRedis,
  rabbitmq: ensureRabbitmq,
  mongodb: () => Promise.all([ensureFerretdb(), ensurePostgresql()]),
  minio: ensureMinio,
  kubernetes: ensureKubernetes,
  helm: ensureHelm,
  prometheus: () => Promise.all([ensurePrometheus(), ensureExporters()]),
};

function checkNames<T extends string>(names: readonly string[], allowed: readonly T[]): T[] {
  const unknown = names.filter((n) => !allowed.includes(n as T));
  if (unknown.length) throw new Error(`infra: unknown name(s) ${unknown.join(', ')}; expected some of: ${allowed.join(', ')}`);
  return [...new Set(names as T[])];
}

/**
 * Installs and builds what the given servers need, without starting anything.
 * Debian installs run alongside the (machine-wide serialised) Go builds.
 */
export async function ensureBuilt(names: readonly BuildName[] = BUILD_NAMES): Promise<void> {
  const started = Date.now();
  await Promise.all(checkNames(names, BUILD_NAMES).map((name) => ENSURE[name]()));
  log(`ensure ${names.join(' ')}: ready in ${seconds(Date.now() - started)}`);
}

/**
 * Starts the given servers in parallel on 127.0.0.1 with free ports and a fresh
 * run directory (building or installing them first when needed). If any fails,
 * the others are stopped and the error carries the failing server's log tail.
 */
export async function startServers(names: readonly ServerName[], opts: StartOptions = {}): Promise<Servers> {
  const wanted = checkNames(names, SERVER_NAMES);
  const started = Date.now();
  const runDir = await createRunDir();
  watchRunDir(runDir, true);
  const dir = (name: string) => path.join(runDir, name);

  const monitoring = wanted.includes('prometheus');
  const servers: Omit<Servers, 'stop' | 'runDir'> = {};
  const exporters: Partial<Record<ExporterJob, Exporter | { url: string }>> = {};
  const stoppers: Array<() => Promise<void>> = [];
  /** Starts an exporter beside its server; it stops before the server (PostgreSQL waits for its clients). */
  const withExporter = async <S extends { stop(): Promise<void> }>(
    server: S,
    job: ExporterJob,
    start: () => Promise<Exporter>,
  ): Promise<{ stop(): Promise<void> }> => {
    if (!monitoring) return server;
    let exporter: Exporter;
    try {
      exporter = await start();
    } catch (err) {
      await server.stop();
      throw err;
    }
    exporters[job] = exporter;
    return {
      stop: async () => {
        await exporter.stop();
        await server.stop();
      },
    };
  };
  const starters: Record<Exclude<ServerName, 'prometheus'>, () => Promise<{ stop(): Promise<void> }>> = {
    redis: async () => {
      const redis = (servers.redis = await startRedis({ dir: dir('redis'), appendonly: opts.redis?.appendonly, host: opts.host }));
      return withExporter(redis, 'redis', () => startRedisExporter({ dir: dir('redis-exporter'), redisUrl: redis.url }));
    },
    rabbitmq: async () => {
      const rabbitmq = (servers.rabbitmq = await startRabbitmq({ dir: dir('rabbitmq'), prometheus: monitoring, host: opts.host }));
      if (rabbitmq.metricsUrl) exporters.rabbitmq = { url: rabbitmq.metricsUrl };
      return rabbitmq;
    },
    mongodb: async () => {
      const mongodb = (servers.mongodb = await startFerretdb({ dir: dir('mongodb'), host: opts.host }));
      return withExporter(mongodb, 'postgresql', () =>
        startPostgresExporter({ dir: dir('postgres-exporter'), postgresqlUrl: mongodb.postgresqlUrl }),
      );
    },
    minio: async () => (servers.minio = await startMinio({ dir: dir('minio'), host: opts.host })),
    kubernetes: async () => (servers.kubernetes = await startKubernetes({ dir: dir('kubernetes'), crds: opts.kubernetes?.crds })),
  };

  const outcomes = await Promise.allSettled(
    wanted
      .filter((name) => name !== 'prometheus')
      .map(async (name) => {
        const server = await starters[name as Exclude<ServerName, 'prometheus'>]();
        stoppers.push(() => server.stop());
      }),
  );
  // Prometheus last, once the exporters it scrapes are known.
  let prometheusFailure: PromiseRejectedResult | undefined;
  if (monitoring && !outcomes.some((o) => o.status === 'rejected')) {
    const scrape: ScrapeJob[] = Object.entries(exporters).map(([job, e]) => ({ job, targets: [new URL(e.url).host] }));
    try {
      const prometheus = (servers.prometheus = await startPrometheus({
        dir: dir('prometheus'),
        scrape: [...scrape, ...(opts.prometheus?.scrape ?? [])],
        scrapeIntervalMs: opts.prometheus?.scrapeIntervalMs,
        ruleFiles: opts.prometheus?.ruleFiles,
      }));
      stoppers.push(() => prometheus.stop());
    } catch (reason) {
      prometheusFailure = { status: 'rejected', reason };
    }
  }
  const stopAll = () => Promise.all(stoppers.map((stop) => stop().catch(() => undefined)));
  if (monitoring) servers.exporters = Object.fromEntries(Object.entries(exporters).map(([job, e]) => [job, e.url]));

  const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (prometheusFailure) failures.push(prometheusFailure);
  if (failures.length) {
    await stopAll();
    // Keep the run directory: the error messages point at the logs inside it.
    watchRunDir(runDir, false);
    const messages = failures.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason)));
    throw new Error(messages.join('\n\n'));
  }
  log(`started ${wanted.join(', ')} in ${seconds(Date.now() - started)} (run dir ${runDir})`);

  let stopping: Promise<void> | undefined;
  return {
    ...servers,
    runDir,
    stop() {
      stopping ??= (async () => {
        await stopAll();
        await removeRunDir(runDir);
        watchRunDir(runDir, false);
      })();
      return stopping;
    },
  };
}

/**
 * The servers' addresses as environment variables (printed by `cli.ts up`, set
 * by the vitest global setup), so that tests and services can be configured
 * without importing this library.
 */
export function serverEnv(servers: Omit<Servers, 'stop'>): Record<string, string> {
  const env: Record<string, string> = {};
  if (servers.redis) env.IMCLOUD_REDIS_URL = servers.redis.url;
  if (servers.rabbitmq) env.IMCLOUD_RABBITMQ_URL = servers.rabbitmq.url;
  if (servers.mongodb) env.IMCLOUD_MONGODB_URL = servers.mongodb.url;
  if (servers.minio) {
    env.IMCLOUD_MINIO_END_POINT = servers.minio.endPoint;
    env.IMCLOUD_MINIO_PORT = String(servers.minio.port);
    env.IMCLOUD_MINIO_ACCESS_KEY = servers.minio.accessKey;
    env.IMCLOUD_MINIO_SECRET_KEY = servers.minio.secretKey;
    env.IMCLOUD_MINIO_USE_SSL = 'false';
  }
  if (servers.kubernetes) {
    env.KUBECONFIG = servers.kubernetes.kubeconfig;
    env.IMCLOUD_KUBECONFIG = servers.kubernetes.kubeconfig;
    env.IMCLOUD_KUBECTL = servers.kubernetes.kubectl;
  }
  if (servers.prometheus) {
    env.IMCLOUD_PROMETHEUS_URL = servers.prometheus.url;
    // With the URL, enough for connectPrometheus() in another process (setTargets, queries).
    env.IMCLOUD_PROMETHEUS_CONFIG = servers.prometheus.configFile;
  }
  const exporterEnv: Record<ExporterJob, string> = {
    redis: 'IMCLOUD_REDIS_EXPORTER_URL',
    rabbitmq: 'IMCLOUD_RABBITMQ_EXPORTER_URL',
    postgresql: 'IMCLOUD_POSTGRESQL_EXPORTER_URL',
  };
  for (const [job, url] of Object.entries(servers.exporters ?? {})) env[exporterEnv[job as ExporterJob]] = url;
  return env;
}
