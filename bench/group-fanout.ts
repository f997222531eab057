// Group fan-out benchmark: one group of --members members, all online over WebSocket from forked
// member processes (bench/lib/group-worker.ts), one sender; every message is stored and
// seq-ordered like any other. The embedded mode (`node bin/imcloud.js all` in its own process),
// or with --dist the layout of `make run-dist` with the members spread over both gates.
//
//   npx tsx bench/group-fanout.ts [--members 5000] [--workers 2] [--rate 10] [--window 4]
//        [--duration 20] [--warmup 3] [--runs 3] [--phases fixed,saturation] [--ack-interval 1000]
//        [--diffusion-max N] [--drain 30] [--dist] [--out group-fanout] [--profile] [--no-build]
//
// Phase "fixed": --rate messages/s offered; latency is from a message's send to the LAST member's
// receipt. Phase "saturation": --window unacknowledged sends outstanding. Deliveries are member
// receipts; lost = members × messages − receipts, for the messages sent in the window.
// --diffusion-max sets the app's write-diffusion threshold (ADR 0030): above the member count the
// group runs write diffusion, below it read diffusion (the default threshold is 500).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../protocol/frame-codec.js';
import {
  bundleFacts,
  cpuSecondsOf,
  ensureBuilt,
  Histogram,
  LOAD_GENERATOR_ENV,
  machineFacts,
  median,
  nowUs,
  num,
  parseFlags,
  progress,
  RESULTS_DIR,
  ROOT,
  round,
  sleep,
  table,
  writeResult,
} from './lib/common.js';
import { summarizeProfile } from './lib/cpu-profile.js';
import { distributedTarget, embeddedTarget, type GroupTarget, rssOfAll } from './lib/group-target.js';
import type { GroupWorkerInit, GroupWorkerResult } from './lib/group-worker.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';
import { request } from './lib/worker-ipc.js';
import { connectAndAuth } from './lib/ws-client.js';

const flags = parseFlags(process.argv.slice(2));
const cfg = {
  members: num(flags, 'members', 5_000),
  workers: num(flags, 'workers', 2),
  rate: num(flags, 'rate', 10),
  window: num(flags, 'window', 4),
  durationMs: num(flags, 'duration', 20) * 1000,
  warmupMs: num(flags, 'warmup', 3) * 1000,
  runs: num(flags, 'runs', 3),
  phases: String(flags.phases ?? 'fixed,saturation').split(',') as Array<'fixed' | 'saturation'>,
  ackIntervalMs: num(flags, 'ack-interval', 1000),
  drainMs: num(flags, 'drain', 30) * 1000,
  diffusionMax: flags['diffusion-max'] === undefined ? undefined : num(flags, 'diffusion-max', 500),
  bodyBytes: 64,
  out: String(flags.out ?? 'group-fanout'),
  /** A CPU profile of the server per run, summarized into the result (bench/lib/cpu-profile.ts). */
  profile: flags.profile === true,
  /** The distributed layout instead of the embedded mode. */
  dist: flags.dist === true,
};
/** Anchor (Centrifugo, pure fan-out, same machine) and targets: issue text, bench/README.md. */
export const TARGETS = { saturationDeliveriesPerSec: 131_000, fixedP99LastMemberMs: 250 };
const GROUP = 'bench-group';
const CONVERSATION = `g:${GROUP}`;

interface Sender {
  ws: WebSocket;
  acked: number;
  outstanding: number;
  onAck?: () => void;
}

