// Single-chat benchmark of the distributed mode (`make bench-dist`): Redis, RabbitMQ and
// FerretDB from test/infra, every role as its own process (2 gates, 2 logic, 2 consumers,
// dispatch, admin; test/support/cluster.ts), client load from forked workers whose senders sit
// on one gate and receivers on the other, so every message crosses gates.
//
//   npx tsx bench/dist-chat.ts [--pairs 200] [--workers 2] [--rate 5000] [--duration 15]
//        [--warmup 3] [--runs 3] [--window 8] [--phases saturation,fixed,overload] [--rate 1000,5000]
//        [--overload-factor 2] [--capacity N] [--role-env K=V,K=V]
//        [--mongodb-url URL] [--profile] [--role-node-args="--max-semi-space-size=32"] [--out NAME]
//
// Phase "overload" (ADR 0021) offers --overload-factor × the capacity open-loop: the median
// delivered/s of this run's saturation phase (or --capacity N). It reports goodput as a share
// of capacity, refusals (code, retry hint, send→refusal p50/p99), accepted sends' p99 and the
// roles' and the broker's memory, and writes bench/results/dist-overload.json too.
//
// Reports messages/s delivered AND persisted (the consumers' stored counter over the window),
// p50/p99 send→ack and send→delivered, and lost messages: acked but not delivered, or not stored
// once the consumers drained. Targets (2 cores, everything on one machine): ≥ 5,000 msg/s
// persisted and delivered, p99 send→delivered ≤ 50 ms at the fixed rate, 0 lost.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { serverEnv, startServers } from '../test/infra/index.js';
import { type BackendEnv, type Cluster, startCluster } from '../test/support/cluster.js';
import { createLogDir, finishLogDir } from '../test/support/log-dir.js';
import type { WorkerResult, WorkerRun } from './lib/chat-worker.js';
import {
  bucketQuantile,
  bucketsSince,
  chatLoadFlags,
  createApp,
  ensureBuilt,
  Histogram,
  type HistogramBuckets,
  histogramBuckets,
  LOAD_GENERATOR_ENV,
  machineFacts,
  median,
  metricSum,
  nowUs,
  num,
  parseFlags,
  progress,
  RESULTS_DIR,
  ROOT,
  round,
  rssOf,
  scrapeMetrics,
  sleep,
  table,
  writeResult,
} from './lib/common.js';
import { cpuShares, cpuSnapshot } from './lib/cpu-by-process.js';
import { summarizeProfile } from './lib/cpu-profile.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';
import { overloadFigures, overloadVerdict, summarizeOverload } from './lib/overload.js';
import { tailConcentration } from './lib/tail-concentration.js';
import { request } from './lib/worker-ipc.js';

