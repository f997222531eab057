// Shared pieces of the benchmarks: the platform as a separate process, free ports, a mergeable
// latency histogram, machine facts, tables, result files and a clock shared by all processes.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

// ── clock ──────────────────────────────────────────────────────────────────────────────────
// performance.now() runs on the monotonic clock (CLOCK_MONOTONIC, shared by every process on
// the machine) minus a per-process origin; adding the origin back gives a timestamp that two
// processes can compare. Microseconds, as a double.
const hrOffsetUs = Number(process.hrtime.bigint()) / 1000 - performance.now() * 1000;
export function nowUs(): number {
  return performance.now() * 1000 + hrOffsetUs;
}

// ── flags ──────────────────────────────────────────────────────────────────────────────────
/** `--name value` / `--name=value` / `--flag`; numbers parsed. */
export function parseFlags(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) out[a.slice(2)] = argv[++i]!;
    else out[a.slice(2)] = true;
  }
  return out;
}

export function num(flags: Record<string, string | boolean>, name: string, dflt: number): number {
  const v = flags[name];
  if (v === undefined || v === true) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${String(v)}`);
  return n;
}

export function progress(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${t}] ${msg}\n`);
}

/** The client load both chat benchmarks take from their flags; defaults differ per benchmark. */
export function chatLoadFlags(flags: Record<string, string | boolean>, defaults: { durationSec: number; window: number; phases: string }) {
  return {
    pairs: num(flags, 'pairs', 200),
    workers: num(flags, 'workers', 2),
    durationMs: num(flags, 'duration', defaults.durationSec) * 1000,
    warmupMs: num(flags, 'warmup', 3) * 1000,
    runs: num(flags, 'runs', 3),
    window: num(flags, 'window', defaults.window),
    bodyBytes: num(flags, 'body', 64),
    ackIntervalMs: num(flags, 'ack-interval', 100),
    drainMs: num(flags, 'drain', 30) * 1000,
    phases: String(flags.phases ?? defaults.phases)
      .split(',')
      .filter(Boolean) as Array<'fixed' | 'saturation'>,
  };
}

/** Role env under a load generator: per-connection and per-app rate limits are for abusive clients, and the load would trip them. */
export const LOAD_GENERATOR_ENV = {
  IMCLOUD_GATE_RATE_LIMIT_PER_SEC: '1000000',
  IMCLOUD_GATE_RATE_LIMIT_BURST: '1000000',
  IMCLOUD_LOGIC_APP_RATE_LIMIT_PER_SEC: '100000000',
  IMCLOUD_GATE_APP_FRAMES_PER_SEC: '100000000',
};

// ── histogram ──────────────────────────────────────────────────────────────────────────────
const GROWTH = 1.01; // 1% bucket resolution
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 2100; // 1.01^2100 µs ≈ 1.2e9 µs: 20 minutes

/** Log-bucketed latency histogram in microseconds: 1% resolution, mergeable across processes. */
export class Histogram {
  counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;
  min = Infinity;

  record(us: number): void {
    const v = Math.max(us, 1);
    let i = Math.ceil(Math.log(v) / LOG_GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]! += 1;
    this.count++;
    this.sum += us;
    if (us > this.max) this.max = us;
    if (us < this.min) this.min = us;
  }

