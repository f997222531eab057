// Prometheus from Debian's prometheus package (2.42, with promtool), one private server per run:
// a free port on 127.0.0.1, its own config and TSDB under the run directory, a short scrape and
// evaluation interval, and --web.enable-lifecycle so that a test can change what it scrapes
// (setTargets rewrites the config file and POSTs /-/reload).
//
// The config is written as JSON (YAML is a superset), so that another process that knows only
// the URL and the config file (IMCLOUD_PROMETHEUS_URL, IMCLOUD_PROMETHEUS_CONFIG: a vitest worker)
// can read it back and change it with connectPrometheus().

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sleep } from './base.js';
import { ensureDebPackages } from './install.js';
import { freePort, spawnServer } from './processes.js';
import { httpRequest, waitForReady } from './readiness.js';

export interface ScrapeJob {
  /** The job label of every series scraped from these targets. */
  job: string;
  /** host:port, e.g. 127.0.0.1:9121. An empty list removes the job (setTargets). */
  targets: string[];
  /** Extra labels on every series of these targets (an `instance` label replaces host:port). */
  labels?: Record<string, string>;
  /** Labels of one target only (e.g. the `pod` a role process stands for), by host:port. */
  targetLabels?: Record<string, Record<string, string>>;
  /** Default /metrics. */
  metricsPath?: string;
}

export interface PrometheusTarget {
  job: string;
  instance: string;
  /** up, down or unknown (not scraped yet). */
  health: string;
  lastError: string;
  scrapeUrl: string;
  lastScrape: string;
}

export interface PrometheusSample {
  metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it] */
  value: [number, string];
}

export interface PrometheusClient {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The config file (JSON) that setTargets rewrites. */
  configFile: string;
  /** An instant query at the current time; throws with Prometheus's message on a bad expression. */
  query(expr: string): Promise<PrometheusSample[]>;
  /** Any GET of the HTTP API (e.g. '/api/v1/rules', { type: 'alert' }): its `data`. */
  api<T = unknown>(apiPath: string, params?: Record<string, string>): Promise<T>;
  /** The active targets, with their health and last scrape error. */
  targets(): Promise<PrometheusTarget[]>;
  /** The scrape jobs in the config now. */
  jobs(): Promise<ScrapeJob[]>;
  /**
   * Sets these jobs (a job of the same name is replaced, the others are kept, a job with no
   * targets is removed), reloads Prometheus and resolves once its active targets are exactly the
   * configured ones (a few seconds: discovery's throttle). A refused config is put back and throws.
   */
  setTargets(jobs: ScrapeJob[]): Promise<void>;
  /** POST /-/reload (after rule files changed, say); throws with Prometheus's message if refused. */
  reload(): Promise<void>;
  /**
   * Resolves once every configured target has been scraped `n` times (default 1) after this
   * call, whether the scrape succeeded or not (see targets() for health).
   */
  waitForScrapes(n?: number, timeoutMs?: number): Promise<void>;
}

export interface PrometheusServer extends PrometheusClient {
  port: number;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Directory owned by this server (config, TSDB, log). */
  dir: string;
  scrape: ScrapeJob[];
  /** Scrape and rule evaluation interval; default 1000 ms. */
  scrapeIntervalMs?: number;
  /** Rule files (absolute paths) loaded at start and on every reload. */
  ruleFiles?: string[];
}

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

export async function ensurePrometheus(): Promise<PrometheusBinaries> {
  await ensureDebPackages(['prometheus'], '~30 s');
  return { prometheus: '/usr/bin/prometheus', promtool: '/usr/bin/promtool' };
}

interface PromConfig {
  global: { scrape_interval: string; scrape_timeout: string; evaluation_interval: string };
  rule_files: string[];
  scrape_configs: Array<{
    job_name: string;
    metrics_path: string;
    static_configs: Array<{ targets: string[]; labels?: Record<string, string> }>;
  }>;
}

