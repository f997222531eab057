import { describe, expect, it } from 'vitest';
import { recommend, Stabilizer, type ScalePolicy } from './scaling.js';

const policy: ScalePolicy = { minReplicas: 1, maxReplicas: 10, target: 100, stabilizationWindowSeconds: 60, maxStepUp: 3, maxStepDown: 1 };

describe('recommend', () => {
  it('divides the load by the per-pod target, rounding up, within bounds', () => {
    expect(recommend(0, policy)).toBe(1);
    expect(recommend(100, policy)).toBe(1);
    expect(recommend(101, policy)).toBe(2);
    expect(recommend(950, policy)).toBe(10);
    expect(recommend(50_000, policy)).toBe(10);
  });
});

describe('Stabilizer', () => {
  it('scales up at once, by at most maxStepUp per decision', () => {
    const s = new Stabilizer();
    const d1 = s.decide('k', 1, 900, policy, 0);
    expect(d1.replicas).toBe(4);
    expect(d1.recommended).toBe(9);
    expect(d1.reason).toContain('step limited to +3');
    expect(s.decide('k', 4, 900, policy, 1000).replicas).toBe(7);
    expect(s.decide('k', 7, 900, policy, 2000).replicas).toBe(9);
    expect(s.decide('k', 9, 900, policy, 3000).replicas).toBe(9);
  });

  it('does not scale down before it has watched a whole window, then steps down by maxStepDown', () => {
    const s = new Stabilizer();
    expect(s.decide('k', 5, 100, policy, 0).replicas).toBe(5);
    expect(s.decide('k', 5, 100, policy, 30_000).replicas).toBe(5);
    // A whole window observed, and all recommendations in it say 1: one pod at a time.
    expect(s.decide('k', 5, 100, policy, 60_001).replicas).toBe(4);
    expect(s.decide('k', 4, 100, policy, 75_000).replicas).toBe(3);
  });

  it('scale-down goes only to the highest recommendation within the window (a brief dip does not flap)', () => {
    const s = new Stabilizer();
    const p = { ...policy, maxStepDown: 10 };
    s.decide('k', 6, 600, p, 0);
    s.decide('k', 6, 600, p, 50_000);
    // Load drops: the window still remembers 6 pods of need.
    expect(s.decide('k', 6, 100, p, 70_000).replicas).toBe(6);
    expect(s.decide('k', 6, 100, p, 100_000).replicas).toBe(6);
    // After the window has passed the last high value, it shrinks to the window's max.
    s.decide('k', 6, 300, p, 112_000);
    expect(s.decide('k', 6, 100, p, 115_000).replicas).toBe(3);
  });

  it('moves to new bounds at once', () => {
    const s = new Stabilizer();
    expect(s.decide('k', 12, 0, policy, 0).replicas).toBe(10);
    expect(s.decide('j', 0, 0, { ...policy, minReplicas: 3 }, 0).replicas).toBe(3);
  });

  it('keeps history per key and forgets by prefix', () => {
    const s = new Stabilizer();
    s.decide('ns/a-gate', 5, 500, policy, 0);
    s.decide('ns/b-gate', 5, 500, policy, 0);
    s.forget('ns/a-');
    // a's window starts over: no scale-down for a whole window again
    expect(s.decide('ns/a-gate', 5, 100, policy, 70_000).replicas).toBe(5);
    expect(s.decide('ns/b-gate', 5, 100, policy, 70_000).replicas).toBe(4);
  });
});
