// The send path's cost of webhooks in the embedded mode: send→ack latency with no webhook, with a
// before-send webhook that answers in 1 ms, and with after-send events on (every message queued
// to the app's events queue and delivered to a receiver), at the same offered rate.
//
//   npx tsx bench/webhooks.ts [--runs 3] [--duration 15] [--warmup 3] [--pairs 20] [--rate 500]
//        [--phases none,before-send,after-send] [--out NAME] [--no-build]
//
// The receiver is a node:http server in this process (answers before-send with allow after 1 ms,
// events with 200 at once). Phases alternate run by run, each on a fresh `imcloud all`; the
// report gives medians of the runs' p50/p99 and writes bench/results/<out>.json.
import { type ChildProcess, fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { WorkerResult, WorkerRun } from './lib/chat-worker.js';
import {
  bundleFacts,
  cpuSecondsOf,
  ensureBuilt,
  Histogram,
  machineFacts,
  median,
  metricSum,
  nowUs,
  num,
  parseFlags,
  progress,
  ROOT,
  round,
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
  pairs: num(flags, 'pairs', 20),
  rate: num(flags, 'rate', 500),
  phases: String(flags.phases ?? 'none,before-send,after-send').split(',') as Phase[],
};
type Phase = 'none' | 'before-send' | 'after-send';
/** How long the receiver takes to answer a before-send call. */
const BEFORE_SEND_MS = 1;

interface RunFigures {
  phase: Phase;
  run: number;
  ack: ReturnType<Histogram['summaryMs']>;
  ackedPerSec: number;
  lost: number;
  errors: Record<string, number>;
  eventsReceived: number;
  beforeSendCalls: number;
  /** before-send calls by outcome, from the server's metrics (busy: past the app's bound, let through unasked). */
  beforeSendOutcomes: Record<string, number>;
  serverCpuPct: number;
}

/** The tenant's endpoint: counts what it gets. */
async function startReceiver(): Promise<{ server: Server; url: string; counts: { events: number; beforeSend: number } }> {
  const counts = { events: 0, beforeSend: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.headers['imcloud-event-type'] === 'message.before_send') {
        counts.beforeSend += 1;
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"action":"allow"}'), BEFORE_SEND_MS);
      } else {
        counts.events += 1;
        res.writeHead(200).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, counts };
}

async function setWebhook(httpUrl: string, token: string, appId: string, phase: Phase, url: string): Promise<void> {
  const hook =
    phase === 'before-send'
      ? { url, events: [], beforeSend: { enabled: true, timeoutMs: 1_000, failOpen: true } }
      : { url, events: ['message.sent'] };
  const res = await fetch(`${httpUrl}/v1/apps/${appId}/webhook`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(hook),
  });
  if (!res.ok) throw new Error(`PUT webhook: ${res.status} ${await res.text()}`);
}

