// `make bench`: runs every benchmark of the embedded mode one after the other (each in its own
// process, printing progress as it goes), then writes bench/results/summary.json and prints one
// table of the figures against their targets.
//
//   npx tsx bench/run.ts [--quick] [--only single-chat,overload,idle-connections,group-fanout,files] [--wait-quiet 300]
//
// --quick: 1 run of 8 s per phase, 5,000 idle connections and a 20 MiB file (a smoke test, not the figures).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFacts, ensureBuilt, machineFacts, parseFlags, progress, RESULTS_DIR, ROOT, table, writeResult } from './lib/common.js';
import { fileRows } from './lib/file-report.js';

const flags = parseFlags(process.argv.slice(2));
const quick = flags.quick === true;
const only = String(flags.only ?? 'single-chat,overload,idle-connections,group-fanout,files').split(',');

// --wait-quiet S: before each single-chat, overload and files run, wait up to S seconds for other processes to go quiet.
const waitQuiet =
  flags['wait-quiet'] !== undefined ? ['--wait-quiet', String(flags['wait-quiet'] === true ? 300 : flags['wait-quiet'])] : [];
const BENCHES: Record<string, string[]> = {
  'single-chat': [...(quick ? ['--runs', '1', '--duration', '8', '--warmup', '2'] : []), ...waitQuiet],
  overload: [...(quick ? ['--runs', '1', '--duration', '8', '--capacity-duration', '5', '--warmup', '2'] : []), ...waitQuiet],
  'idle-connections': quick ? ['--n', '5000', '--hold', '10', '--heartbeat', '5000', '--runs', '1'] : [],
  'group-fanout': quick ? ['--members', '1000', '--runs', '1', '--duration', '5', '--warmup', '1'] : [],
  files: [...(quick ? ['--size', '20', '--runs', '1', '--flash-n', '100'] : []), ...waitQuiet],
};

function runBench(name: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    progress(`▶ ${name} ${args.join(' ')}`);
    // The same tsx loader this process runs under (process.execArgv).
    const child = spawn(process.execPath, [...process.execArgv, join(ROOT, 'bench', `${name}.ts`), '--no-build', ...args], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    const ticker = setInterval(() => progress(`… ${name} still running (${Math.round((Date.now() - started) / 1000)} s)`), 60_000);
    child.once('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) {
        progress(`✔ ${name} done in ${Math.round((Date.now() - started) / 1000)} s`);
        resolve();
      } else reject(new Error(`${name} exited with ${code}`));
    });
  });
}

