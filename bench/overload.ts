// Overload benchmark of the embedded mode (ADR 0021): first the capacity (closed loop, as the
// single chat's saturation phase), then --factor × that capacity offered open-loop. Overload
// must degrade, never collapse: goodput stays ≥ 80 % of capacity, the excess is refused at once
// with IM_UNAVAILABLE and a retry hint, accepted sends keep a bounded p99, and the server's
// memory stays bounded.
//
//   npx tsx bench/overload.ts [--runs 3] [--factor 2] [--duration 20] [--capacity-duration 10]
//        [--warmup 3] [--pairs 200] [--workers 2] [--window 16] [--capacity N] [--profile]
//        [--server-env K=V,K=V] [--wait-quiet SECONDS] [--out NAME] [--no-build]
//
// Each run: a closed-loop phase on a fresh server measures the capacity (delivered/s), then a
// fresh server is offered --factor × capacity open-loop for --duration s (latency from each
// message's intended send time). --capacity N skips the first phase. The benchmark does not
// retry refused sends. Results: bench/results/overload.json (with the machine probe).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerResult, WorkerRun } from './lib/chat-worker.js';
import {
  bundleFacts,
  chatLoadFlags,
  cpuSecondsOf,
  ensureBuilt,
  LOAD_GENERATOR_ENV,
  loadAverage,
  machineBusySeconds,
  machineFacts,
  median,
  nowUs,
  num,
  parseFlags,
  progress,
  RESULTS_DIR,
  ROOT,
  round,
  rssOf,
  sleep,
  startPlatform,
  table,
  waitForQuiet,
  writeResult,
} from './lib/common.js';
import type { summarizeProfile } from './lib/cpu-profile.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';
import { modelledGoodput, type OverloadFigures, overloadFigures, overloadVerdict, summarizeOverload } from './lib/overload.js';
import { request } from './lib/worker-ipc.js';

