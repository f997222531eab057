// Tenant fairness of the embedded mode: a quiet app's ack latency while another app floods.
//
//   npx tsx bench/fairness.ts [--runs 3] [--duration 15] [--warmup 3] [--quiet-pairs 20]
//        [--quiet-rate 200] [--noisy-pairs 200] [--noisy-rate 18000] [--phases idle,flood]
//        [--app-frames-per-sec N] [--out NAME] [--no-build]
//
// Each run starts `imcloud all` (the bench's snapshot of dist/imcloud.js) with its default
// limits, so the per-connection and per-app limits are the ones a tenant meets.
// Phase "idle": the quiet app alone, open loop at --quiet-rate msg/s over --quiet-pairs pairs.
// Phase "flood": the same quiet load, and beside it a noisy app whose --noisy-pairs senders
// each send just under their connection's limit (--noisy-rate in all): many connections, each
// within its own limit, together far beyond what the server can take.
// Phase "flood-unlimited" (opt-in): the flood with the per-app limit lifted, to show what it
// protects. Phases alternate run by run; the report gives medians and the quiet app's p99
// send→ack in the flood over its p99 when idle (target ≤ 2).
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { WorkerResult, WorkerRun } from './lib/chat-worker.js';
import {
  bucketQuantile,
  bucketsSince,
  bundleFacts,
  cpuSecondsOf,
  ensureBuilt,
  Histogram,
  histogramBuckets,
  machineBusySeconds,
  machineFacts,
  median,
  metricSum,
  nowUs,
  num,
  parseFlags,
  progress,
  ROOT,
  round,
  rssOf,
  sleep,
  startPlatform,
  table,
  writeResult,
} from './lib/common.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';
import { request } from './lib/worker-ipc.js';