function readResult(name: string): any {
  return JSON.parse(readFileSync(join(RESULTS_DIR, `${name}.json`), 'utf8'));
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  // One snapshot of dist/imcloud.js for every benchmark (passed on in IMCLOUD_BENCH_BUNDLE).
  const bundle = bundleFacts();
  progress(`server bundle ${bundle.bundle} (sha256 ${bundle.sha256})`);
  const failures: string[] = [];
  for (const name of only) {
    if (!BENCHES[name]) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    try {
      await runBench(name, BENCHES[name]!);
    } catch (err) {
      failures.push(String(err));
      progress(`✘ ${String(err)}`);
    }
  }

  const rows: Array<Array<string | number>> = [];
  const summary: Record<string, unknown> = { machine: { ...machineFacts(), server: bundle }, quick, failures };
  const verdict = (met: boolean | undefined) => (met === undefined ? '—' : met ? 'met' : 'MISSED');
  if (only.includes('single-chat') && !failures.some((f) => f.includes('single-chat'))) {
    const r = readResult('single-chat');
    const fixed = r.phases.fixed;
    const sat = r.phases.saturation;
    summary.singleChat = { config: r.config, targets: r.targets, phases: r.phases, machineAtRun: r.machine };
    if (sat) {
      rows.push([
        'single chat: delivered/s at saturation',
        sat.deliveredPerSec,
        `≥ ${r.targets.saturationDeliveredPerSec.target}`,
        verdict(r.targets.saturationDeliveredPerSec.met),
      ]);
      rows.push(['  send→ack p50 / p99 at saturation (ms)', `${sat.ackP50Ms} / ${sat.ackP99Ms}`, '', '']);
      rows.push(['  send→delivered p50 / p99 at saturation (ms)', `${sat.deliverP50Ms} / ${sat.deliverP99Ms}`, '', '']);
      rows.push(['  server CPU per message at saturation (µs)', sat.serverCpuUsPerMsg, '', '']);
    }
    if (fixed) {
      rows.push([
        `single chat: send→delivered p99 at ${r.config.rate}/s offered (ms)`,
        fixed.deliverP99Ms,
        `≤ ${r.targets.fixedP99DeliverMs.target}`,
        verdict(r.targets.fixedP99DeliverMs.met),
      ]);
      rows.push([`  send→delivered p50 at ${r.config.rate}/s (ms)`, fixed.deliverP50Ms, '', '']);
      rows.push([`  send→ack p50 / p99 at ${r.config.rate}/s (ms)`, `${fixed.ackP50Ms} / ${fixed.ackP99Ms}`, '', '']);
      rows.push([`  delivered/s at ${r.config.rate}/s offered`, fixed.deliveredPerSec, '', '']);
    }
    const phases = Object.values(r.phases as Record<string, { lost: number; duplicates: number; unacked: number }>);
    const total = (k: 'lost' | 'duplicates' | 'unacked') => phases.reduce((s, p) => s + p[k], 0);
    rows.push([
      'single chat: lost / duplicated / unacked (all runs)',
      `${total('lost')} / ${total('duplicates')} / ${total('unacked')}`,
      '0 / 0 / 0',
      verdict(r.targets.exactlyOnce.met),
    ]);
    const other = Math.max(0, ...Object.values(r.phases as Record<string, { otherCpuPct: number }>).map((p) => p.otherCpuPct));
    rows.push(["  other processes' CPU during the runs (%, worst phase median)", other, '~0', other > 20 ? 'noisy machine' : 'quiet']);
  }
  if (only.includes('overload') && !failures.some((f) => f.includes('overload'))) {
    const r = readResult('overload');
    const s = r.summary;
    summary.overload = { config: r.config, targets: r.targets, summary: s, machineAtRun: r.machine };
    const pct = (x: number) => `${Math.round(1000 * x) / 10} %`;
    rows.push([
      `overload: delivered at ${r.config.factor}× capacity offered, share of capacity (${s.capacityPerSec}/s)`,
      `${pct(s.goodputOfCapacity)} (${s.goodputOfCapacityRange.map(pct).join('–')})`,
      `≥ ${pct(r.targets.goodputOfCapacity.target)}`,
      verdict(r.targets.goodputOfCapacity.met),
    ]);
    rows.push([
      '  … kept with the CPU the server had for the capacity (modelled from its CPU per message and per refusal)',
      pct(s.modelledGoodputOfCapacity),
      '',
      '',
    ]);
    rows.push([
      '  server CPU at capacity / overloaded; other processes overloaded (% of a core)',
      `${s.capacityServerCpuPct} / ${s.serverCpuPct}; ${s.otherCpuPct}`,
      '',
      s.otherCpuPct > 20 ? 'noisy machine' : 'quiet',
    ]);
    rows.push([
      '  refused: send→refusal p50 / p99 (ms)',
      `${s.refuseP50Ms} / ${s.refuseP99Ms}`,
      `p99 ≤ ${r.targets.refuseP99Ms.target}`,
      verdict(r.targets.refuseP99Ms.met),
    ]);
    rows.push([
      '  refused: code, share with a retry hint',
      `${s.errorCodes.join(', ')}, ${pct(s.refusedWithRetryHint)}`,
      'IM_UNAVAILABLE, 100 %',
      verdict(r.targets.refusedCode.met && r.targets.refusedWithRetryHint.met),
    ]);
    rows.push(['  accepted: send→ack p99 / send→delivered p99 (ms)', `${s.ackP99Ms} / ${s.deliverP99Ms}`, '', '']);
    rows.push([
      '  server RSS start / peak / end (MB, worst run)',
      `${s.serverRssMb.start} / ${s.serverRssMb.peak} / ${s.serverRssMb.end}`,
      '',
      '',
    ]);
  }
  if (only.includes('idle-connections') && !failures.some((f) => f.includes('idle-connections'))) {
    const r = readResult('idle-connections');
    summary.idleConnections = {
      config: r.config,
      target: r.target,
      imcloud: r.imcloud,
      baseline: r.baseline,
      ratioToBareWs: r.ratioToBareWs,
    };
    rows.push([
      `idle connections: gate RSS per connection (${r.imcloud.connections} conns, ${r.config.runs ?? 1} runs, KB)`,
      r.imcloud.perConnectionKb.rss,
      `≤ ${r.target.rssKbPerConnection}`,
      verdict(r.target.met),
    ]);
    rows.push(['  gate V8 heap per connection (KB)', r.imcloud.perConnectionKb.heapUsed, '', '']);
    if (r.baseline)
      rows.push([
        '  bare ws RSS / heap per connection (KB); ratio',
        `${r.baseline.perConnectionKb.rss} / ${r.baseline.perConnectionKb.heapUsed}; ${r.ratioToBareWs}×`,
        '',
        '',
      ]);
  }
  if (only.includes('group-fanout') && !failures.some((f) => f.includes('group-fanout')))
    groupRows(readResult('group-fanout'), rows, summary, verdict);
  if (only.includes('files') && !failures.some((f) => f.includes('files'))) {
    const r = readResult('files');
    summary.files = { config: r.config, targets: r.targets, transfer: r.transfer, flash: r.flash, machineAtRun: r.machine };
    rows.push(...fileRows(r));
  }
  const file = writeResult('summary', summary);
  console.log(`\nimcloud embedded-mode benchmarks${quick ? ' (QUICK: smoke-test settings, not the reported figures)' : ''}`);
  console.log(table(['figure', 'measured (median)', 'target', 'verdict'], rows));
  console.log(`summary: ${file}`);
  if (failures.length > 0) process.exit(1);
}