const flags = parseFlags(process.argv.slice(2));
const cfg = {
  ...chatLoadFlags(flags, { durationSec: 20, window: 16, phases: 'saturation,fixed' }),
  factor: num(flags, 'factor', 2),
  capacityDurationMs: num(flags, 'capacity-duration', 10) * 1000,
  /** Known capacity (msg/s): skip the closed-loop phase. */
  capacity: num(flags, 'capacity', 0),
  profile: flags.profile === true,
  waitQuietSec: num(flags, 'wait-quiet', 0),
  /** Extra server env, e.g. --server-env IMCLOUD_LOGIC_MAX_QUEUE_BYTES=0 */
  serverEnv: Object.fromEntries(
    String(flags['server-env'] ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  ),
};
const SERVER_ENV = { ...LOAD_GENERATOR_ENV, ...cfg.serverEnv };

interface PhaseResult {
  results: WorkerResult[];
  serverCpuUsPerDelivered: number;
  serverCpuPct: number;
  clientCpuPct: number;
  otherCpuPct: number;
  rssMb: { start: number; peak: number; end: number };
  profile?: ReturnType<typeof summarizeProfile>;
}

/** One phase on a fresh server: closed loop ('saturation') or open loop at `rate` ('fixed'). */
async function phase(mode: 'saturation' | 'fixed', rate: number, durationMs: number, label: string): Promise<PhaseResult> {
  const profileDir = join(RESULTS_DIR, 'profiles', `overload-${label}`);
  if (cfg.profile) mkdirSync(profileDir, { recursive: true });
  const platform = await startPlatform({ env: SERVER_ENV, nodeArgs: cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
  const workers: ChildProcess[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    const app = await platform.createApp();
    const tag = `o${label}${Date.now().toString(36)}`;
    const per = Math.ceil(cfg.pairs / cfg.workers);
    for (let w = 0; w < cfg.workers; w++) {
      const from = w * per;
      const to = Math.min(cfg.pairs, from + per);
      if (from >= to) break;
      const child = fork(join(ROOT, 'bench', 'lib', 'chat-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(child);
      await request(
        child,
        { type: 'init', wsUrl: platform.wsUrl, appId: app.appId, secret: app.secret, tag, pairFrom: from, pairTo: to },
        'ready',
      );
    }
    const startAtUs = nowUs() + 500_000;
    const windowStartUs = startAtUs + cfg.warmupMs * 1000;
    const windowEndUs = windowStartUs + durationMs * 1000;
    // Server memory from the start of the load to the end of the drain.
    const rss = { start: rssOf(platform.pid), peak: 0, end: 0 };
    sampler = setInterval(() => {
      try {
        rss.peak = Math.max(rss.peak, rssOf(platform.pid));
      } catch {
        // exited
      }
    }, 250);
    const cpuAt = async (us: number) => {
      await sleep(Math.max(0, (us - nowUs()) / 1000));
      return {
        server: cpuSecondsOf(platform.pid),
        clients: workers.reduce((s, c) => s + cpuSecondsOf(c.pid!), 0),
        machine: machineBusySeconds(),
        at: nowUs(),
      };
    };
    const c0p = cpuAt(windowStartUs);
    const c1p = cpuAt(windowEndUs);
    const msg: WorkerRun = {
      type: 'run',
      mode,
      rate: rate / workers.length,
      window: cfg.window,
      startAtUs,
      warmupMs: cfg.warmupMs,
      durationMs,
      drainMs: cfg.drainMs,
      ackIntervalMs: cfg.ackIntervalMs,
      bodyBytes: cfg.bodyBytes,
    };
    const results = await Promise.all(workers.map((c) => request<WorkerResult>(c, msg, 'result')));
    const [c0, c1] = await Promise.all([c0p, c1p]);
    clearInterval(sampler);
    rss.end = rssOf(platform.pid);
    rss.peak = Math.max(rss.peak, rss.end);
    const wall = (c1.at - c0.at) / 1e6;
    const delivered = results.reduce((s, r) => s + r.deliveredInWindow, 0);
    return {
      results,
      serverCpuPct: round((100 * (c1.server - c0.server)) / wall, 1),
      serverCpuUsPerDelivered: round((1e6 * (c1.server - c0.server)) / Math.max(1, delivered * (wall / (durationMs / 1000))), 1),
      clientCpuPct: round((100 * (c1.clients - c0.clients)) / wall, 1),
      // Everything else on the machine (other work competing for the 2 cores).
      otherCpuPct: Math.max(0, round((100 * (c1.machine - c0.machine - (c1.server - c0.server) - (c1.clients - c0.clients))) / wall, 1)),
      rssMb: { start: round(rss.start / 2 ** 20, 1), peak: round(rss.peak / 2 ** 20, 1), end: round(rss.end / 2 ** 20, 1) },
    };
  } finally {
    clearInterval(sampler);
    for (const c of workers) if (c.connected) c.send({ type: 'exit' });
    await Promise.all(workers.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await platform.stop();
    if (cfg.profile) {
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) progress(`  profile: npx tsx bench/lib/cpu-profile.ts ${join(profileDir, file)}`);
    }
  }
}

type RunFigures = OverloadFigures & {
  run: number;
  capacityRun?: {
    deliveredPerSec: number;
    serverCpuUsPerDelivered: number;
    serverCpuPct: number;
    clientCpuPct: number;
    otherCpuPct: number;
    serverRssMb: { start: number; peak: number; end: number };
  };
  serverCpuPct: number;
  serverCpuUsPerDelivered: number;
  /** Server CPU per refused send, beyond what the deliveries cost at the capacity run's price (µs). */
  serverCpuUsPerRefusal: number;
  clientCpuPct: number;
  otherCpuPct: number;
  serverRssMb: { start: number; peak: number; end: number };
  quietBefore?: { waitedMs: number; busyCores: number; quiet: boolean };
};

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const bundle = bundleFacts();
  progress(
    `server bundle ${bundle.bundle} (sha256 ${bundle.sha256})${Object.keys(cfg.serverEnv).length ? `, server env ${JSON.stringify(cfg.serverEnv)}` : ''}`,
  );
  const loadBefore = loadAverage();
  const probe = await machineProbe();
  progress(describeProbe(probe));
  progress(
    `overload: ${cfg.runs} runs × (capacity: closed loop, window ${cfg.window}, ${cfg.capacityDurationMs / 1000} s; then ${cfg.factor}× capacity open loop, ${cfg.durationMs / 1000} s); ${cfg.pairs} pairs over ${cfg.workers} client processes`,
  );
  const runs: RunFigures[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    const quiet = cfg.waitQuietSec > 0 ? await waitForQuiet(cfg.waitQuietSec * 1000) : undefined;
    let capacity = cfg.capacity;
    let capacityRun: RunFigures['capacityRun'];
    if (!capacity) {
      progress(`overload run ${run}/${cfg.runs}: capacity (closed loop)…`);
      const c = await phase('saturation', 0, cfg.capacityDurationMs, `capacity-${run}`);
      capacity = c.results.reduce((s, r) => s + r.deliveredInWindow, 0) / (cfg.capacityDurationMs / 1000);
      capacityRun = {
        deliveredPerSec: round(capacity, 0),
        serverCpuUsPerDelivered: c.serverCpuUsPerDelivered,
        serverCpuPct: c.serverCpuPct,
        clientCpuPct: c.clientCpuPct,
        otherCpuPct: c.otherCpuPct,
        serverRssMb: c.rssMb,
      };
      progress(
        `  capacity ${round(capacity, 0)} delivered/s (server ${c.serverCpuPct} % CPU, ${c.serverCpuUsPerDelivered} µs/msg; clients ${c.clientCpuPct} %, other processes ${c.otherCpuPct} %; server RSS peak ${c.rssMb.peak} MB)`,
      );
    }
    const rate = Math.round(capacity * cfg.factor);
    progress(`overload run ${run}/${cfg.runs}: ${rate} msg/s offered (${cfg.factor}× ${round(capacity, 0)})…`);
    const o = await phase('fixed', rate, cfg.durationMs, `offered-${run}`);
    // What a refusal cost the server: the CPU of the overloaded window less what its deliveries
    // cost at the capacity run's price per message, over the refusals (robust to other load).
    const refusedTotal = o.results.reduce((n, r) => n + r.refusedInWindow, 0);
    const deliveredTotal = o.results.reduce((n, r) => n + r.deliveredInWindow, 0);
    const serverCpuUsPerRefusal =
      capacityRun && refusedTotal > 0
        ? round((o.serverCpuUsPerDelivered * deliveredTotal - capacityRun.serverCpuUsPerDelivered * deliveredTotal) / refusedTotal, 1)
        : NaN;
    const f: RunFigures = {
      serverCpuUsPerRefusal,
      run,
      ...overloadFigures(o.results, capacity, cfg.durationMs),
      capacityRun,
      serverCpuPct: o.serverCpuPct,
      serverCpuUsPerDelivered: o.serverCpuUsPerDelivered,
      clientCpuPct: o.clientCpuPct,
      otherCpuPct: o.otherCpuPct,
      serverRssMb: o.rssMb,
      ...(quiet && { quietBefore: quiet }),
    };
    runs.push(f);
    progress(
      `  delivered ${f.deliveredPerSec}/s = ${round(100 * f.goodputOfCapacity, 1)} % of capacity (offered ${f.offeredPerSec}/s); refused ${f.refusedPerSec}/s ${JSON.stringify(f.errors)}, ${round(100 * f.refusedWithRetryHint, 1)} % with a retry hint, send→refusal p50 ${f.refuse.p50} p99 ${f.refuse.p99} ms; accepted: send→ack p99 ${f.ack.p99} ms, send→delivered p50 ${f.deliver.p50} p99 ${f.deliver.p99} ms; unanswered ${f.unanswered}, lost ${f.lost}, dup ${f.duplicates}`,
    );
    progress(
      `  server ${f.serverCpuPct} % CPU (${f.serverCpuUsPerDelivered} µs per delivered message, ~${f.serverCpuUsPerRefusal} µs per refusal), clients ${f.clientCpuPct} %, other processes ${f.otherCpuPct} %; server RSS start/peak/end ${f.serverRssMb.start} / ${f.serverRssMb.peak} / ${f.serverRssMb.end} MB`,
    );
  }
  const summary = {
    ...summarizeOverload(runs),
    serverCpuUsPerDelivered: median(runs.map((r) => r.serverCpuUsPerDelivered)),
    /**
     * The goodput the server would keep at factor × capacity with the CPU it had for the capacity,
     * from what a delivered message (s, at capacity) and a refusal (r) cost it: (s − f·r) / (s − r)
     * of capacity. On a machine shared with other work the server gets less CPU overloaded than it
     * had for the capacity (see serverCpuPct), and the measured share falls with it.
     */
    modelledGoodputOfCapacity: median(
      runs.map((r) => modelledGoodput(r.capacityRun?.serverCpuUsPerDelivered ?? NaN, r.serverCpuUsPerRefusal, cfg.factor)),
    ),
    serverCpuPct: median(runs.map((r) => r.serverCpuPct)),
    capacityServerCpuPct: median(runs.map((r) => r.capacityRun?.serverCpuPct ?? NaN)),
    serverCpuUsPerRefusal: median(runs.map((r) => r.serverCpuUsPerRefusal)),
    capacityServerCpuUsPerDelivered: median(runs.map((r) => r.capacityRun?.serverCpuUsPerDelivered ?? NaN)),
    otherCpuPct: median(runs.map((r) => r.otherCpuPct)),
    serverRssMb: {
      start: Math.max(...runs.map((r) => r.serverRssMb.start)),
      peak: Math.max(...runs.map((r) => r.serverRssMb.peak)),
      end: Math.max(...runs.map((r) => r.serverRssMb.end)),
    },
  };
  const targets = overloadVerdict(summary);
  console.log(
    `\noverload, embedded mode (medians of ${cfg.runs} runs; ${cfg.factor}× capacity offered open-loop for ${cfg.durationMs / 1000} s)`,
  );
  console.log(
    table(
      [
        'capacity/s',
        'offered/s',
        'delivered/s',
        'of capacity',
        'refused/s',
        'refusal p50 / p99 ms',
        'ack p99 ms',
        'deliver p50 / p99 ms',
        'server RSS peak MB',
        'lost',
        'dup',
      ],
      [
        [
          summary.capacityPerSec,
          summary.offeredPerSec,
          summary.deliveredPerSec,
          `${round(100 * summary.goodputOfCapacity, 1)} % (${summary.goodputOfCapacityRange.map((x) => round(100 * x, 1)).join('–')})`,
          summary.refusedPerSec,
          `${summary.refuseP50Ms} / ${summary.refuseP99Ms}`,
          summary.ackP99Ms,
          `${summary.deliverP50Ms} / ${summary.deliverP99Ms}`,
          summary.serverRssMb.peak,
          summary.lost,
          summary.duplicates,
        ],
      ],
    ),
  );
  console.log(
    `server CPU: ${summary.capacityServerCpuPct} % at capacity, ${summary.serverCpuPct} % overloaded (other processes ${summary.otherCpuPct} %); per delivered message ${summary.capacityServerCpuUsPerDelivered} → ${summary.serverCpuUsPerDelivered} µs, ~${summary.serverCpuUsPerRefusal} µs per refusal: with the CPU it had for the capacity it would deliver ${round(100 * summary.modelledGoodputOfCapacity, 1)} % of capacity (modelled)`,
  );
  console.log(
    table(
      ['target', 'wanted', 'measured', 'met'],
      Object.entries(targets).map(([k, t]) => [k, String(t.target), String(t.actual), t.met ? 'yes' : 'NO']),
    ),
  );
  const file = writeResult(typeof flags.out === 'string' ? flags.out : 'overload', {
    benchmark: 'overload',
    machine: { ...machineFacts(), server: bundle, loadAverageBefore: loadBefore, probe },
    config: { ...cfg, serverEnv: SERVER_ENV },
    targets,
    summary,
    runs,
  });
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