const flags = parseFlags(process.argv.slice(2));
const cfg = {
  ...chatLoadFlags(flags, { durationSec: 15, window: 8, phases: 'saturation,fixed,overload' }),
  /** overload phase: offered = this × capacity (the saturation phase's median delivered/s, or --capacity). */
  overloadFactor: num(flags, 'overload-factor', 2),
  capacity: num(flags, 'capacity', 0),
  /** Extra env for every role, e.g. --role-env IMCLOUD_LOGIC_MAX_QUEUE_BYTES=0 */
  roleEnv: Object.fromEntries(
    String(flags['role-env'] ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  ) as Record<string, string>,
  /** fixed phase: offered messages/s, one run set per rate (comma-separated). */
  rates: String(flags.rate ?? '1000,5000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0),
  /** Another MongoDB-wire server (e.g. a real MongoDB) instead of the FerretDB that test/infra starts. */
  mongodbUrl: typeof flags['mongodb-url'] === 'string' ? flags['mongodb-url'] : '',
  /** CPU-profile every role process (node --cpu-prof) and print where logic and the gates spend it. */
  profile: flags.profile === true,
  /** Extra node flags for every role process, e.g. --role-node-args=--max-semi-space-size=32 */
  roleNodeArgs: String(flags['role-node-args'] ?? '')
    .split(' ')
    .filter(Boolean),
};
export const DIST_TARGETS = { persistedAndDeliveredPerSec: 5_000, fixedP99DeliverMs: 50 };
const ROLE_ENV = { ...LOAD_GENERATOR_ENV, IMCLOUD_LOG_LEVEL: 'warn', ...cfg.roleEnv };

async function storedTotal(cluster: Cluster): Promise<number> {
  let total = 0;
  for (const c of cluster.byRole('consumer')) total += metricSum(await scrapeMetrics(c.url), 'imcloud_consumer_stored_total');
  return total;
}

/**
 * MongoDB time by command and collection over the whole run, from every role's
 * imcloud_mongodb_command_seconds: where the storage side spends its time.
 */
async function storageTime(cluster: Cluster): Promise<Array<{ op: string; count: number; meanMs: number; totalS: number }>> {
  const acc = new Map<string, { count: number; sum: number }>();
  for (const p of [...cluster.byRole('logic'), ...cluster.byRole('consumer')]) {
    const m = await scrapeMetrics(p.url);
    for (const [k, v] of Object.entries(m)) {
      const hit = /^imcloud_mongodb_command_seconds_(sum|count)\{command="([^"]*)",collection="([^"]*)",outcome="([^"]*)"\}$/.exec(k);
      if (!hit) continue;
      const op = `${hit[2]} ${hit[3]}${hit[4] === 'ok' ? '' : ` (${hit[4]})`}`;
      const e = acc.get(op) ?? { count: 0, sum: 0 };
      if (hit[1] === 'sum') e.sum += v;
      else e.count += v;
      acc.set(op, e);
    }
  }
  return [...acc]
    .map(([op, e]) => ({ op, count: e.count, meanMs: round((e.sum / Math.max(1, e.count)) * 1000, 1), totalS: round(e.sum, 1) }))
    .sort((a, b) => b.totalS - a.totalS);
}

/**
 * Where a send's time goes, from the roles' own histograms: each step of logic's accept path
 * (imcloud_logic_send_stage_seconds) and, from the gates, acceptance → push written to the
 * receiver (imcloud_gate_push_latency_seconds).
 */
async function stageBuckets(cluster: Cluster): Promise<HistogramBuckets> {
  const all: HistogramBuckets = new Map();
  const add = (from: HistogramBuckets, rename?: string) => {
    for (const [key, series] of from) {
      const name = rename ?? key;
      const into = all.get(name) ?? new Map<number, number>();
      for (const [le, n] of series) into.set(le, (into.get(le) ?? 0) + n);
      all.set(name, into);
    }
  };
  for (const p of cluster.byRole('logic')) add(histogramBuckets(await scrapeMetrics(p.url), 'imcloud_logic_send_stage_seconds', 'stage'));
  for (const p of cluster.byRole('gate'))
    add(histogramBuckets(await scrapeMetrics(p.url), 'imcloud_gate_push_latency_seconds', 'app_id'), 'accepted→pushed');
  return all;
}

/**
 * Per role kind (busiest process of the kind): garbage-collection time so far, and the event
 * loop's delay p99 and max since the previous scrape (prom-client resets it on every scrape).
 */
async function eventLoops(cluster: Cluster): Promise<Map<string, Array<{ gcS: number; lagP99Ms: number; lagMaxMs: number }>>> {
  const out = new Map<string, Array<{ gcS: number; lagP99Ms: number; lagMaxMs: number }>>();
  for (const role of ['logic', 'gate', 'consumer'] as const) {
    out.set(
      role,
      await Promise.all(
        cluster.byRole(role).map(async (p) => {
          const m = await scrapeMetrics(p.url);
          return {
            gcS: metricSum(m, 'imcloud_process_nodejs_gc_duration_seconds_sum'),
            lagP99Ms: round(metricSum(m, 'imcloud_process_nodejs_eventloop_lag_p99_seconds') * 1000, 1),
            lagMaxMs: round(metricSum(m, 'imcloud_process_nodejs_eventloop_lag_max_seconds') * 1000, 1),
          };
        }),
      ),
    );
  }
  return out;
}

/** GC share of the window and event-loop delay, per role kind (the worst process of each kind). */
function eventLoopSummary(start: Awaited<ReturnType<typeof eventLoops>>, end: Awaited<ReturnType<typeof eventLoops>>, secs: number) {
  return [...end].map(([role, procs]) => ({
    role,
    gcPercent: round(Math.max(...procs.map((p, i) => ((p.gcS - (start.get(role)?.[i]?.gcS ?? 0)) / secs) * 100)), 1),
    lagP99Ms: Math.max(...procs.map((p) => p.lagP99Ms)),
    lagMaxMs: Math.max(...procs.map((p) => p.lagMaxMs)),
  }));
}

const STAGE_ORDER = ['bus_in', 'claim', 'allocate', 'window', 'store_confirm', 'complete', 'accepted→pushed'];

function stageSummary(buckets: HistogramBuckets): Array<{ stage: string; count: number; p50Ms: number; p99Ms: number }> {
  return [...buckets]
    .map(([stage, series]) => ({
      stage,
      count: series.get(Infinity) ?? 0,
      p50Ms: round(bucketQuantile(series, 0.5) * 1000, 2),
      p99Ms: round(bucketQuantile(series, 0.99) * 1000, 2),
    }))
    .filter((x) => x.count > 0)
    .sort((a, b) => STAGE_ORDER.indexOf(a.stage) - STAGE_ORDER.indexOf(b.stage));
}

/** Resident memory (MB) of every role process, and of the broker (beam.smp), now. */
function memorySample(cluster: Cluster): { roles: Record<string, number>; broker: number } {
  const roles: Record<string, number> = {};
  for (const p of cluster.processes) {
    if (!p.pid) continue;
    try {
      roles[p.role] = Math.max(roles[p.role] ?? 0, round(rssOf(p.pid) / 2 ** 20, 1));
    } catch {
      // restarting
    }
  }
  let broker = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'beam.smp')
        broker = Math.max(broker, round(rssOf(Number(pid)) / 2 ** 20, 1));
    } catch {
      // gone
    }
  }
  return { roles, broker };
}