/** The group fan-out figures (bench/group-fanout.ts). */
function groupRows(
  r: any,
  rows: Array<Array<string | number>>,
  summary: Record<string, unknown>,
  verdict: (met: boolean | undefined) => string,
): void {
  const { saturation: sat, fixed } = r.phases;
  summary.groupFanout = { config: r.config, targets: r.targets, phases: r.phases, machineAtRun: r.machine };
  const members = r.config.members;
  if (sat) {
    rows.push([
      `group of ${members}: deliveries/s at saturation (${sat.diffusion} diffusion)`,
      `${sat.deliveriesPerSec} (${sat.deliveriesPerSecRange.join('–')})`,
      `≥ ${r.targets.saturationDeliveriesPerSec.target}`,
      verdict(r.targets.saturationDeliveriesPerSec.met),
    ]);
    rows.push(['  server CPU per delivery at saturation (µs)', sat.serverCpuUsPerDelivery, '', '']);
  }
  if (fixed) {
    rows.push([
      `group of ${members}: send → last member p99 at ${r.config.rate} msg/s (ms)`,
      `${fixed.lastMemberP99Ms} (${fixed.lastMemberP99RangeMs.join('–')})`,
      `≤ ${r.targets.fixedP99LastMemberMs.target}`,
      verdict(r.targets.fixedP99LastMemberMs.met),
    ]);
    rows.push(['  server RSS per member connection (KB)', fixed.serverRssPerConnectionKb, '', '']);
  }
  rows.push([
    `group of ${members}: lost / duplicated (all runs)`,
    `${r.targets.lost.actual} / ${r.targets.duplicated.actual}`,
    '0 / 0',
    '',
  ]);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
