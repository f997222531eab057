import { describe, expect, it } from 'vitest';
import { FairScheduler } from './fair-scheduler.js';

/** A scheduler whose requests finish when the test says so. */
function harness(opts: { maxInFlight: number; maxQueued: number; minPerApp?: number }) {
  const started: string[] = [];
  const refused: string[] = [];
  const finishers = new Map<string, (err?: Error) => void>();
  const scheduler = new FairScheduler<string>({
    ...opts,
    minPerApp: opts.minPerApp ?? 1,
    run: (item) =>
      new Promise<void>((resolve, reject) => {
        started.push(item);
        finishers.set(item, (err) => (err ? reject(err) : resolve()));
      }),
    refuse: (item) => refused.push(item),
  });
  const finish = async (item: string, err?: Error) => {
    finishers.get(item)!(err);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { scheduler, started, refused, finish };
}

describe('FairScheduler', () => {
  it('serves apps in turn: a quiet app waits behind one request of a busy app, not behind its whole queue', async () => {
    const h = harness({ maxInFlight: 1, maxQueued: 100 });
    void h.scheduler.submit('noisy', 'n0');
    for (let i = 1; i <= 10; i++) void h.scheduler.submit('noisy', `n${i}`);
    void h.scheduler.submit('quiet', 'q1');
    void h.scheduler.submit('quiet', 'q2');
    await h.finish('n0');
    await h.finish('n1');
    await h.finish('q1');
    await h.finish('n2');
    expect(h.started).toEqual(['n0', 'n1', 'q1', 'n2', 'q2']);
  });

  it("refuses at once what does not fit in an app's share of the waiting room, and the others still get in", async () => {
    const h = harness({ maxInFlight: 1, maxQueued: 6 });
    void h.scheduler.submit('noisy', 'n0');
    for (let i = 1; i <= 6; i++) void h.scheduler.submit('noisy', `n${i}`);
    // Alone, the noisy app may use half the room (3): the other half stays free for a newcomer.
    expect(h.refused).toEqual(['n4', 'n5', 'n6']);
    // A second app gets in at once and the shares become thirds: the noisy app is over its share.
    void h.scheduler.submit('quiet', 'q1');
    void h.scheduler.submit('noisy', 'n7');
    expect(h.refused).toEqual(['n4', 'n5', 'n6', 'n7']);
    expect(h.scheduler.waiting).toBe(4);
  });

  it('settles each submission with its own outcome: a failure rejects (the bus delivers it again)', async () => {
    const h = harness({ maxInFlight: 1, maxQueued: 10 });
    const first = h.scheduler.submit('a', 'a1');
    const second = h.scheduler.submit('b', 'b1');
    await h.finish('a1', new Error('redis down'));
    await h.finish('b1');
    await expect(first).rejects.toThrow('redis down');
    await expect(second).resolves.toBeUndefined();
  });
});