async function runOnce(phase: Phase, run: number): Promise<RunFigures> {
  const receiver = await startReceiver();
  const platform = await startPlatform({ env: { IMCLOUD_GATE_APP_FRAMES_PER_SEC: '100000000' } });
  let worker: ChildProcess | undefined;
  try {
    const app = await platform.createApp();
    // Before any client logs in: logic caches an app for 5 s.
    if (phase !== 'none') await setWebhook(platform.httpUrl, platform.adminToken, app.appId, phase, receiver.url);
    worker = fork(join(ROOT, 'bench', 'lib', 'chat-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const tag = `w${run}${phase[0]}${Date.now().toString(36)}`;
    await request(
      worker,
      { type: 'init', wsUrl: platform.wsUrl, appId: app.appId, secret: app.secret, tag, pairFrom: 0, pairTo: cfg.pairs },
      'ready',
    );
    const startAtUs = nowUs() + 500_000;
    const cpuAt = (us: number) => sleep((us - nowUs()) / 1000).then(() => ({ cpu: cpuSecondsOf(platform.pid), at: nowUs() }));
    const windowStartUs = startAtUs + cfg.warmupMs * 1000;
    const c0 = cpuAt(windowStartUs);
    const c1 = cpuAt(windowStartUs + cfg.durationMs * 1000);
    const runMsg: WorkerRun = {
      type: 'run',
      mode: 'fixed',
      rate: cfg.rate,
      window: 1,
      startAtUs,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.durationMs,
      drainMs: 20_000,
      ackIntervalMs: 100,
      bodyBytes: 64,
    };
    const [r, a, b] = await Promise.all([request<WorkerResult>(worker, runMsg, 'result'), c0, c1]);
    const ack = new Histogram();
    ack.merge(r.ackLatency);
    const m = await platform.metrics();
    if (phase === 'after-send') {
      // Every event delivered before the figures are taken (at least once: the receiver may count more).
      const deadline = Date.now() + 30_000;
      while (
        receiver.counts.events < metricSum(await platform.metrics(), 'imcloud_webhook_events_published_total') &&
        Date.now() < deadline
      )
        await sleep(100);
    }
    return {
      phase,
      run,
      ack: ack.summaryMs(),
      ackedPerSec: round(r.ackedInWindow / (cfg.durationMs / 1000), 0),
      lost: r.lost,
      errors: r.errors,
      eventsReceived: receiver.counts.events,
      beforeSendCalls: receiver.counts.beforeSend,
      beforeSendOutcomes: Object.fromEntries(
        Object.entries(m)
          .filter(([k]) => k.startsWith('imcloud_webhook_before_send_seconds_count{'))
          .map(([k, v]) => [/outcome="([^"]+)"/.exec(k)?.[1] ?? k, v]),
      ),
      serverCpuPct: round((100 * (b.cpu - a.cpu)) / ((b.at - a.at) / 1e6), 1),
      ...(phase === 'after-send' && { eventsPublished: metricSum(m, 'imcloud_webhook_events_published_total') }),
    };
  } finally {
    if (worker?.connected) worker.send({ type: 'exit' });
    if (worker) await new Promise((r) => (worker!.exitCode !== null ? r(null) : worker!.once('exit', r)));
    await platform.stop();
    await new Promise((r) => receiver.server.close(r));
  }
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const bundle = bundleFacts();
  const probe = await machineProbe();
  progress(describeProbe(probe));
  progress(`webhooks: ${cfg.rate} msg/s over ${cfg.pairs} pairs; phases ${cfg.phases.join(', ')} alternating, ${cfg.runs} runs`);
  const all: RunFigures[] = [];
  for (let run = 1; run <= cfg.runs; run++) {
    for (const phase of cfg.phases) {
      progress(`webhooks ${phase} run ${run}/${cfg.runs}…`);
      const r = await runOnce(phase, run);
      all.push(r);
      progress(
        `  ack p50 ${r.ack.p50} p99 ${r.ack.p99} ms, acked ${r.ackedPerSec}/s, lost ${r.lost}, errors ${JSON.stringify(r.errors)}; receiver: ${r.beforeSendCalls} before-send calls (outcomes ${JSON.stringify(r.beforeSendOutcomes)}), ${r.eventsReceived} events; server CPU ${r.serverCpuPct}%`,
      );
    }
  }
  const phases = Object.fromEntries(
    cfg.phases.map((p) => {
      const runs = all.filter((r) => r.phase === p);
      return [
        p,
        {
          runs: runs.length,
          ackP50Ms: median(runs.map((r) => r.ack.p50)),
          ackP99Ms: median(runs.map((r) => r.ack.p99)),
          ackP99RangeMs: [Math.min(...runs.map((r) => r.ack.p99)), Math.max(...runs.map((r) => r.ack.p99))],
          ackedPerSec: median(runs.map((r) => r.ackedPerSec)),
          serverCpuPct: median(runs.map((r) => r.serverCpuPct)),
          lost: runs.reduce((s, r) => s + r.lost, 0),
        },
      ];
    }),
  );
  console.log(
    table(
      ['phase', 'ack p50 ms', 'ack p99 ms (range)', 'acked/s', 'server CPU %', 'lost'],
      Object.entries(phases).map(([p, s]) => [
        p,
        s.ackP50Ms,
        `${s.ackP99Ms} (${s.ackP99RangeMs.join('–')})`,
        s.ackedPerSec,
        s.serverCpuPct,
        s.lost,
      ]),
    ),
  );
  const file = writeResult(String(flags.out ?? 'webhooks'), { config: cfg, bundle, machine: machineFacts(), probe, phases, runs: all });
  progress(`wrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
