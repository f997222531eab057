// Single-chat benchmark of the embedded mode: `node bin/imcloud.js all` in its own process,
// client load from forked worker processes over WebSocket raw frames.
//
//   npx tsx bench/single-chat.ts [--pairs 200] [--workers 2] [--rate 10000] [--duration 20]
//        [--warmup 3] [--runs 3] [--window 16] [--body 64] [--ack-interval 100] [--drain 30]
//        [--phases fixed,saturation] [--wait-quiet SECONDS] [--out NAME] [--no-build]
//        [--profile] [--alloc-profile] [--server-node-args="--trace-gc ..."] [--server-stdout FILE]
//
// The server is the bench's snapshot of dist/imcloud.js (what `node bin/imcloud.js all` runs)
// with log level warn and the per-connection and per-app rate limits raised (SERVER_ENV).
// Receivers send a cumulative PushAck at most every --ack-interval ms.
//
// Phase "fixed": open-loop offered load of --rate messages/s (latency measured from each
// message's intended send time, so a stall is not hidden by coordinated omission).
// Phase "saturation": closed loop, --window unacked sends outstanding per sender.
// Each phase runs --runs times against a fresh platform process; the report gives medians.
// Correctness: every acked message must reach its receiver exactly once (lost = duplicated = 0).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerResult, WorkerRun } from './lib/chat-worker.js';
import {
  bundleFacts,
  chatLoadFlags,
  cpuSecondsOf,
  ensureBuilt,
  Histogram,
  LOAD_GENERATOR_ENV,
  loadAverage,
  machineBusySeconds,
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
  sleep,
  startPlatform,
  table,
  waitForQuiet,
  writeResult,
} from './lib/common.js';
import { summarizeAllocations, summarizeProfile } from './lib/cpu-profile.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';
import { request } from './lib/worker-ipc.js';

const flags = parseFlags(process.argv.slice(2));
const cfg = {
  ...chatLoadFlags(flags, { durationSec: 20, window: 16, phases: 'fixed,saturation' }),
  rate: num(flags, 'rate', 10_000),
  profile: flags.profile === true,
  /** Before each run, wait up to this many seconds for the machine to be quiet (0: don't). */
  waitQuietSec: num(flags, 'wait-quiet', 0),
  /** Sample every allocation of the server (bytes per message; see bench/lib/alloc-profile.cjs). */
  allocProfile: flags['alloc-profile'] === true,
  /** Extra node flags for the server process, e.g. --server-node-args=--max-semi-space-size=64 */
  serverNodeArgs: String(flags['server-node-args'] ?? '')
    .split(' ')
    .filter(Boolean),
  /** Append the server's stdout here (with --server-node-args=--trace-gc: every GC pause). */
  serverStdout: typeof flags['server-stdout'] === 'string' ? flags['server-stdout'] : '',
};
const SERVER_ENV = LOAD_GENERATOR_ENV;
export const TARGETS = { saturationDeliveredPerSec: 20_000, fixedP99DeliverMs: 25 };

interface RunFigures {
  phase: string;
  run: number;
  offeredPerSec: number;
  ackedPerSec: number;
  deliveredPerSec: number;
  ack: ReturnType<Histogram['summaryMs']>;
  deliver: ReturnType<Histogram['summaryMs']>;
  lost: number;
  duplicates: number;
  unacked: number;
  outOfOrder: number;
  errors: Record<string, number>;
  drained: boolean;
  drainedMs: number;
  pushAcksPerSec: number;
  pushFramesPerSec: number;
  serverCpuPct: number;
  /** Server CPU time per delivered message: robust to other load on the machine. */
  serverCpuUsPerMsg: number;
  clientCpuPct: number;
  otherCpuPct: number;
  /** Share of the window the server spent in GC pauses (main thread). */
  serverGcPct: number;
  serverGcMs: Record<string, number>;
  /** Event-loop delay over the window (prom-client's monitor, 10 ms resolution). */
  serverLoopDelayMs: { p99: number; max: number };
  serverRssMb: number;
  serverHeapUsedMb: number;
  serverSends: number;
  serverStored: number;
  notStored: number;
  profile?: ReturnType<typeof summarizeProfile>;
  allocations?: ReturnType<typeof summarizeAllocations>;
  quietBefore?: { waitedMs: number; busyCores: number; quiet: boolean };
}