  /** The value at quantile q (0..1), in µs: the upper bound of its bucket, capped at the max. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(GROWTH ** i, this.max);
    }
    return this.max;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : NaN;
  }

  toJSON(): SerializedHistogram {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sum: this.sum, max: this.max, min: this.count ? this.min : 0 };
  }

  merge(h: SerializedHistogram | Histogram): void {
    const s = h instanceof Histogram ? h.toJSON() : h;
    for (const [i, c] of s.buckets) this.counts[i]! += c;
    this.count += s.count;
    this.sum += s.sum;
    if (s.max > this.max) this.max = s.max;
    if (s.count && s.min < this.min) this.min = s.min;
  }

  summaryMs(): { count: number; p50: number; p90: number; p99: number; p999: number; max: number; mean: number } {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      p50: ms(this.quantile(0.5)),
      p90: ms(this.quantile(0.9)),
      p99: ms(this.quantile(0.99)),
      p999: ms(this.quantile(0.999)),
      max: ms(this.max),
      mean: ms(this.mean),
    };
  }
}

export interface SerializedHistogram {
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
  max: number;
  min: number;
}

// ── statistics ─────────────────────────────────────────────────────────────────────────────
export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// ── machine facts and results ──────────────────────────────────────────────────────────────
export function machineFacts(): Record<string, unknown> {
  let gitCommit = '';
  let gitDirty = false;
  try {
    gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    gitDirty = execFileSync('git', ['status', '--porcelain', '--', 'services', 'protocol'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout
  }
  let fdLimit = '';
  try {
    fdLimit = /Max open files\s+(\d+)\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.slice(1, 3).join('/') ?? '';
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString(),
    hostname: hostname(),
    cpuCount: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    openFilesLimit: fdLimit,
    gitCommit,
    servicesDirty: gitDirty,
  };
}

export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: Array<string | number>) => `| ${r.map((c, i) => String(c ?? '').padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

// ── build freshness ────────────────────────────────────────────────────────────────────────
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.proto')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Rebuilds dist/ (npm run build) when it is missing or older than services/ or protocol/. */
export function ensureBuilt(skip = false): void {
  const bundle = join(ROOT, 'dist', 'imcloud.js');
  const stale =
    !existsSync(bundle) || statSync(bundle).mtimeMs < Math.max(newestMtime(join(ROOT, 'services')), newestMtime(join(ROOT, 'protocol')));
  if (!stale) return;
  if (skip) {
    progress('warning: dist/imcloud.js is older than services/ (--no-build given; benchmarking the old bundle)');
    return;
  }
  progress('dist/ is stale: npm run build');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

// ── a snapshot of the server bundle ────────────────────────────────────────────────────────
// Other work rebuilds dist/ at any time; a benchmark series (and its profiles' source maps)
// must run one bundle throughout. The snapshot sits under bench/ so that the bundle's external
// packages still resolve from the repository's node_modules. `bin/imcloud.js` only imports
// dist/imcloud.js, so running the copy is running `node bin/imcloud.js`.

export function serverBundle(): string {
  const given = process.env.IMCLOUD_BENCH_BUNDLE;
  if (given && existsSync(given)) return given;
  const base = join(ROOT, 'bench', '.snapshot');
  // Snapshots of benchmark processes that are gone.
  for (const old of existsSync(base) ? readdirSync(base) : []) {
    if (!existsSync(`/proc/${old}`)) rmSync(join(base, old), { recursive: true, force: true });
  }
  const dir = join(base, String(process.pid));
  mkdirSync(dir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    copyFileSync(join(ROOT, 'dist', 'imcloud.js'), join(dir, 'imcloud.js'));
    copyFileSync(join(ROOT, 'dist', 'imcloud.js.map'), join(dir, 'imcloud.js.map'));
    const text = readFileSync(join(dir, 'imcloud.js'), 'utf8');
    // A copy taken while a build was writing lacks the trailing source-map comment.
    if (/\/\/# sourceMappingURL=imcloud\.js\.map\s*$/.test(text)) break;
    if (attempt >= 10) throw new Error('dist/imcloud.js looks incomplete (a build in progress?)');
    execFileSync('sleep', ['1']);
  }
  process.env.IMCLOUD_BENCH_BUNDLE = join(dir, 'imcloud.js');
  return process.env.IMCLOUD_BENCH_BUNDLE;
}

export function bundleFacts(): { bundle: string; sha256: string } {
  const bundle = serverBundle();
  return { bundle: bundle.replace(`${ROOT}/`, ''), sha256: createHash('sha256').update(readFileSync(bundle)).digest('hex').slice(0, 16) };
}

// ── ports and processes ────────────────────────────────────────────────────────────────────
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resident set size of a process, from /proc/<pid>/status (bytes). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11] = utime, fields[12] = stime (in clock ticks; 100/s on Linux)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine spent busy (all cores, everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + v[7]!;
  return busy / 100;
}

/**
 * Waits (up to maxWaitMs) until the machine is quiet: less than `cores` CPUs busy over a 5 s
 * window. Other work shares these machines; a benchmark run next to a build measures the build.
 */
export async function waitForQuiet(maxWaitMs: number, cores = 0.25): Promise<{ waitedMs: number; busyCores: number; quiet: boolean }> {
  const start = Date.now();
  let busyCores = 0;
  let announced = false;
  for (;;) {
    const b0 = machineBusySeconds();
    await sleep(5000);
    busyCores = (machineBusySeconds() - b0) / 5;
    if (busyCores < cores) return { waitedMs: Date.now() - start, busyCores: round(busyCores, 2), quiet: true };
    if (Date.now() - start > maxWaitMs) return { waitedMs: Date.now() - start, busyCores: round(busyCores, 2), quiet: false };
    if (!announced || (Date.now() - start) % 60_000 < 5000)
      progress(`  waiting for a quiet machine: other processes use ${round(busyCores, 2)} CPUs`);
    announced = true;
  }
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

export function openFilesOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

export interface PlatformProcess {
  pid: number;
  httpUrl: string;
  wsUrl: string;
  adminToken: string;
  child: ChildProcess;
  createApp(): Promise<{ appId: string; secret: string }>;
  metrics(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  env?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  label?: string;
  /** Append the server's stdout (e.g. --trace-gc output) to this file. */
  stdoutFile?: string;
}

/** Starts `node bin/imcloud.js all` as its own process on free ports and waits until /readyz. */
export async function startPlatform(opts: PlatformOptions = {}): Promise<PlatformProcess> {
  const httpPort = await freePort();
  const tcpPort = await freePort();
  const adminToken = `bench-${Math.random().toString(36).slice(2)}`;
  const env = {
    ...process.env,
    IMCLOUD_HTTP_PORT: String(httpPort),
    IMCLOUD_GATE_TCP_PORT: String(tcpPort),
    IMCLOUD_ADMIN_TOKEN: adminToken,
    IMCLOUD_LOG_LEVEL: 'warn',
    IMCLOUD_WEB_ENABLED: 'false',
    IMCLOUD_GATE_DRAIN_MS: '0',
    ...opts.env,
  };
  // The equivalent of `node bin/imcloud.js all`, on the bench's snapshot of dist/imcloud.js.
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), serverBundle(), 'all'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', opts.stdoutFile ? openSync(opts.stdoutFile, 'a') : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  let exited: number | null | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`imcloud exited with ${exited} at start:\n${stderr}`);
    try {
      const res = await fetch(`${httpUrl}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`imcloud did not become ready in 20 s:\n${stderr}`);
    }
    await sleep(50);
  }
  const platform: PlatformProcess = {
    pid: child.pid!,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${httpPort}/ws`,
    adminToken,
    child,
    createApp: () => createApp(httpUrl, adminToken),
    metrics: () => scrapeMetrics(httpUrl),
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exitPromise;
      clearTimeout(killer);
    },
  };
  return platform;
}

/** Flattens Prometheus text into name{labels} → value (and bare names for unlabelled series). */
export function parsePrometheus(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

/** A role's /metrics, parsed. */
export async function scrapeMetrics(baseUrl: string): Promise<Record<string, number>> {
  return parsePrometheus(await (await fetch(`${baseUrl}/metrics`)).text());
}

/** A fresh app for a benchmark, through the admin API. */
export async function createApp(adminUrl: string, adminToken: string): Promise<{ appId: string; secret: string }> {
  const res = await fetch(`${adminUrl}/v1/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench-${Date.now()}` }),
  });
  if (!res.ok) throw new Error(`POST /v1/apps: ${res.status} ${await res.text()}`);
  const app = (await res.json()) as { appId: string; secret: string };
  return { appId: app.appId, secret: app.secret };
}

/** Sums every series of a metric (any labels). */
export function metricSum(m: Record<string, number>, name: string): number {
  let s = 0;
  for (const [k, v] of Object.entries(m)) if (k === name || k.startsWith(`${name}{`)) s += v;
  return s;
}

/** Cumulative bucket counts of a Prometheus histogram, by the value of one label: label → le → count. */
export type HistogramBuckets = Map<string, Map<number, number>>;

export function histogramBuckets(m: Record<string, number>, name: string, label: string): HistogramBuckets {
  const out: HistogramBuckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const [k, v] of Object.entries(m)) {
    if (!k.startsWith(prefix)) continue;
    const labels = Object.fromEntries([...k.slice(prefix.length, -1).matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const key = labels[label] ?? '';
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    let series = out.get(key);
    if (!series) out.set(key, (series = new Map()));
    series.set(le, (series.get(le) ?? 0) + v);
  }
  return out;
}

/** later − earlier, series by series (the observations made between two scrapes). */
export function bucketsSince(later: HistogramBuckets, earlier: HistogramBuckets): HistogramBuckets {
  const out: HistogramBuckets = new Map();
  for (const [key, series] of later) {
    const before = earlier.get(key);
    out.set(key, new Map([...series].map(([le, n]) => [le, n - (before?.get(le) ?? 0)])));
  }
  return out;
}

/** Quantile estimated from cumulative buckets, linear within a bucket (as PromQL's histogram_quantile). */
export function bucketQuantile(series: Map<number, number>, q: number): number {
  const les = [...series.keys()].sort((a, b) => a - b);
  const total = series.get(Infinity) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const count = series.get(le)!;
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
