// Idle-connection memory of the gate: N authenticated WebSocket connections with heartbeats on
// one gate process (`node bin/imcloud.js all`), against a bare `ws` server holding as many idle
// sockets (the baseline). Reports resident memory and V8 heap used, before and after, per
// connection.
//
//   npx tsx bench/idle-connections.ts [--n 19000] [--runs 3] [--per-gate 19000] [--clients auto]
//        [--hold 35] [--heartbeat 30000] [--addresses 127.0.0.2-127.0.0.9] [--no-baseline] [--no-build]
//
// Every process here may hold at most 20,000 open files, so the clients are spread over
// several processes (each < 19,000 sockets) and over several source addresses (the ephemeral
// ports, 32768–60999, are per address); above --per-gate connections, more gate processes run.
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import {
  bundleFacts,
  ensureBuilt,
  loadAverage,
  machineFacts,
  median,
  metricSum,
  num,
  openFilesOf,
  type PlatformProcess,
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
import type { IdleInit, IdleStats, IdleTarget } from './lib/idle-client.js';

const flags = parseFlags(process.argv.slice(2));
const N = num(flags, 'n', 19_000);
const PER_GATE = num(flags, 'per-gate', 19_000);
const HOLD_MS = num(flags, 'hold', 35) * 1000;
const HEARTBEAT_MS = num(flags, 'heartbeat', 30_000);
const MAX_PER_CLIENT = 4_800;
const CLIENTS = flags.clients && flags.clients !== 'auto' ? num(flags, 'clients', 4) : Math.max(2, Math.ceil(N / MAX_PER_CLIENT));
const CONCURRENCY = num(flags, 'concurrency', 64);
const RUNS = num(flags, 'runs', 3);
const SAMPLE_MS = 2_000;
export const TARGET_KB_PER_CONN = 8;

function addressRange(spec: string): string[] {
  const [from, to] = spec.split('-');
  const a = from!.split('.').map(Number);
  const last = to ? Number(to.split('.').pop()) : a[3]!;
  const out: string[] = [];
  for (let i = a[3]!; i <= last; i++) out.push(`${a[0]}.${a[1]}.${a[2]}.${i}`);
  return out;
}
const ADDRESSES = addressRange(String(flags.addresses ?? '127.0.0.2-127.0.0.9'));

if (Math.ceil(N / CLIENTS) >= 19_000)
  throw new Error(`--clients ${CLIENTS} would put ${Math.ceil(N / CLIENTS)} sockets in one process (limit ~19,000)`);
if (PER_GATE > 19_500) throw new Error('--per-gate above 19,500 cannot fit one process (20,000 open files)');

interface Server {
  pid: number;
  wsUrl: string;
  appId?: string;
  secret?: string;
  memory(): Promise<{ rss: number; heapUsed: number }>;
  /** Two full GCs in the server (SIGUSR2, bench/lib/gc-on-signal.cjs), then a second to settle. */
  collect(): Promise<void>;
  stop(): Promise<void>;
}

interface Side {
  kind: string;
  servers: number;
  connections: number;
  connectSeconds: number;
  before: { rssMb: number; heapUsedMb: number };
  after: { rssMb: number; heapUsedMb: number };
  perConnectionKb: { rss: number; heapUsed: number };
  /** The same, from samples taken during the hold without forcing a GC (noisier). */
  withoutForcedGc: { afterRssMb: number; rssKbPerConnection: number; heapKbPerConnection: number };
  pings: number;
  pongs: number;
  failed: number;
  unexpectedCloses: number;
  serverOpenFiles: number[];
  errors: Record<string, number>;
}

const GC_PRELOAD = join(ROOT, 'bench', 'lib', 'gc-on-signal.cjs');

async function imcloudGate(): Promise<Server> {
  const p: PlatformProcess = await startPlatform({
    nodeArgs: ['--require', GC_PRELOAD],
    env: {
      IMCLOUD_GATE_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
      IMCLOUD_GATE_IDLE_TIMEOUT_MS: String(Math.round(HEARTBEAT_MS * 2.5)),
      IMCLOUD_GATE_AUTH_TIMEOUT_MS: '30000',
      // The listener's cap (http.maxConnections, 18,000 by default) sized for this gate's share,
      // with room for the benchmark's own /metrics requests.
      IMCLOUD_HTTP_MAX_CONNECTIONS: String(PER_GATE + 1_000),
    },
  });
  const app = await p.createApp();
  return {
    pid: p.pid,
    wsUrl: p.wsUrl,
    appId: app.appId,
    secret: app.secret,
    async collect() {
      process.kill(p.pid, 'SIGUSR2');
      await sleep(1000);
    },
    async memory() {
      return { rss: rssOf(p.pid), heapUsed: metricSum(await p.metrics(), 'imcloud_process_nodejs_heap_size_used_bytes') };
    },
    stop: () => p.stop(),
  };
}

async function bareServer(): Promise<Server> {
  const child = fork(join(ROOT, 'bench', 'lib', 'bare-ws-server.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...process.execArgv, '--require', GC_PRELOAD],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { type: string; port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`bare ws server exited with ${code}`)));
  });
  return {
    pid: child.pid!,
    wsUrl: `ws://127.0.0.1:${port}/`,
    async collect() {
      process.kill(child.pid!, 'SIGUSR2');
      await sleep(1000);
    },
    async memory() {
      const m = await new Promise<{ rss: number; heapUsed: number }>((resolve) => {
        child.once('message', (x: { rss: number; heapUsed: number }) => resolve(x));
        child.send({ type: 'memory' });
      });
      return { rss: rssOf(child.pid!), heapUsed: m.heapUsed };
    },
    async stop() {
      child.send({ type: 'exit' });
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

/** Memory of every server: RSS from /proc, heap used from the process itself. */
async function sampleAll(servers: Server[]): Promise<Array<{ rss: number; heapUsed: number }>> {
  return Promise.all(servers.map((s) => s.memory()));
}

async function measure(kind: 'imcloud' | 'bare-ws'): Promise<Side> {
  const nServers = Math.ceil(N / PER_GATE);
  progress(`idle-connections [${kind}]: starting ${nServers} server process(es)`);
  const servers = await Promise.all(Array.from({ length: nServers }, () => (kind === 'imcloud' ? imcloudGate() : bareServer())));
  const clients: ChildProcess[] = [];
  try {
    await sleep(2000);
    // Before: after two full GCs, the median of a few samples.
    await Promise.all(servers.map((s) => s.collect()));
    const beforeSamples: Array<Array<{ rss: number; heapUsed: number }>> = [];
    for (let i = 0; i < 3; i++) {
      beforeSamples.push(await sampleAll(servers));
      await sleep(300);
    }
    const before = servers.map((_, i) => ({
      rss: median(beforeSamples.map((s) => s[i]!.rss)),
      heapUsed: median(beforeSamples.map((s) => s[i]!.heapUsed)),
    }));

    // Split N over the servers, then over the client processes.
    const perServer = servers.map((_, i) => Math.floor(N / nServers) + (i < N % nServers ? 1 : 0));
    const plans: IdleTarget[][] = Array.from({ length: CLIENTS }, () => []);
    servers.forEach((s, si) => {
      for (let c = 0; c < CLIENTS; c++) {
        const count = Math.floor(perServer[si]! / CLIENTS) + (c < perServer[si]! % CLIENTS ? 1 : 0);
        if (count > 0) plans[c]!.push({ wsUrl: s.wsUrl, appId: s.appId, secret: s.secret, count, userPrefix: `s${si}c${c}u` });
      }
    });
    const latest = new Map<ChildProcess, IdleStats>();
    const done: Array<Promise<void>> = [];
    const t0 = Date.now();
    for (const plan of plans) {
      if (plan.length === 0) continue;
      const child = fork(join(ROOT, 'bench', 'lib', 'idle-client.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      clients.push(child);
      done.push(
        new Promise((resolve, reject) => {
          child.on('message', (m: IdleStats | (Omit<IdleStats, 'type'> & { type: 'progress' | 'connected' })) => {
            latest.set(child, m as IdleStats);
            if (m.type === 'connected') resolve();
          });
          child.once('exit', (code) => reject(new Error(`idle client exited with ${code}`)));
        }),
      );
      child.send({ type: 'init', targets: plan, addresses: ADDRESSES, concurrency: CONCURRENCY } satisfies IdleInit);
    }
    const ticker = setInterval(() => {
      const s = [...latest.values()];
      progress(
        `  [${kind}] connected ${s.reduce((a, x) => a + x.open, 0)}/${N}${kind === 'imcloud' ? `, authenticated ${s.reduce((a, x) => a + x.authenticated, 0)}` : ''}, failed ${s.reduce((a, x) => a + x.failed, 0)}`,
      );
    }, 3000);
    await Promise.all(done);
    clearInterval(ticker);
    const connectSeconds = (Date.now() - t0) / 1000;
    progress(
      `  [${kind}] all connected in ${round(connectSeconds, 1)} s; holding ${HOLD_MS / 1000} s${kind === 'imcloud' ? ` (heartbeats every ${HEARTBEAT_MS / 1000} s)` : ''}`,
    );

    const holdSamples: Array<Array<{ rss: number; heapUsed: number }>> = [];
    const holdStart = Date.now();
    while (Date.now() - holdStart < HOLD_MS) {
      await sleep(SAMPLE_MS);
      holdSamples.push(await sampleAll(servers));
      if (holdSamples.length % 5 === 0) {
        const last = holdSamples[holdSamples.length - 1]!;
        progress(
          `  [${kind}] held ${Math.round((Date.now() - holdStart) / 1000)} s: server RSS ${last.map((m) => round(m.rss / 2 ** 20, 1)).join(', ')} MB`,
        );
      }
    }
    const openFiles = servers.map((s) => openFilesOf(s.pid));
    const stats = await Promise.all(
      clients.map(
        (c) =>
          new Promise<IdleStats>((resolve) => {
            const on = (m: IdleStats) => {
              if (m.type === 'stats') {
                c.off('message', on);
                resolve(m);
              }
            };
            c.on('message', on);
            c.send({ type: 'stats' });
          }),
      ),
    );
    // After, as it stood during the hold (no forced GC): RSS = median of the last 3 samples,
    // heap = the minimum over the hold.
    const tail = holdSamples.slice(-3);
    const afterRaw = servers.map((_, i) => ({
      rss: median(tail.map((s) => s[i]!.rss)),
      heapUsed: Math.min(...holdSamples.map((s) => s[i]!.heapUsed)),
    }));
    // After two full GCs, every connection still open: the figures reported.
    await Promise.all(servers.map((s) => s.collect()));
    const afterSamples: Array<Array<{ rss: number; heapUsed: number }>> = [];
    for (let i = 0; i < 3; i++) {
      afterSamples.push(await sampleAll(servers));
      await sleep(300);
    }
    const after = servers.map((_, i) => ({
      rss: median(afterSamples.map((s) => s[i]!.rss)),
      heapUsed: median(afterSamples.map((s) => s[i]!.heapUsed)),
    }));
    const sumOf = (xs: Array<{ rss: number; heapUsed: number }>, k: 'rss' | 'heapUsed') => xs.reduce((a, x) => a + x[k], 0);
    const connections = stats.reduce((a, s) => a + s.open, 0);
    const errors: Record<string, number> = {};
    for (const s of stats) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      kind,
      servers: nServers,
      connections,
      connectSeconds: round(connectSeconds, 1),
      before: { rssMb: round(sumOf(before, 'rss') / 2 ** 20, 1), heapUsedMb: round(sumOf(before, 'heapUsed') / 2 ** 20, 1) },
      after: { rssMb: round(sumOf(after, 'rss') / 2 ** 20, 1), heapUsedMb: round(sumOf(after, 'heapUsed') / 2 ** 20, 1) },
      perConnectionKb: {
        rss: round((sumOf(after, 'rss') - sumOf(before, 'rss')) / connections / 1024, 2),
        heapUsed: round((sumOf(after, 'heapUsed') - sumOf(before, 'heapUsed')) / connections / 1024, 2),
      },
      withoutForcedGc: {
        afterRssMb: round(sumOf(afterRaw, 'rss') / 2 ** 20, 1),
        rssKbPerConnection: round((sumOf(afterRaw, 'rss') - sumOf(before, 'rss')) / connections / 1024, 2),
        heapKbPerConnection: round((sumOf(afterRaw, 'heapUsed') - sumOf(before, 'heapUsed')) / connections / 1024, 2),
      },
      pings: stats.reduce((a, s) => a + s.pings, 0),
      pongs: stats.reduce((a, s) => a + s.pongs, 0),
      failed: stats.reduce((a, s) => a + s.failed, 0),
      unexpectedCloses: stats.reduce((a, s) => a + s.unexpectedCloses, 0),
      serverOpenFiles: openFiles,
      errors,
    };
  } finally {
    for (const c of clients) if (c.connected) c.send({ type: 'exit' });
    await Promise.all(clients.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Medians of every figure over the runs (failures and closes summed: each run must be clean). */
function medianSide(runs: Side[]): Side {
  const m = (f: (s: Side) => number) => round(median(runs.map(f)), 2);
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return {
    kind: runs[0]!.kind,
    servers: runs[0]!.servers,
    connections: Math.min(...runs.map((r) => r.connections)),
    connectSeconds: m((r) => r.connectSeconds),
    before: { rssMb: m((r) => r.before.rssMb), heapUsedMb: m((r) => r.before.heapUsedMb) },
    after: { rssMb: m((r) => r.after.rssMb), heapUsedMb: m((r) => r.after.heapUsedMb) },
    perConnectionKb: { rss: m((r) => r.perConnectionKb.rss), heapUsed: m((r) => r.perConnectionKb.heapUsed) },
    withoutForcedGc: {
      afterRssMb: m((r) => r.withoutForcedGc.afterRssMb),
      rssKbPerConnection: m((r) => r.withoutForcedGc.rssKbPerConnection),
      heapKbPerConnection: m((r) => r.withoutForcedGc.heapKbPerConnection),
    },
    pings: runs.reduce((a, r) => a + r.pings, 0),
    pongs: runs.reduce((a, r) => a + r.pongs, 0),
    failed: runs.reduce((a, r) => a + r.failed, 0),
    unexpectedCloses: runs.reduce((a, r) => a + r.unexpectedCloses, 0),
    serverOpenFiles: runs.flatMap((r) => r.serverOpenFiles),
    errors,
  };
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const bundle = bundleFacts();
  progress(`server bundle ${bundle.bundle} (sha256 ${bundle.sha256})`);
  const loadBefore = loadAverage();
  progress(
    `idle-connections: ${N} connections, ${CLIENTS} client processes, source addresses ${ADDRESSES[0]}–${ADDRESSES[ADDRESSES.length - 1]}, ≤ ${PER_GATE} per gate`,
  );
  const imcloudRuns: Side[] = [];
  const baselineRuns: Side[] = [];
  for (let run = 1; run <= RUNS; run++) {
    progress(`idle-connections run ${run}/${RUNS}`);
    imcloudRuns.push(await measure('imcloud'));
    if (flags['no-baseline'] !== true) baselineRuns.push(await measure('bare-ws'));
    const last = imcloudRuns[imcloudRuns.length - 1]!;
    const base = baselineRuns[baselineRuns.length - 1];
    progress(
      `  run ${run}: imcloud ${last.perConnectionKb.rss} KB RSS / ${last.perConnectionKb.heapUsed} KB heap per connection${base ? `; bare ws ${base.perConnectionKb.rss} / ${base.perConnectionKb.heapUsed}` : ''}`,
    );
  }
  const imcloud = medianSide(imcloudRuns);
  const baseline = baselineRuns.length > 0 ? medianSide(baselineRuns) : undefined;
  const ratio = baseline ? round(imcloud.perConnectionKb.rss / baseline.perConnectionKb.rss, 2) : undefined;
  const rows = [imcloud, ...(baseline ? [baseline] : [])].map((s) => [
    s.kind,
    s.connections,
    s.servers,
    s.before.rssMb,
    s.after.rssMb,
    s.perConnectionKb.rss,
    s.withoutForcedGc.rssKbPerConnection,
    s.before.heapUsedMb,
    s.after.heapUsedMb,
    s.perConnectionKb.heapUsed,
    s.connectSeconds,
    s.kind === 'imcloud' ? `${s.pongs}/${s.pings}` : '—',
    s.unexpectedCloses + s.failed,
  ]);
  console.log(
    `\nidle WebSocket connections (${N}; heartbeat ${HEARTBEAT_MS / 1000} s; held ${HOLD_MS / 1000} s; before/after measured after two full GCs; medians of ${RUNS} runs)`,
  );
  console.log(
    table(
      [
        'server',
        'connections',
        'processes',
        'RSS before MB',
        'RSS after MB',
        'RSS KB/conn',
        'RSS KB/conn (no forced GC)',
        'heap before MB',
        'heap after MB',
        'heap KB/conn',
        'connect s',
        'pongs/pings',
        'failed+closed',
      ],
      rows,
    ),
  );
  const met =
    imcloud.perConnectionKb.rss <= TARGET_KB_PER_CONN &&
    imcloud.failed === 0 &&
    imcloud.unexpectedCloses === 0 &&
    imcloud.connections === N;
  console.log(
    `\ntarget ≤ ${TARGET_KB_PER_CONN} KB RSS per connection: ${met ? 'met' : 'MISSED'} (${imcloud.perConnectionKb.rss} KB)${ratio ? `; imcloud/bare ws = ${ratio}×` : ''}`,
  );
  const file = writeResult('idle-connections', {
    benchmark: 'idle-connections',
    machine: { ...machineFacts(), server: bundle, loadAverageBefore: loadBefore },
    config: {
      connections: N,
      runs: RUNS,
      perGate: PER_GATE,
      clientProcesses: CLIENTS,
      addresses: ADDRESSES,
      holdMs: HOLD_MS,
      heartbeatMs: HEARTBEAT_MS,
      concurrency: CONCURRENCY,
      sampleMs: SAMPLE_MS,
      method:
        'before and after (connections still open): two full GCs in the server (SIGUSR2 → bench/lib/gc-on-signal.cjs), then the median of 3 samples; RSS from /proc/<pid>/status VmRSS, heap used from /metrics (imcloud) or process.memoryUsage (bare ws). withoutForcedGc: RSS median of the last 3 hold samples, heap minimum over the hold',
    },
    target: { rssKbPerConnection: TARGET_KB_PER_CONN, actual: imcloud.perConnectionKb.rss, met },
    imcloud,
    baseline,
    ratioToBareWs: ratio,
    runs: { imcloud: imcloudRuns, baseline: baselineRuns },
  });
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
