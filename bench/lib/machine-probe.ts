// How fast this machine is at what the benchmarks lean on, measured in ~3 s before a
// benchmark runs and written into its results: a core's speed, a page fault, and a wake-up
// between two processes on one CPU and across CPUs. Machines of one kind differ here by
// several times (a virtual CPU that must be woken by another is the costly case), so figures
// from two machines compare only through these.
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median } from './common.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./machine-probe-child.cjs', import.meta.url));

export interface WakeFigure {
  /** One byte to another Node process over a pipe and back, wall time. */
  roundTripUs: number;
  /** CPU time both processes spent per round trip. */
  cpuUsPerRoundTrip: number;
}

export interface MachineProbe {
  /** A fixed integer loop (2·10^7 steps) on one core, median of 3. */
  coreLoopMs: number;
  /** First write to a fresh 4 KiB page (a page fault), median of 3 × 64 MiB. */
  pageTouchUs: number;
  /** Wake-ups between two processes pinned to CPU 0 and 0, and to CPU 0 and 1, median of 3 (null: no taskset, or CPU 0 or 1 not ours). */
  wake: { sameCpu: WakeFigure; crossCpu: WakeFigure } | null;
}

async function childJson<T>(command: string, args: string[]): Promise<T> {
  const { stdout } = await run(command, args, { timeout: 60_000 });
  return JSON.parse(stdout) as T;
}

/** Median of three pairs of processes, each timing `roundTrips` round trips. */
async function wake(from: number, to: number, roundTrips: number): Promise<WakeFigure> {
  const tries: WakeFigure[] = [];
  for (let i = 0; i < 3; i++)
    tries.push(
      await childJson<WakeFigure>('taskset', ['-c', String(from), process.execPath, CHILD, 'ping', String(to), String(roundTrips)]),
    );
  return { roundTripUs: median(tries.map((t) => t.roundTripUs)), cpuUsPerRoundTrip: median(tries.map((t) => t.cpuUsPerRoundTrip)) };
}

/** Whether this process may pin children to CPUs 0 and 1 (taskset installed, both CPUs allowed). */
export async function canPinTwo(): Promise<boolean> {
  if (cpus().length < 2) return false;
  const pin = (cpu: string) =>
    run('taskset', ['-c', cpu, 'true']).then(
      () => true,
      () => false,
    );
  return (await pin('0')) && (await pin('1'));
}

export async function machineProbe(opts: { roundTrips?: number } = {}): Promise<MachineProbe> {
  const roundTrips = opts.roundTrips ?? 2_000;
  const { coreLoopMs, pageTouchUs } = await childJson<{ coreLoopMs: number; pageTouchUs: number }>(process.execPath, [CHILD, 'core']);
  const pinned = await canPinTwo();
  return {
    coreLoopMs,
    pageTouchUs,
    wake: pinned ? { sameCpu: await wake(0, 0, roundTrips), crossCpu: await wake(0, 1, roundTrips) } : null,
  };
}

/** One line for a benchmark's progress output. */
export function describeProbe(p: MachineProbe): string {
  const r = (x: number, d = 1) => Number(x.toFixed(d));
  const wakeText = p.wake
    ? `; a wake-up round trip between two processes ${r(p.wake.sameCpu.roundTripUs)} µs on one CPU (${r(p.wake.sameCpu.cpuUsPerRoundTrip)} µs of CPU), ${r(p.wake.crossCpu.roundTripUs)} µs across CPUs (${r(p.wake.crossCpu.cpuUsPerRoundTrip)} µs of CPU)`
    : '';
  return `machine: a core runs the reference loop in ${r(p.coreLoopMs, 0)} ms; a page's first touch takes ${r(p.pageTouchUs, 2)} µs${wakeText}`;
}