function scrapeConfig(job: ScrapeJob): PromConfig['scrape_configs'][number] {
  return {
    job_name: job.job,
    metrics_path: job.metricsPath ?? '/metrics',
    static_configs: job.targetLabels
      ? job.targets.map((t) => ({ targets: [t], labels: { ...job.labels, ...job.targetLabels?.[t] } }))
      : [{ targets: job.targets, ...(job.labels && Object.keys(job.labels).length ? { labels: job.labels } : {}) }],
  };
}

function jobOf(config: PromConfig['scrape_configs'][number]): ScrapeJob {
  const group = config.static_configs[0] ?? { targets: [] };
  return {
    job: config.job_name,
    targets: config.static_configs.flatMap((g) => g.targets),
    ...(group.labels ? { labels: group.labels } : {}),
    metricsPath: config.metrics_path,
  };
}

async function writeConfig(file: string, config: PromConfig): Promise<void> {
  // Written whole and renamed: a reload never reads half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`);
  await fs.rename(tmp, file);
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const { prometheus } = await ensurePrometheus();
  const port = await freePort();
  const interval = `${opts.scrapeIntervalMs ?? 1_000}ms`;
  const configFile = path.join(opts.dir, 'prometheus.json');
  await fs.mkdir(path.join(opts.dir, 'data'), { recursive: true });
  await writeConfig(configFile, {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: opts.scrape.filter((j) => j.targets.length).map(scrapeConfig),
  });
  const proc = await spawnServer({
    name: 'prometheus',
    command: prometheus,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(opts.dir, 'data')}`,
      '--storage.tsdb.retention.time=1d',
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=http://127.0.0.1:${port}/`,
      '--web.enable-lifecycle',
      '--log.level=info',
    ],
    cwd: opts.dir,
    logFile: path.join(opts.dir, 'prometheus.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForReady({
    server: proc,
    what: `GET ${url}/-/ready`,
    probe: async () => (await httpRequest(`${url}/-/ready`)).status === 200,
    timeoutMs: 60_000,
    hint: 'Check that `prometheus --version` works (Debian package prometheus) and that the config above is valid: `promtool check config FILE`.',
  });
  const client = connectPrometheus({ url, configFile });
  return { ...client, port, stop: () => proc.stop() };
}

/**
 * A client of a running Prometheus started by startPrometheus(), possibly in another process
 * (a vitest worker: connectPrometheus({ url: process.env.IMCLOUD_PROMETHEUS_URL!, configFile:
 * process.env.IMCLOUD_PROMETHEUS_CONFIG! })).
 */