async function admin(p: GroupTarget, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${p.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The group, owned by "sender", with m0 … m<members-1>, 500 users a change (the default cap). */
async function createGroup(p: GroupTarget, appId: string): Promise<string> {
  const ids = Array.from({ length: cfg.members }, (_, i) => `m${i}`);
  await admin(p, 'POST', `/v1/apps/${appId}/groups`, { groupId: GROUP, name: 'bench', owner: 'sender', members: ids.slice(0, 499) });
  for (let i = 499; i < ids.length; i += 500)
    await admin(p, 'POST', `/v1/apps/${appId}/groups/${GROUP}/members`, { userIds: ids.slice(i, i + 500) });
  return String((await admin(p, 'GET', `/v1/apps/${appId}/groups/${GROUP}`)).diffusion);
}

function send(s: Sender, n: number): void {
  const body = Buffer.alloc(cfg.bodyBytes);
  body.writeDoubleLE(nowUs(), 0);
  s.outstanding++;
  s.ws.send(
    encodeFrame({ reqId: n + 1, send: { clientMsgId: `b${Date.now().toString(36)}.${n}`, groupId: GROUP, contentType: 'bytes', body } }),
  );
}

/** Sends for warmup + duration: at --rate (fixed) or keeping --window outstanding (saturation). */
async function sendPhase(s: Sender, phase: 'fixed' | 'saturation'): Promise<number> {
  const end = Date.now() + cfg.warmupMs + cfg.durationMs;
  let n = 0;
  if (phase === 'fixed') {
    const start = Date.now();
    while (Date.now() < end) {
      send(s, n++);
      await sleep(Math.max(0, start + (n * 1000) / cfg.rate - Date.now()));
    }
    return n;
  }
  await new Promise<void>((resolve) => {
    s.onAck = () => {
      if (Date.now() >= end) return s.outstanding === 0 && resolve();
      while (s.outstanding < cfg.window) send(s, n++);
    };
    while (s.outstanding < cfg.window) send(s, n++);
  });
  return n;
}

function forkWorker(): ChildProcess {
  return fork(join(ROOT, 'bench', 'lib', 'group-worker.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

interface RunFigures {
  phase: string;
  run: number;
  diffusion: string;
  messagesPerSec: number;
  /** Group messages the consumers stored per second over the window. */
  persistedPerSec: number;
  deliveriesPerSec: number;
  lastMember: ReturnType<Histogram['summaryMs']>;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  errors: Record<string, number>;
  serverCpuPct: number;
  serverCpuUsPerDelivery: number;
  clientCpuPct: number;
  serverRssPerConnectionKb: number;
  profile?: ReturnType<typeof summarizeProfile>;
}

/** Every worker's counts, once the messages acked have reached every member (or the drain time is up). */
async function collect(workers: ChildProcess[], acked: number): Promise<GroupWorkerResult[]> {
  const deadline = Date.now() + cfg.drainMs;
  for (;;) {
    const results = await Promise.all(workers.map((w) => request<GroupWorkerResult>(w, { type: 'collect' }, 'result')));
    const receipts = results.reduce((n, r) => n + r.counts.reduce((a, b) => a + b, 0), 0);
    if (receipts >= acked * cfg.members || Date.now() > deadline) return results;
    await sleep(500);
  }
}

/** Per seq over all workers: receipts, the last receipt and the send time. */
function merge(results: GroupWorkerResult[]): Map<number, { count: number; lastAtUs: number; sentAtUs: number }> {
  const bySeq = new Map<number, { count: number; lastAtUs: number; sentAtUs: number }>();
  for (const r of results) {
    r.seqs.forEach((seq, i) => {
      const s = bySeq.get(seq) ?? { count: 0, lastAtUs: 0, sentAtUs: r.sentAtUs[i]! };
      s.count += r.counts[i]!;
      s.lastAtUs = Math.max(s.lastAtUs, r.lastAtUs[i]!);
      bySeq.set(seq, s);
    });
  }
  return bySeq;
}

async function startMembers(platform: GroupTarget, app: { appId: string; secret: string }): Promise<ChildProcess[]> {
  const workers: ChildProcess[] = [];
  const per = Math.ceil(cfg.members / cfg.workers);
  for (let w = 0; w < cfg.workers; w++) {
    const child = forkWorker();
    workers.push(child);
    const init: GroupWorkerInit = {
      type: 'init',
      wsUrl: platform.wsUrls[w % platform.wsUrls.length]!,
      appId: app.appId,
      secret: app.secret,
      from: w * per,
      to: Math.min(cfg.members, (w + 1) * per),
      conversation: CONVERSATION,
      ackIntervalMs: cfg.ackIntervalMs,
    };
    await request(child, init, 'ready');
    progress(`group-fanout: ${init.to} of ${cfg.members} members online`);
  }
  return workers;
}

async function runOnce(phase: 'fixed' | 'saturation', run: number): Promise<RunFigures> {
  const profileDir = join(RESULTS_DIR, 'profiles', `group-fanout-${phase}-${run}`);
  if (cfg.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  const env = {
    ...LOAD_GENERATOR_ENV,
    IMCLOUD_LOG_LEVEL: 'warn',
    IMCLOUD_GATE_MAX_CONNECTIONS_PER_IP: '1000000',
    IMCLOUD_LOGIC_GROUP_MAX_MEMBERS: String(cfg.members + 10),
    ...(cfg.diffusionMax !== undefined && { IMCLOUD_LOGIC_GROUP_WRITE_DIFFUSION_MAX: String(cfg.diffusionMax) }),
  };
  const nodeArgs = cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const platform = await (cfg.dist ? distributedTarget(env, nodeArgs) : embeddedTarget(env, nodeArgs));
  let workers: ChildProcess[] = [];
  let sender: WebSocket | undefined;
  try {
    const app = await platform.createApp();
    const diffusion = await createGroup(platform, app.appId);
    const rssBefore = rssOfAll(platform.gatePids);
    workers = await startMembers(platform, app);
    const rssPerConnection = (rssOfAll(platform.gatePids) - rssBefore) / cfg.members;
    sender = await connectAndAuth({ wsUrl: platform.wsUrls[0]!, appId: app.appId, secret: app.secret, userId: 'sender' });
    const s: Sender = { ws: sender, acked: 0, outstanding: 0 };
    const errors: Record<string, number> = {};
    sender.on('message', (data: Buffer) => {
      const f = decodeFrame(data);
      if (f.body !== 'sendAck' && f.body !== 'error') return;
      if (f.body === 'sendAck') s.acked++;
      else {
        const code = f.error?.code ?? 'unknown';
        errors[code] = (errors[code] ?? 0) + 1;
      }
      s.outstanding--;
      s.onAck?.();
    });
    const windowStartUs = nowUs() + cfg.warmupMs * 1000;
    const windowEndUs = windowStartUs + cfg.durationMs * 1000;
    const cpuAt = async (us: number) => {
      await sleep(Math.max(0, (us - nowUs()) / 1000));
      return {
        server: platform.pids.reduce((t, pid) => t + cpuSecondsOf(pid), 0),
        clients: workers.reduce((t, c) => t + cpuSecondsOf(c.pid!), 0),
        stored: await platform.stored(),
        at: nowUs(),
      };
    };
    const [c0, c1] = [cpuAt(windowStartUs), cpuAt(windowEndUs)];
    progress(`group-fanout: ${phase} run ${run}: ${diffusion} diffusion, ${cfg.warmupMs / 1000} s warm-up + ${cfg.durationMs / 1000} s`);
    await sendPhase(s, phase);
    const [cpu0, cpu1] = await Promise.all([c0, c1]);
    const bySeq = merge(await collect(workers, s.acked));
    const inWindow = [...bySeq.values()].filter((m) => m.sentAtUs >= windowStartUs && m.sentAtUs < windowEndUs);
    const last = new Histogram();
    for (const m of inWindow) last.record(m.lastAtUs - m.sentAtUs);
    const deliveries = inWindow.reduce((n, m) => n + m.count, 0);
    const secs = cfg.durationMs / 1000;
    const wallSecs = (cpu1.at - cpu0.at) / 1e6;
    const results = await Promise.all(workers.map((w) => request<GroupWorkerResult>(w, { type: 'collect' }, 'result')));
    return {
      phase,
      run,
      diffusion,
      messagesPerSec: round(inWindow.length / secs, 1),
      persistedPerSec: round((cpu1.stored - cpu0.stored) / secs, 1),
      deliveriesPerSec: round(deliveries / secs, 0),
      lastMember: last.summaryMs(),
      lost: inWindow.length * cfg.members - deliveries,
      duplicates: results.reduce((n, r) => n + r.duplicates, 0),
      outOfOrder: results.reduce((n, r) => n + r.outOfOrder, 0),
      errors,
      serverCpuPct: round((100 * (cpu1.server - cpu0.server)) / wallSecs, 1),
      serverCpuUsPerDelivery: round((1e6 * (cpu1.server - cpu0.server)) / Math.max(1, deliveries * (wallSecs / secs)), 2),
      clientCpuPct: round((100 * (cpu1.clients - cpu0.clients)) / wallSecs, 1),
      serverRssPerConnectionKb: round(rssPerConnection / 1024, 1),
    };
  } finally {
    sender?.close();
    for (const c of workers) if (c.connected) c.send({ type: 'exit' });
    await Promise.all(workers.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await platform.stop();
  }
}

function summarize(runs: RunFigures[]) {
  const m = (f: (r: RunFigures) => number) => median(runs.map(f));
  return {
    runs: runs.length,
    diffusion: runs[0]?.diffusion,
    messagesPerSec: m((r) => r.messagesPerSec),
    persistedPerSec: m((r) => r.persistedPerSec),
    deliveriesPerSec: m((r) => r.deliveriesPerSec),
    deliveriesPerSecRange: [Math.min(...runs.map((r) => r.deliveriesPerSec)), Math.max(...runs.map((r) => r.deliveriesPerSec))],
    lastMemberP50Ms: m((r) => r.lastMember.p50),
    lastMemberP99Ms: m((r) => r.lastMember.p99),
    lastMemberP99RangeMs: [Math.min(...runs.map((r) => r.lastMember.p99)), Math.max(...runs.map((r) => r.lastMember.p99))],
    lost: runs.reduce((n, r) => n + r.lost, 0),
    duplicates: runs.reduce((n, r) => n + r.duplicates, 0),
    outOfOrder: runs.reduce((n, r) => n + r.outOfOrder, 0),
    serverCpuPct: m((r) => r.serverCpuPct),
    serverCpuUsPerDelivery: m((r) => r.serverCpuUsPerDelivery),
    clientCpuPct: m((r) => r.clientCpuPct),
    serverRssPerConnectionKb: m((r) => r.serverRssPerConnectionKb),
  };
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const probe = await machineProbe();
  progress(`machine: ${describeProbe(probe)}`);
  const phases: Record<string, ReturnType<typeof summarize> & { all: RunFigures[] }> = {};
  for (const phase of cfg.phases) {
    const runs: RunFigures[] = [];
    for (let run = 1; run <= cfg.runs; run++) {
      const r = await runOnce(phase, run);
      if (cfg.profile) {
        const dir = join(RESULTS_DIR, 'profiles', `group-fanout-${phase}-${run}`);
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (file) r.profile = summarizeProfile(join(dir, file), 25);
      }
      progress(
        `group-fanout: ${phase} run ${run}: ${r.deliveriesPerSec} deliveries/s (${r.messagesPerSec} msg/s), last member p99 ${r.lastMember.p99} ms, ` +
          `lost ${r.lost}, duplicated ${r.duplicates}, server ${r.serverCpuPct} % CPU, ${r.serverCpuUsPerDelivery} µs/delivery`,
      );
      runs.push(r);
    }
    phases[phase] = { ...summarize(runs), all: runs };
  }
  const sat = phases.saturation;
  const fixed = phases.fixed;
  const targets = {
    saturationDeliveriesPerSec: {
      target: TARGETS.saturationDeliveriesPerSec,
      actual: sat?.deliveriesPerSec,
      met: sat ? sat.deliveriesPerSec >= TARGETS.saturationDeliveriesPerSec : undefined,
    },
    fixedP99LastMemberMs: {
      target: TARGETS.fixedP99LastMemberMs,
      actual: fixed?.lastMemberP99Ms,
      met: fixed ? fixed.lastMemberP99Ms <= TARGETS.fixedP99LastMemberMs : undefined,
    },
    lost: { target: 0, actual: Object.values(phases).reduce((n, p) => n + p.lost, 0) },
    duplicated: { target: 0, actual: Object.values(phases).reduce((n, p) => n + p.duplicates, 0) },
  };
  const layout = cfg.dist ? 'gate×2 logic×2 consumer×2 dispatch admin' : 'embedded';
  const file = writeResult(cfg.out, {
    machine: { ...machineFacts(), probe, server: bundleFacts() },
    config: { ...cfg, layout },
    targets,
    phases,
  });
  const rows = Object.entries(phases).map(([name, p]) => [
    name,
    p.diffusion ?? '',
    p.messagesPerSec,
    p.persistedPerSec,
    p.deliveriesPerSec,
    p.lastMemberP99Ms,
    p.lost,
    p.duplicates,
    p.serverCpuUsPerDelivery,
    p.serverRssPerConnectionKb,
  ]);
  console.log(
    table(
      [
        'phase',
        'diffusion',
        'msg/s',
        'persisted/s',
        'deliveries/s',
        'p99 last member ms',
        'lost',
        'dup',
        'server µs/delivery',
        'server KB/conn',
      ],
      rows,
    ),
  );
  progress(`group-fanout: wrote ${file}`);
  if (targets.lost.actual !== 0 || targets.duplicated.actual !== 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
