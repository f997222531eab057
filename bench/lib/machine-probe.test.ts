import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeProbe, machineProbe } from './machine-probe.js';

const canPin = (() => {
  try {
    for (const cpu of ['0', '1']) execFileSync('taskset', ['-c', cpu, 'true'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

describe('machineProbe', () => {
  it('measures a core, a page fault and wake-ups on one CPU and across CPUs', async () => {
    const p = await machineProbe({ roundTrips: 100 });
    expect(p.coreLoopMs).toBeGreaterThan(0);
    expect(p.pageTouchUs).toBeGreaterThan(0);
    if (canPin) {
      for (const w of [p.wake!.sameCpu, p.wake!.crossCpu]) {
        expect(w.roundTripUs).toBeGreaterThan(0);
        expect(Number.isFinite(w.roundTripUs)).toBe(true);
        // Both processes spend CPU on every round trip; some is always measured.
        expect(w.cpuUsPerRoundTrip).toBeGreaterThan(0);
      }
    } else {
      expect(p.wake).toBeNull();
    }
    expect(describeProbe(p)).toMatch(/^machine: a core runs the reference loop in \d+ ms; a page's first touch takes [\d.]+ µs/);
  });
});