function forkWorker(): ChildProcess {
  return fork(join(ROOT, 'bench', 'lib', 'chat-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function runOnce(phase: 'fixed' | 'saturation', run: number): Promise<RunFigures> {
  const profileDir = join(RESULTS_DIR, 'profiles', `single-chat-${phase}-${run}`);
  if (cfg.profile || cfg.allocProfile) mkdirSync(profileDir, { recursive: true });
  const allocFile = join(profileDir, 'allocations.heapprofile');
  const platform = await startPlatform({
    env: { ...SERVER_ENV, ...(cfg.allocProfile ? { IMCLOUD_BENCH_ALLOC_PROFILE: allocFile } : {}) },
    stdoutFile: cfg.serverStdout || undefined,
    nodeArgs: [
      ...cfg.serverNodeArgs,
      ...(cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ...(cfg.allocProfile ? ['--require', join(ROOT, 'bench', 'lib', 'alloc-profile.cjs')] : []),
    ],
  });
  const workers: ChildProcess[] = [];
  try {
    const app = await platform.createApp();
    const tag = `r${run}${phase[0]}${Date.now().toString(36)}`;
    const per = Math.ceil(cfg.pairs / cfg.workers);
    for (let w = 0; w < cfg.workers; w++) {
      const from = w * per;
      const to = Math.min(cfg.pairs, from + per);
      if (from >= to) break;
      const child = forkWorker();
      workers.push(child);
      await request(
        child,
        { type: 'init', wsUrl: platform.wsUrl, appId: app.appId, secret: app.secret, tag, pairFrom: from, pairTo: to },
        'ready',
      );
    }
    const startAtUs = nowUs() + 500_000;
    const windowStartUs = startAtUs + cfg.warmupMs * 1000;
    const windowEndUs = windowStartUs + cfg.durationMs * 1000;
    const msg: WorkerRun = {
      type: 'run',
      mode: phase,
      rate: cfg.rate / workers.length,
      window: cfg.window,
      startAtUs,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.durationMs,
      drainMs: cfg.drainMs,
      ackIntervalMs: cfg.ackIntervalMs,
      bodyBytes: cfg.bodyBytes,
    };
    // Server and client CPU over the measurement window.
    const cpuAt = async (us: number) => {
      await sleep(Math.max(0, (us - nowUs()) / 1000));
      return {
        server: cpuSecondsOf(platform.pid),
        clients: workers.reduce((s, c) => s + cpuSecondsOf(c.pid!), 0),
        machine: machineBusySeconds(),
        at: nowUs(),
      };
    };
    const cpuStart = cpuAt(windowStartUs);
    const cpuEnd = cpuAt(windowEndUs);
    // /metrics at both ends: GC time by kind over the window; reading resets the event-loop
    // delay histogram, so the second read covers the window only.
    const metricsStart = cpuStart.then(() => platform.metrics());
    const metricsEnd = cpuEnd.then(() => platform.metrics());
    const memAtEnd = cpuEnd.then(async () => ({
      rss: rssOf(platform.pid),
      heap: metricSum(await platform.metrics(), 'imcloud_process_nodejs_heap_size_used_bytes'),
    }));
    const results = await Promise.all(workers.map((c) => request<WorkerResult>(c, msg, 'result')));
    const [c0, c1, mem, m0, m1] = await Promise.all([cpuStart, cpuEnd, memAtEnd, metricsStart, metricsEnd]);
    const gcMs = (kind: string) =>
      round(
        1000 *
          ((m1[`imcloud_process_nodejs_gc_duration_seconds_sum{kind="${kind}"}`] ?? 0) -
            (m0[`imcloud_process_nodejs_gc_duration_seconds_sum{kind="${kind}"}`] ?? 0)),
        0,
      );
    const serverMetrics = await platform.metrics();

    const ack = new Histogram();
    const deliver = new Histogram();
    const sum = (k: keyof WorkerResult) => results.reduce((s, r) => s + (r[k] as number), 0);
    const errors: Record<string, number> = {};
    for (const r of results) {
      ack.merge(r.ackLatency);
      deliver.merge(r.deliverLatency);
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    const secs = cfg.durationMs / 1000;
    const wallSecs = (c1.at - c0.at) / 1e6;
    return {
      phase,
      run,
      offeredPerSec: round(sum('sentInWindow') / secs, 0),
      ackedPerSec: round(sum('ackedInWindow') / secs, 0),
      deliveredPerSec: round(sum('deliveredInWindow') / secs, 0),
      ack: ack.summaryMs(),
      deliver: deliver.summaryMs(),
      lost: sum('lost'),
      duplicates: sum('duplicates'),
      unacked: sum('unacked'),
      outOfOrder: sum('outOfOrder'),
      errors,
      drained: results.every((r) => r.drained),
      drainedMs: Math.max(...results.map((r) => r.drainedMs)),
      pushAcksPerSec: round(sum('pushAcksSent') / (secs + cfg.warmupMs / 1000), 0),
      pushFramesPerSec: round(sum('pushFrames') / (secs + cfg.warmupMs / 1000), 0),
      serverCpuPct: round((100 * (c1.server - c0.server)) / wallSecs, 1),
      serverCpuUsPerMsg: round((1e6 * (c1.server - c0.server)) / Math.max(1, sum('deliveredInWindow') * (wallSecs / secs)), 1),
      clientCpuPct: round((100 * (c1.clients - c0.clients)) / wallSecs, 1),
      // Everything else on the machine (other builds or tests) competing for the 2 cores.
      // (clamped at 0: the three readings are taken a few µs apart)
      otherCpuPct: Math.max(
        0,
        round((100 * (c1.machine - c0.machine - (c1.server - c0.server) - (c1.clients - c0.clients))) / wallSecs, 1),
      ),
      serverGcPct: round((100 * (gcMs('minor') + gcMs('major') + gcMs('incremental') + gcMs('weakcb'))) / 1000 / wallSecs, 1),
      serverGcMs: { minor: gcMs('minor'), major: gcMs('major'), incremental: gcMs('incremental') },
      serverLoopDelayMs: {
        p99: round(1000 * (m1.imcloud_process_nodejs_eventloop_lag_p99_seconds ?? NaN), 1),
        max: round(1000 * (m1.imcloud_process_nodejs_eventloop_lag_max_seconds ?? NaN), 1),
      },
      serverRssMb: round(mem.rss / 2 ** 20, 1),
      serverHeapUsedMb: round(mem.heap / 2 ** 20, 1),
      serverSends: metricSum(serverMetrics, 'imcloud_logic_sends_total'),
      serverStored: metricSum(serverMetrics, 'imcloud_consumer_stored_total'),
      // Acked by logic but not (yet) written by the consumer when the run ended.
      notStored: metricSum(serverMetrics, 'imcloud_logic_sends_total') - metricSum(serverMetrics, 'imcloud_consumer_stored_total'),
    };
  } finally {
    for (const c of workers) {
      if (c.connected) c.send({ type: 'exit' });
    }
    await Promise.all(workers.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await platform.stop();
  }
}

function summarize(runs: RunFigures[]) {
  const m = (f: (r: RunFigures) => number) => median(runs.map(f));
  return {
    runs: runs.length,
    offeredPerSec: m((r) => r.offeredPerSec),
    ackedPerSec: m((r) => r.ackedPerSec),
    deliveredPerSec: m((r) => r.deliveredPerSec),
    ackP50Ms: m((r) => r.ack.p50),
    ackP99Ms: m((r) => r.ack.p99),
    deliverP50Ms: m((r) => r.deliver.p50),
    deliverP99Ms: m((r) => r.deliver.p99),
    deliverP999Ms: m((r) => r.deliver.p999),
    deliverMaxMs: m((r) => r.deliver.max),
    serverCpuPct: m((r) => r.serverCpuPct),
    serverCpuUsPerMsg: m((r) => r.serverCpuUsPerMsg),
    serverGcPct: m((r) => r.serverGcPct),
    serverLoopDelayMaxMs: m((r) => r.serverLoopDelayMs.max),
    clientCpuPct: m((r) => r.clientCpuPct),
    otherCpuPct: m((r) => r.otherCpuPct),
    serverRssMb: m((r) => r.serverRssMb),
    // Correctness is summed, not medianed: every run must be clean.
    lost: runs.reduce((s, r) => s + r.lost, 0),
    duplicates: runs.reduce((s, r) => s + r.duplicates, 0),
    unacked: runs.reduce((s, r) => s + r.unacked, 0),
    outOfOrder: runs.reduce((s, r) => s + r.outOfOrder, 0),
    notStored: runs.reduce((s, r) => s + r.notStored, 0),
    errors: runs.reduce((s, r) => s + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
    allDrained: runs.every((r) => r.drained),
  };
}

export type SingleChatSummary = ReturnType<typeof summarize>;

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const bundle = bundleFacts();
  progress(`server bundle ${bundle.bundle} (sha256 ${bundle.sha256})`);
  const loadBefore = loadAverage();
  if (loadBefore > 0.5)
    progress(`warning: load average ${loadBefore} before start: other processes compete for the CPUs (see "other CPU %")`);
  const probe = await machineProbe();
  progress(describeProbe(probe));
  progress(
    `single-chat: ${cfg.pairs} pairs over ${cfg.workers} client processes; phases ${cfg.phases.join(', ')}; ${cfg.runs} runs × (${cfg.warmupMs / 1000} s warm-up + ${cfg.durationMs / 1000} s)`,
  );
  const all: RunFigures[] = [];
  for (const phase of cfg.phases) {
    for (let run = 1; run <= cfg.runs; run++) {
      const quiet = cfg.waitQuietSec > 0 ? await waitForQuiet(cfg.waitQuietSec * 1000) : undefined;
      if (quiet && !quiet.quiet)
        progress(`  the machine did not get quiet in ${cfg.waitQuietSec} s (${quiet.busyCores} CPUs busy); running anyway`);
      progress(
        `single-chat ${phase} run ${run}/${cfg.runs}: ${phase === 'fixed' ? `${cfg.rate} msg/s offered` : `window ${cfg.window} per sender`}…`,
      );
      const r = await runOnce(phase, run);
      if (quiet) r.quietBefore = quiet;
      if (cfg.profile) {
        const dir = join(RESULTS_DIR, 'profiles', `single-chat-${phase}-${run}`);
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (file) r.profile = summarizeProfile(join(dir, file), 25);
      }
      if (cfg.allocProfile) {
        r.allocations = summarizeAllocations(
          join(RESULTS_DIR, 'profiles', `single-chat-${phase}-${run}`, 'allocations.heapprofile'),
          r.serverSends,
          25,
        );
        progress(
          `  server allocations: ${r.allocations.totalMb} MB, ${r.allocations.bytesPerMessage} bytes per accepted message; top: ${r.allocations.top
            .slice(0, 6)
            .map((t) => `${t.fn} ${t.bytesPerMessage} B`)
            .join(', ')}`,
        );
      }
      all.push(r);
      progress(
        `  delivered ${r.deliveredPerSec}/s (offered ${r.offeredPerSec}/s), send→ack p50 ${r.ack.p50} p99 ${r.ack.p99} ms, send→delivered p50 ${r.deliver.p50} p99 ${r.deliver.p99} ms, CPU: server ${r.serverCpuPct}% (${r.serverCpuUsPerMsg} µs/msg, GC ${r.serverGcPct}%, loop delay max ${r.serverLoopDelayMs.max} ms), clients ${r.clientCpuPct}%, other processes ${r.otherCpuPct}%, lost ${r.lost} dup ${r.duplicates} unacked ${r.unacked} not stored ${r.notStored}${Object.keys(r.errors).length ? ` errors ${JSON.stringify(r.errors)}` : ''}`,
      );
    }
  }
  const phases: Record<string, SingleChatSummary> = {};
  for (const phase of cfg.phases) phases[phase] = summarize(all.filter((r) => r.phase === phase));

  const rows: Array<Array<string | number>> = [];
  for (const [phase, s] of Object.entries(phases)) {
    rows.push([
      phase,
      s.offeredPerSec,
      s.deliveredPerSec,
      s.ackP50Ms,
      s.ackP99Ms,
      s.deliverP50Ms,
      s.deliverP99Ms,
      s.serverCpuPct,
      s.serverCpuUsPerMsg,
      s.clientCpuPct,
      s.otherCpuPct,
      s.lost,
      s.duplicates,
      s.unacked,
    ]);
  }
  console.log(`\nsingle chat, embedded mode (medians of ${cfg.runs} runs; ${cfg.pairs} pairs, ${cfg.durationMs / 1000} s each)`);
  console.log(
    table(
      [
        'phase',
        'offered/s',
        'delivered/s',
        'ack p50 ms',
        'ack p99 ms',
        'deliver p50 ms',
        'deliver p99 ms',
        'server CPU %',
        'server µs/msg',
        'clients CPU %',
        'other CPU %',
        'lost',
        'dup',
        'unacked',
      ],
      rows,
    ),
  );
  const targets = {
    saturationDeliveredPerSec: {
      target: TARGETS.saturationDeliveredPerSec,
      actual: phases.saturation?.deliveredPerSec,
      met: phases.saturation ? phases.saturation.deliveredPerSec >= TARGETS.saturationDeliveredPerSec : undefined,
    },
    fixedP99DeliverMs: {
      target: TARGETS.fixedP99DeliverMs,
      actual: phases.fixed?.deliverP99Ms,
      met: phases.fixed ? phases.fixed.deliverP99Ms <= TARGETS.fixedP99DeliverMs : undefined,
    },
    exactlyOnce: {
      target: 0,
      actual: Object.values(phases).reduce((s, p) => s + p.lost + p.duplicates, 0),
      met: Object.values(phases).every((p) => p.lost === 0 && p.duplicates === 0 && p.unacked === 0),
    },
  };
  const file = writeResult(typeof flags.out === 'string' ? flags.out : 'single-chat', {
    benchmark: 'single-chat',
    machine: { ...machineFacts(), server: bundle, loadAverageBefore: loadBefore, probe },
    config: { ...cfg, serverEnv: SERVER_ENV },
    targets,
    phases,
    runs: all,
  });
  console.log(
    `\ntargets: saturation ≥ ${TARGETS.saturationDeliveredPerSec}/s: ${targets.saturationDeliveredPerSec.met ? 'met' : 'MISSED'}; p99 send→delivered at ${cfg.rate}/s ≤ ${TARGETS.fixedP99DeliverMs} ms: ${targets.fixedP99DeliverMs.met ? 'met' : 'MISSED'}; exactly once: ${targets.exactlyOnce.met ? 'met' : 'MISSED'}`,
  );
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