interface Step {
  phase: 'fixed' | 'saturation' | 'overload';
  /** fixed: offered messages/s */
  rate: number;
  label: string;
}

async function runOnce(
  cluster: Cluster,
  app: { appId: string; secret: string },
  { phase, rate, label }: Step,
  run: number,
  capacityPerSec = 0,
) {
  const gates = cluster.byRole('gate').map((g) => `ws://127.0.0.1:${g.httpPort}/ws`);
  const workers: ChildProcess[] = [];
  try {
    const tag = `d${run}${phase[0]}${Date.now().toString(36)}`;
    const per = Math.ceil(cfg.pairs / cfg.workers);
    for (let w = 0; w < cfg.workers; w++) {
      const from = w * per;
      const to = Math.min(cfg.pairs, from + per);
      if (from >= to) break;
      const child = fork(join(ROOT, 'bench', 'lib', 'chat-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(child);
      await request(
        child,
        {
          type: 'init',
          wsUrl: gates[w % gates.length],
          receiverWsUrl: gates[(w + 1) % gates.length],
          appId: app.appId,
          secret: app.secret,
          tag,
          pairFrom: from,
          pairTo: to,
        },
        'ready',
      );
    }
    const startAtUs = nowUs() + 500_000;
    const windowStartUs = startAtUs + cfg.warmupMs * 1000;
    const windowEndUs = windowStartUs + cfg.durationMs * 1000;
    const storedAt = async (us: number) => {
      await sleep(Math.max(0, (us - nowUs()) / 1000));
      // Event loops first: every scrape resets the delay histogram, so this one covers the window.
      const loops = await eventLoops(cluster);
      return { stored: await storedTotal(cluster), cpu: cpuSnapshot(), stages: await stageBuckets(cluster), loops };
    };
    const storedStart = storedAt(windowStartUs);
    const storedEnd = storedAt(windowEndUs);
    // Memory of the roles (worst process of each) and of the broker: at the start, the peak, at the end.
    const memStart = memorySample(cluster);
    const memPeak = { roles: { ...memStart.roles }, broker: memStart.broker };
    const memTimer = setInterval(() => {
      const m = memorySample(cluster);
      for (const [role, mb] of Object.entries(m.roles)) memPeak.roles[role] = Math.max(memPeak.roles[role] ?? 0, mb);
      memPeak.broker = Math.max(memPeak.broker, m.broker);
    }, 500);
    const msg: WorkerRun = {
      type: 'run',
      mode: phase === 'saturation' ? 'saturation' : 'fixed',
      rate: rate / workers.length,
      window: cfg.window,
      startAtUs,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.durationMs,
      drainMs: cfg.drainMs,
      ackIntervalMs: cfg.ackIntervalMs,
      bodyBytes: cfg.bodyBytes,
      samples: true,
    };
    const results = await Promise.all(workers.map((c) => request<WorkerResult>(c, msg, 'result'))).finally(() => clearInterval(memTimer));
    const memEnd = memorySample(cluster);
    const [{ stored: s0, cpu: cpu0, stages: st0, loops: l0 }, { stored: s1, cpu: cpu1, stages: st1, loops: l1 }] = await Promise.all([
      storedStart,
      storedEnd,
    ]);
    const sum = (k: keyof WorkerResult) => results.reduce((s, r) => s + (r[k] as number), 0);
    const acked = sum('acked');
    // Every acked message of this run must end up stored: wait for the consumers to drain.
    let stored = await storedTotal(cluster);
    const deadline = Date.now() + 30_000;
    while (stored - baseline < acked && Date.now() < deadline) {
      await sleep(250);
      stored = await storedTotal(cluster);
    }
    const ack = new Histogram();
    const deliver = new Histogram();
    for (const r of results) {
      ack.merge(r.ackLatency);
      deliver.merge(r.deliverLatency);
    }
    const secs = cfg.durationMs / 1000;
    const deliverSummary = deliver.summaryMs();
    const tail = tailConcentration(
      results.flatMap((r) => r.deliverSamples),
      deliverSummary.p99,
    );
    return {
      phase,
      label,
      rate,
      run,
      offeredPerSec: round(sum('sentInWindow') / secs, 0),
      deliveredPerSec: round(sum('deliveredInWindow') / secs, 0),
      persistedPerSec: round((s1 - s0) / secs, 0),
      ack: ack.summaryMs(),
      deliver: deliverSummary,
      /** Sends slower than the deliver p99: what share was sent within the worst second (one stall, or spread). */
      deliverTail: {
        slowerThanP99: tail.slower,
        shareInWorstSecond: round(tail.shareInWorstSpan, 2),
        worstSecondFromS: round(tail.worstSpanFromMs / 1000, 1),
      },
      acked,
      notDelivered: sum('lost'),
      notStored: Math.max(0, acked - (stored - baseline)),
      duplicates: sum('duplicates'),
      outOfOrder: sum('outOfOrder'),
      /** Sends answered with an error (IM_UNAVAILABLE: shed under overload), not retried by the benchmark. */
      refused: results.reduce(
        (n, r) =>
          n +
          Object.entries(r.errors)
            .filter(([k]) => k.startsWith('IM_'))
            .reduce((m, [, v]) => m + v, 0),
        0,
      ),
      errors: results.reduce<Record<string, number>>((all, r) => {
        for (const [k, v] of Object.entries(r.errors)) all[k] = (all[k] ?? 0) + v;
        return all;
      }, {}),
      /** CPU cores each kind of process kept busy over the measured window (machine-wide). */
      cpu: cpuShares(cpu0, cpu1, secs),
      /** Server-side steps over the measured window (bus_in: gate → logic via the upstream queue). */
      stages: stageSummary(bucketsSince(st1, st0)),
      /** Per role kind, its worst process over the window: GC % of wall time, event-loop delay p99 and max. */
      eventLoops: eventLoopSummary(l0, l1, secs),
      /** Resident memory (MB): worst process of each role, and the broker, at the start, the peak and the end of the run. */
      memoryMb: { start: memStart, peak: memPeak, end: memEnd },
      /** The overload phase: goodput against the capacity, refusals, accepted sends (ADR 0021). */
      ...(phase === 'overload' && { overload: overloadFigures(results, capacityPerSec, cfg.durationMs) }),
    };
  } finally {
    for (const c of workers) if (c.connected) c.send({ type: 'exit' });
    await Promise.all(workers.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    baseline = await storedTotal(cluster);
  }
}

/** Stored-counter value when the current run began (earlier runs' messages excluded). */
let baseline = 0;

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  // Before the servers start, while the machine is quiet.
  const probe = await machineProbe();
  progress(describeProbe(probe));
  progress(
    `dist-chat: starting Redis, RabbitMQ${cfg.mongodbUrl ? '' : ' and FerretDB on PostgreSQL'} (built and cached by test/infra on first use)`,
  );
  const servers = await startServers(cfg.mongodbUrl ? ['redis', 'rabbitmq'] : ['redis', 'rabbitmq', 'mongodb']);
  const logDir = createLogDir('bench-dist');
  let finished = false;
  let cluster: Cluster | undefined;
  const roleByPid = new Map<number, string>();
  try {
    progress(
      `dist-chat: starting 2 gates, 2 logic, 2 consumers, dispatch and admin (logs in ${logDir}: removed after a run that completes, kept if it fails or with IMCLOUD_KEEP_RUN=1)`,
    );
    const profileDir = join(RESULTS_DIR, 'profiles', 'dist-chat');
    if (cfg.profile) {
      rmSync(profileDir, { recursive: true, force: true });
      mkdirSync(profileDir, { recursive: true });
    }
    cluster = await startCluster(
      { ...serverEnv(servers), ...(cfg.mongodbUrl && { IMCLOUD_MONGODB_URL: cfg.mongodbUrl }) } as unknown as BackendEnv,
      logDir,
      {},
      ROLE_ENV,
      {},
      [...cfg.roleNodeArgs, ...(cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    );
    for (const p of cluster.processes) if (p.pid) roleByPid.set(p.pid, p.role);
    baseline = await storedTotal(cluster);
    // One app for every run (each run's clientMsgIds carry their own tag).
    const app = await createApp(cluster.adminUrl, cluster.adminToken);
    const runs: Array<Awaited<ReturnType<typeof runOnce>>> = [];
    const phases = cfg.phases as string[];
    const steps: Step[] = phases.flatMap((phase): Step[] =>
      phase === 'fixed'
        ? cfg.rates.map((rate) => ({ phase, rate, label: `fixed ${rate}/s` }))
        : phase === 'overload'
          ? [{ phase, rate: 0, label: `overload ${cfg.overloadFactor}×` }]
          : [{ phase: phase as Step['phase'], rate: 0, label: phase }],
    );
    let capacity = cfg.capacity;
    for (const step of steps) {
      if (step.phase === 'overload') {
        // The capacity: this run's saturation phase (median delivered/s), unless given.
        if (!capacity) capacity = median(runs.filter((r) => r.phase === 'saturation').map((r) => r.deliveredPerSec));
        if (!Number.isFinite(capacity) || capacity <= 0)
          throw new Error('the overload phase needs the saturation phase before it, or --capacity N');
        step.rate = Math.round(capacity * cfg.overloadFactor);
      }
      for (let run = 1; run <= cfg.runs; run++) {
        progress(
          `dist-chat: ${step.label} run ${run}/${cfg.runs} (${cfg.warmupMs / 1000} s warm-up + ${cfg.durationMs / 1000} s${step.phase !== 'saturation' ? `, ${step.rate} msg/s offered` : `, ${cfg.window} outstanding per sender`})`,
        );
        const r = await runOnce(cluster, app, step, run, capacity);
        runs.push(r);
        if (r.overload) {
          const o = r.overload;
          progress(
            `  overload: ${round(100 * o.goodputOfCapacity, 1)} % of capacity ${o.capacityPerSec}/s delivered; refused ${o.refusedPerSec}/s ${JSON.stringify(o.errors)}, ${round(100 * o.refusedWithRetryHint, 1)} % with a retry hint, send→refusal p50 ${o.refuse.p50} p99 ${o.refuse.p99} ms; accepted: send→ack p99 ${o.ack.p99} ms, send→delivered p99 ${o.deliver.p99} ms; unanswered ${o.unanswered}`,
          );
          progress(
            `  memory MB (peak): ${Object.entries(r.memoryMb.peak.roles)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}, broker ${r.memoryMb.peak.broker} (start ${r.memoryMb.start.broker}, end ${r.memoryMb.end.broker})`,
          );
        }
        progress(
          `  delivered ${r.deliveredPerSec}/s, persisted ${r.persistedPerSec}/s, deliver p50 ${r.deliver.p50} ms p99 ${r.deliver.p99} ms, lost ${r.notDelivered + r.notStored}${
            r.refused
              ? `, refused ${r.refused} (${Object.entries(r.errors)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(', ')})`
              : ''
          }`,
        );
        progress(
          `  slower than p99: ${Math.round(r.deliverTail.shareInWorstSecond * 100)} % sent within one second (${r.deliverTail.worstSecondFromS}–${round(r.deliverTail.worstSecondFromS + 1, 1)} s into the window)${r.deliverTail.shareInWorstSecond >= 0.5 ? ': a stall' : ''}`,
        );
        progress(`  server steps p50/p99 ms: ${r.stages.map((x) => `${x.stage} ${x.p50Ms}/${x.p99Ms}`).join(', ')}`);
        progress(`  CPU cores: ${r.cpu.map((c) => `${c.group} ${c.cores}`).join(', ')}`);
        progress(
          `  event loops (worst process): ${r.eventLoops.map((e) => `${e.role} GC ${e.gcPercent} %, delay p99/max ${e.lagP99Ms}/${e.lagMaxMs} ms`).join('; ')}`,
        );
      }
    }
    const byLabel = (label: string) => runs.filter((r) => r.label === label);
    const med = (label: string, f: (r: (typeof runs)[number]) => number) => (byLabel(label).length ? median(byLabel(label).map(f)) : NaN);
    const lost = runs.reduce((s, r) => s + r.notDelivered + r.notStored, 0);
    const duplicated = runs.reduce((s, r) => s + r.duplicates, 0);
    const sat = Math.min(
      med('saturation', (r) => r.deliveredPerSec),
      med('saturation', (r) => r.persistedPerSec),
    );
    // p99 at the target rate when it was run, else at the highest rate run.
    const fixedRates = steps.filter((x) => x.phase === 'fixed').map((x) => x.rate);
    const p99Rate = fixedRates.includes(DIST_TARGETS.persistedAndDeliveredPerSec)
      ? DIST_TARGETS.persistedAndDeliveredPerSec
      : Math.max(0, ...fixedRates);
    const p99 = med(`fixed ${p99Rate}/s`, (r) => r.deliver.p99);
    const targets = {
      persistedAndDeliveredPerSec: {
        target: DIST_TARGETS.persistedAndDeliveredPerSec,
        actual: sat,
        met: sat >= DIST_TARGETS.persistedAndDeliveredPerSec,
      },
      fixedP99DeliverMs: {
        target: DIST_TARGETS.fixedP99DeliverMs,
        actual: p99,
        met: p99 <= DIST_TARGETS.fixedP99DeliverMs,
        atOfferedPerSec: p99Rate,
      },
      lost: { target: 0, actual: lost, met: lost === 0 },
      duplicated: { target: 0, actual: duplicated, met: duplicated === 0 },
    };
    console.log(
      table(
        ['phase', 'offered/s', 'delivered/s', 'persisted/s', 'refused/s', 'ack p50/p99 ms', 'deliver p50/p99 ms', 'lost', 'dup'],
        steps.map(({ label }) => [
          label,
          med(label, (r) => r.offeredPerSec),
          med(label, (r) => r.deliveredPerSec),
          med(label, (r) => r.persistedPerSec),
          // counted over the whole run (warm-up included)
          med(label, (r) => round(r.refused / (cfg.warmupMs / 1000 + cfg.durationMs / 1000), 0)),
          `${med(label, (r) => r.ack.p50)} / ${med(label, (r) => r.ack.p99)}`,
          `${med(label, (r) => r.deliver.p50)} / ${med(label, (r) => r.deliver.p99)}`,
          byLabel(label).reduce((s, r) => s + r.notDelivered + r.notStored, 0),
          byLabel(label).reduce((s, r) => s + r.duplicates, 0),
        ]),
      ),
    );
    console.log('CPU cores by process over each measured window (first run of each phase; 2 cores in all):');
    console.log(
      table(
        ['phase', 'CPU cores'],
        steps.map(({ label }) => [
          label,
          (byLabel(label)[0]?.cpu ?? [])
            .filter((c) => c.cores >= 0.01)
            .map((c) => `${c.group} ${c.cores}`)
            .join(', '),
        ]),
      ),
    );
    console.log('Where a send spends its time, server side (p50 / p99 ms over the measured window, first run of each phase):');
    const stageNames = STAGE_ORDER.filter((n) => runs.some((r) => r.stages.some((x) => x.stage === n)));
    console.log(
      table(
        ['phase', ...stageNames],
        steps.map(({ label }) => [
          label,
          ...stageNames.map((n) => {
            const x = byLabel(label)[0]?.stages.find((y) => y.stage === n);
            return x ? `${x.p50Ms} / ${x.p99Ms}` : '';
          }),
        ]),
      ),
    );
    console.log(
      'Event loops, worst process of each role (GC share of the window; delay p99 / max: how late a timer ran, from a long turn or from waiting for a core):',
    );
    console.log(
      table(
        ['phase', 'event loops'],
        steps.map(({ label }) => [
          label,
          (byLabel(label)[0]?.eventLoops ?? []).map((e) => `${e.role} GC ${e.gcPercent} %, ${e.lagP99Ms} / ${e.lagMaxMs} ms`).join('; '),
        ]),
      ),
    );
    console.log(
      table(
        ['target', 'wanted', 'measured', 'met'],
        Object.entries(targets).map(([k, t]) => [k, t.target, t.actual, t.met ? 'yes' : 'NO']),
      ),
    );
    const storage = await storageTime(cluster);
    console.log('MongoDB time by command over all runs (every logic and consumer):');
    console.log(
      table(
        ['command collection', 'count', 'mean ms', 'total s'],
        storage.slice(0, 10).map((s) => [s.op, s.count, s.meanMs, s.totalS]),
      ),
    );
    const file = writeResult(typeof flags.out === 'string' ? flags.out : 'dist-chat', {
      machine: { ...machineFacts(), probe },
      config: { ...cfg, roleEnv: ROLE_ENV, layout: 'gate×2 logic×2 consumer×2 dispatch admin' },
      targets,
      runs,
      storage,
    });
    progress(`dist-chat: wrote ${file}`);
    const overloadRuns = runs.filter((r) => r.overload);
    if (overloadRuns.length > 0) {
      const summary = {
        ...summarizeOverload(overloadRuns.map((r) => r.overload!)),
        memoryMbPeak: {
          roles: Object.fromEntries(
            ['gate', 'logic', 'consumer'].map((role) => [role, Math.max(...overloadRuns.map((r) => r.memoryMb.peak.roles[role] ?? 0))]),
          ),
          broker: Math.max(...overloadRuns.map((r) => r.memoryMb.peak.broker)),
        },
      };
      const verdict = overloadVerdict(summary);
      console.log(
        `\noverload, distributed mode (medians of ${overloadRuns.length} runs; ${cfg.overloadFactor}× capacity ${summary.capacityPerSec}/s offered open-loop)`,
      );
      console.log(
        table(
          ['target', 'wanted', 'measured', 'met'],
          Object.entries(verdict).map(([k, t]) => [k, String(t.target), String(t.actual), t.met ? 'yes' : 'NO']),
        ),
      );
      console.log(
        `accepted sends: send→ack p99 ${summary.ackP99Ms} ms, send→delivered p50 ${summary.deliverP50Ms} p99 ${summary.deliverP99Ms} ms; refusals p50 ${summary.refuseP50Ms} ms; memory peak MB ${JSON.stringify(summary.memoryMbPeak)}`,
      );
      const overloadFile = writeResult(typeof flags.out === 'string' ? `${flags.out}-overload` : 'dist-overload', {
        benchmark: 'dist-overload',
        machine: { ...machineFacts(), probe },
        config: { ...cfg, roleEnv: ROLE_ENV, layout: 'gate×2 logic×2 consumer×2 dispatch admin' },
        targets: verdict,
        summary,
        runs: overloadRuns,
      });
      progress(`dist-chat: wrote ${overloadFile}`);
    }
    finished = true;
  } finally {
    await cluster?.stop();
    await servers.stop();
    finishLogDir(logDir, !finished);
  }
  if (cfg.profile) printRoleProfiles(join(RESULTS_DIR, 'profiles', 'dist-chat'), roleByPid);
}

/** The profiles are written as the roles exit, one per process, named by its pid: the busiest of each role. */
function printRoleProfiles(dir: string, roleByPid: Map<number, string>): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const summaries = files
    .map((f) => ({ role: roleByPid.get(Number(f.split('.')[3])) ?? 'unknown', ...summarizeProfile(join(dir, f), 12) }))
    .sort((a, b) => b.busyMs - a.busyMs);
  for (const role of ['logic', 'gate', 'consumer']) {
    const s = summaries.find((x) => x.role === role);
    if (!s) continue;
    console.log(`\n${role}, ${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms`);
    console.log(
      table(
        ['self time by area', '%'],
        s.byArea.slice(0, 10).map((a) => [a.area, a.pct]),
      ),
    );
    console.log(
      table(
        ['hottest function', 'area', '%'],
        s.topFunctions.slice(0, 12).map((f) => [f.fn, f.area, f.pct]),
      ),
    );
  }
}

main().catch((err: unknown) => {
  console.error(
    `dist-chat: ${err instanceof Error ? err.stack : String(err)}${(err as { cause?: unknown })?.cause ? `\ncaused by: ${String((err as { cause?: unknown }).cause)}` : ''}`,
  );
  process.exit(1);
});
