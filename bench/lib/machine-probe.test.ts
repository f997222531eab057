import { describe, expect, it } from 'vitest';
import { canPinTwo, describeProbe, machineProbe } from './machine-probe.js';

describe('machineProbe', () => {
  it('measures a core, a page fault and wake-ups on one CPU and across CPUs', async () => {
    const p = await machineProbe({ roundTrips: 100 });
    expect(p.coreLoopMs).toBeGreaterThan(0);
    expect(p.pageTouchUs).toBeGreaterThan(0);
    if (await canPinTwo()) {
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