const flags = parseFlags(process.argv.slice(2));
const cfg = {
  runs: num(flags, 'runs', 3),
  durationMs: num(flags, 'duration', 15) * 1000,
  warmupMs: num(flags, 'warmup', 3) * 1000,
  quietPairs: num(flags, 'quiet-pairs', 20),
  quietRate: num(flags, 'quiet-rate', 200),
  noisyPairs: num(flags, 'noisy-pairs', 200),
  noisyRate: num(flags, 'noisy-rate', 18_000),
  noisyWorkers: num(flags, 'noisy-workers', 2),
  /** The server's per-app frame rate (gate.appFramesPerSec); 0: its default. */
  appFramesPerSec: num(flags, 'app-frames-per-sec', 0),
  phases: String(flags.phases ?? 'idle,flood').split(',') as Phase[],
};
type Phase = 'idle' | 'flood' | 'flood-unlimited';
/** --server-env=KEY=VALUE,KEY=VALUE: more settings for the server (e.g. IMCLOUD_LOGIC_MAX_IN_FLIGHT=32). */
const serverEnv: Record<string, string> = Object.fromEntries(
  String(flags['server-env'] ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=', 2) as [string, string]),
);
export const TARGET_P99_RATIO = 2;

interface Side {
  offeredPerSec: number;
  ackedPerSec: number;
  ack: ReturnType<Histogram['summaryMs']>;
  deliver: ReturnType<Histogram['summaryMs']>;
  lost: number;
  errors: Record<string, number>;
}

interface RunFigures {
  phase: Phase;
  run: number;
  quiet: Side;
  noisy?: Side;
  serverCpuPct: number;
  clientsCpuPct: number;
  otherCpuPct: number;
  serverRssMb: number;
  serverGcPct: number;
  serverLoopDelayMaxMs: number;
  serverRefusals: { gateUpstreamFull: number; logicShed: number; appRateLimited: number };
  logicRequestsMax: { running: number; waiting: number };
  serverAckP99Ms: Record<string, number>;
}

function side(results: WorkerResult[]): Side {
  const ack = new Histogram();
  const deliver = new Histogram();
  const errors: Record<string, number> = {};
  for (const r of results) {
    ack.merge(r.ackLatency);
    deliver.merge(r.deliverLatency);
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  const secs = cfg.durationMs / 1000;
  const sum = (k: 'sentInWindow' | 'ackedInWindow' | 'lost') => results.reduce((s, r) => s + r[k], 0);
  return {
    offeredPerSec: round(sum('sentInWindow') / secs, 0),
    ackedPerSec: round(sum('ackedInWindow') / secs, 0),
    ack: ack.summaryMs(),
    deliver: deliver.summaryMs(),
    lost: sum('lost'),
    errors,
  };
}

async function startWorkers(
  wsUrl: string,
  app: { appId: string; secret: string },
  tag: string,
  pairs: number,
  workers: number,
): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  const per = Math.ceil(pairs / workers);
  for (let w = 0; w < workers; w++) {
    const from = w * per;
    const to = Math.min(pairs, from + per);
    if (from >= to) break;
    const child = fork(join(ROOT, 'bench', 'lib', 'chat-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    await request(child, { type: 'init', wsUrl, appId: app.appId, secret: app.secret, tag, pairFrom: from, pairTo: to }, 'ready');
  }
  return children;
}

async function runOnce(phase: Phase, run: number): Promise<RunFigures> {
  const limit = phase === 'flood-unlimited' ? 100_000_000 : cfg.appFramesPerSec;
  const platform = await startPlatform({ env: { ...(limit > 0 && { IMCLOUD_GATE_APP_FRAMES_PER_SEC: String(limit) }), ...serverEnv } });
  const all: ChildProcess[] = [];
  try {
    const tag = `f${run}${phase[0]}${Date.now().toString(36)}`;
    const quietApp = await platform.createApp();
    const quietWorkers = await startWorkers(platform.wsUrl, quietApp, `${tag}q`, cfg.quietPairs, 1);
    const noisyWorkers =
      phase === 'idle' ? [] : await startWorkers(platform.wsUrl, await platform.createApp(), `${tag}n`, cfg.noisyPairs, cfg.noisyWorkers);
    all.push(...quietWorkers, ...noisyWorkers);
    const startAtUs = nowUs() + 500_000;
    const base = {
      type: 'run',
      mode: 'fixed',
      window: 1,
      startAtUs,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.durationMs,
      drainMs: 20_000,
      ackIntervalMs: 100,
      bodyBytes: 64,
    } as const;
    const windowStartUs = startAtUs + cfg.warmupMs * 1000;
    const clientsCpu = () => all.reduce((t, c) => t + cpuSecondsOf(c.pid!), 0);
    const cpu0 = sleep((windowStartUs - nowUs()) / 1000).then(async () => ({
      server: cpuSecondsOf(platform.pid),
      clients: clientsCpu(),
      machine: machineBusySeconds(),
      at: nowUs(),
      m: await platform.metrics(),
    }));
    const cpu1 = sleep((windowStartUs + cfg.durationMs * 1000 - nowUs()) / 1000).then(async () => ({
      server: cpuSecondsOf(platform.pid),
      clients: clientsCpu(),
      machine: machineBusySeconds(),
      at: nowUs(),
      rss: rssOf(platform.pid),
      m: await platform.metrics(),
    }));
    const quiet = Promise.all(
      quietWorkers.map((c) => request<WorkerResult>(c, { ...base, rate: cfg.quietRate } satisfies WorkerRun, 'result')),
    );
    const noisy = Promise.all(
      noisyWorkers.map((c) =>
        request<WorkerResult>(c, { ...base, rate: cfg.noisyRate / noisyWorkers.length } satisfies WorkerRun, 'result'),
      ),
    );
    // Requests running and waiting in logic, sampled through the window (where a backlog builds).
    const queueSamples: Array<{ running: number; waiting: number }> = [];
    const sampler = setInterval(() => {
      if (nowUs() < windowStartUs) return;
      void platform.metrics().then(
        (m) =>
          queueSamples.push({
            running: m['imcloud_logic_requests{state="running"}'] ?? 0,
            waiting: m['imcloud_logic_requests{state="waiting"}'] ?? 0,
          }),
        () => undefined,
      );
    }, 500);
    const [q, n, c0, c1] = await Promise.all([quiet, noisy, cpu0, cpu1]).finally(() => clearInterval(sampler));
    const wall = (c1.at - c0.at) / 1e6;
    const gcSeconds = (m: Record<string, number>) =>
      Object.entries(m)
        .filter(([k]) => k.startsWith('imcloud_process_nodejs_gc_duration_seconds_sum'))
        .reduce((t, [, v]) => t + v, 0);
    return {
      phase,
      run,
      quiet: side(q),
      ...(n.length > 0 && { noisy: side(n) }),
      serverCpuPct: round((100 * (c1.server - c0.server)) / wall, 1),
      clientsCpuPct: round((100 * (c1.clients - c0.clients)) / wall, 1),
      // Everything else on the machine competing for its cores.
      otherCpuPct: Math.max(0, round((100 * (c1.machine - c0.machine - (c1.server - c0.server) - (c1.clients - c0.clients))) / wall, 1)),
      serverRssMb: round(c1.rss / 2 ** 20, 1),
      serverGcPct: round((100 * (gcSeconds(c1.m) - gcSeconds(c0.m))) / ((c1.at - c0.at) / 1e6), 1),
      // Reading /metrics resets the event-loop delay histogram: the second read covers the window.
      serverLoopDelayMaxMs: round(1000 * (c1.m.imcloud_process_nodejs_eventloop_lag_max_seconds ?? NaN), 1),
      // Where refusals came from: the gate (full upstream queue), logic (an app over its share, or shed after waiting).
      // The server's own view of each app's send→ack (from the gate taking the frame to logic answering), p99 ms.
      serverAckP99Ms: Object.fromEntries(
        [
          ...bucketsSince(
            histogramBuckets(c1.m, 'imcloud_logic_ack_latency_seconds', 'app_id'),
            histogramBuckets(c0.m, 'imcloud_logic_ack_latency_seconds', 'app_id'),
          ),
        ].map(([app, series]) => [app === quietApp.appId ? 'quiet' : 'noisy', round(1000 * bucketQuantile(series, 0.99), 1)]),
      ),
      logicRequestsMax: {
        running: Math.max(0, ...queueSamples.map((x) => x.running)),
        waiting: Math.max(0, ...queueSamples.map((x) => x.waiting)),
      },
      serverRefusals: {
        gateUpstreamFull: metricSum(c1.m, 'imcloud_gate_upstream_refused_total'),
        logicShed: metricSum(c1.m, 'imcloud_logic_shed_total'),
        appRateLimited: metricSum(c1.m, 'imcloud_gate_app_rate_limited_total'),
      },
    };
  } finally {
    for (const c of all) if (c.connected) c.send({ type: 'exit' });
    await Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await platform.stop();
  }
}

function summarize(runs: RunFigures[]) {
  const m = (f: (r: RunFigures) => number) => median(runs.map(f));
  const noisy = runs.every((r) => r.noisy);
  return {
    runs: runs.length,
    quietAckP50Ms: m((r) => r.quiet.ack.p50),
    quietAckP99Ms: m((r) => r.quiet.ack.p99),
    quietAckP99RangeMs: [Math.min(...runs.map((r) => r.quiet.ack.p99)), Math.max(...runs.map((r) => r.quiet.ack.p99))],
    quietDeliverP99Ms: m((r) => r.quiet.deliver.p99),
    quietAckedPerSec: m((r) => r.quiet.ackedPerSec),
    quietErrors: runs.reduce((s, r) => s + Object.values(r.quiet.errors).reduce((a, b) => a + b, 0), 0),
    ...(noisy && {
      noisyOfferedPerSec: m((r) => r.noisy!.offeredPerSec),
      noisyAckedPerSec: m((r) => r.noisy!.ackedPerSec),
      noisyRefusedByCode: runs.at(-1)!.noisy!.errors,
    }),
    serverCpuPct: m((r) => r.serverCpuPct),
    clientsCpuPct: m((r) => r.clientsCpuPct),
    otherCpuPct: m((r) => r.otherCpuPct),
    serverRssMb: m((r) => r.serverRssMb),
    lost: runs.reduce((s, r) => s + r.quiet.lost + (r.noisy?.lost ?? 0), 0),
  };
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const bundle = bundleFacts();
  const probe = await machineProbe();
  progress(describeProbe(probe));
  progress(
    `fairness: quiet app ${cfg.quietRate} msg/s over ${cfg.quietPairs} pairs; noisy app ${cfg.noisyRate} msg/s over ${cfg.noisyPairs} pairs; phases ${cfg.phases.join(', ')} alternating, ${cfg.runs} runs`,
  );
  const all: RunFigures[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    for (const phase of cfg.phases) {
      progress(`fairness ${phase} run ${run}/${cfg.runs}…`);
      const r = await runOnce(phase, run);
      all.push(r);
      progress(
        `  quiet: ack p50 ${r.quiet.ack.p50} p99 ${r.quiet.ack.p99} ms, acked ${r.quiet.ackedPerSec}/s${r.noisy ? `; noisy: offered ${r.noisy.offeredPerSec}/s acked ${r.noisy.ackedPerSec}/s refused ${JSON.stringify(r.noisy.errors)}` : ''}; CPU: server ${r.serverCpuPct}%, clients ${r.clientsCpuPct}%, other ${r.otherCpuPct}% (server GC ${r.serverGcPct}%, loop delay max ${r.serverLoopDelayMaxMs} ms); refusals by the server ${JSON.stringify(r.serverRefusals)}; logic requests at most ${JSON.stringify(r.logicRequestsMax)}; server-side ack p99 ${JSON.stringify(r.serverAckP99Ms)} ms`,
      );
    }
  }
  const phases = Object.fromEntries(cfg.phases.map((p) => [p, summarize(all.filter((r) => r.phase === p))]));
  const idle = phases.idle?.quietAckP99Ms;
  const flood = phases.flood?.quietAckP99Ms;
  const ratio = idle && flood !== undefined ? round(flood / idle, 2) : undefined;
  console.log(
    table(
      ['phase', 'quiet ack p50 ms', 'quiet ack p99 ms (range)', 'quiet deliver p99 ms', 'noisy offered/s', 'noisy acked/s', 'server CPU %'],
      Object.entries(phases).map(([p, s]) => [
        p,
        s.quietAckP50Ms,
        `${s.quietAckP99Ms} (${s.quietAckP99RangeMs.join('–')})`,
        s.quietDeliverP99Ms,
        s.noisyOfferedPerSec ?? '—',
        s.noisyAckedPerSec ?? '—',
        s.serverCpuPct,
      ]),
    ),
  );
  const targets = {
    quietP99Ratio: { target: TARGET_P99_RATIO, actual: ratio, met: ratio !== undefined ? ratio <= TARGET_P99_RATIO : undefined },
  };
  const file = writeResult(typeof flags.out === 'string' ? flags.out : 'fairness', {
    benchmark: 'fairness',
    machine: { ...machineFacts(), server: bundle, probe },
    config: cfg,
    targets,
    phases,
    runs: all,
  });
  console.log(
    `\ntarget: the quiet app's p99 send→ack under the flood ≤ ${TARGET_P99_RATIO}× its idle p99: ${ratio ?? '—'}× ${targets.quietP99Ratio.met ? 'met' : 'MISSED'}`,
  );
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