export function connectPrometheus(where: { url: string; configFile: string }): PrometheusClient {
  const { url, configFile } = where;
  const readConfig = async () => JSON.parse(await fs.readFile(configFile, 'utf8')) as PromConfig;

  const api = async <T>(apiPath: string, params: Record<string, string> = {}): Promise<T> => {
    const query = new URLSearchParams(params).toString();
    const res = await httpRequest(`${url}${apiPath}${query ? `?${query}` : ''}`, { timeoutMs: 30_000 });
    let body: { status?: string; data?: T; error?: string; errorType?: string };
    try {
      body = JSON.parse(res.body);
    } catch {
      throw new Error(`prometheus: GET ${apiPath}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    }
    if (body.status !== 'success')
      throw new Error(`prometheus: GET ${apiPath} ${query}: ${body.errorType ?? res.status}: ${body.error ?? res.body}`);
    return body.data as T;
  };

  const query = async (expr: string): Promise<PrometheusSample[]> => {
    const data = await api<{ resultType: string; result: unknown }>('/api/v1/query', { query: expr });
    if (data.resultType === 'vector') return data.result as PrometheusSample[];
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      const [t, v] = data.result as [number, string];
      return [{ metric: {}, value: [t, v] }];
    }
    throw new Error(`prometheus: query ${expr} returned a ${data.resultType}; give an instant vector`);
  };

  const targets = async (): Promise<PrometheusTarget[]> => {
    const data = await api<{
      activeTargets: Array<{
        labels: Record<string, string>;
        scrapePool: string;
        scrapeUrl: string;
        health: string;
        lastError: string;
        lastScrape: string;
      }>;
    }>('/api/v1/targets', { state: 'active' });
    return data.activeTargets.map((t) => ({
      job: t.labels.job ?? t.scrapePool,
      instance: t.labels.instance ?? '',
      health: t.health,
      lastError: t.lastError,
      scrapeUrl: t.scrapeUrl,
      lastScrape: t.lastScrape,
    }));
  };

  /** job/instance of every target in the config file. */
  const configured = async (): Promise<string[]> =>
    (await readConfig()).scrape_configs.flatMap((c) =>
      c.static_configs.flatMap((g) => g.targets.map((t) => `${c.job_name}/${g.labels?.instance ?? t}`)),
    );

  const reload = async () => {
    const res = await httpRequest(`${url}/-/reload`, { method: 'POST', timeoutMs: 30_000 });
    if (res.status !== 200) throw new Error(`prometheus: reload refused (HTTP ${res.status}): ${res.body.trim()}`);
  };

  const intervalMs = async () => {
    const text = (await readConfig()).global.scrape_interval;
    return Number(text.replace(/ms$/, '')) || 1_000;
  };

  return {
    url,
    configFile,
    query,
    api,
    targets,
    jobs: async () => (await readConfig()).scrape_configs.map(jobOf),

    async setTargets(jobs) {
      const previous = await readConfig();
      const config: PromConfig = { ...previous, scrape_configs: [...previous.scrape_configs] };
      for (const job of jobs) {
        config.scrape_configs = config.scrape_configs.filter((c) => c.job_name !== job.job);
        if (job.targets.length) config.scrape_configs.push(scrapeConfig(job));
      }
      await writeConfig(configFile, config);
      try {
        await reload();
      } catch (err) {
        // Refused (e.g. a bad label name): Prometheus runs on the old config, and so does the file.
        await writeConfig(configFile, previous);
        throw err;
      }
      // Targets reach the scrape manager a few seconds after a reload (discovery's throttle).
      const wanted = new Set(await configured());
      const deadline = Date.now() + 30_000;
      for (;;) {
        const active = new Set((await targets()).map((t) => `${t.job}/${t.instance}`));
        const missing = [...wanted].filter((w) => !active.has(w));
        const extra = [...active].filter((a) => !wanted.has(a));
        if (missing.length === 0 && extra.length === 0) return;
        if (Date.now() > deadline) {
          throw new Error(
            `prometheus: 30 s after reload, targets not listed: ${missing.join(', ') || '-'}; still listed: ${extra.join(', ') || '-'}`,
          );
        }
        await sleep(200);
      }
    },

    reload,

    async waitForScrapes(n = 1, timeoutMs) {
      const since = Date.now();
      const every = await intervalMs();
      const deadline = since + (timeoutMs ?? 15_000 + n * every * 3);
      for (;;) {
        await sleep(Math.max(100, every / 4));
        const wanted = await configured();
        // `up` gets one sample per scrape, stamped with the scrape's start.
        const counts = new Map(
          (await query(`count_over_time(up[${Date.now() - since}ms])`)).map((s) => [
            `${s.metric.job}/${s.metric.instance}`,
            Number(s.value[1]),
          ]),
        );
        const short = wanted.filter((w) => (counts.get(w) ?? 0) < n);
        if (short.length === 0) return;
        if (Date.now() > deadline) {
          const health = new Map((await targets()).map((t) => [`${t.job}/${t.instance}`, t]));
          const detail = short.map(
            (w) => `${w} (${counts.get(w) ?? 0} scrapes, ${health.get(w)?.health ?? 'not listed'} ${health.get(w)?.lastError ?? ''})`,
          );
          throw new Error(`prometheus: fewer than ${n} scrapes within ${Date.now() - since} ms of: ${detail.join('; ')}`);
        }
      }
    },
  };
}
