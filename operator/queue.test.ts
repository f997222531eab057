import { describe, expect, it } from 'vitest';
import { WorkQueue } from './queue.js';

describe('WorkQueue', () => {
  it('merges events: a key queued many times is processed once', async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 5; i++) q.add('ns/a');
    q.add('ns/b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.length).toBe(0);
  });

  it('never hands the same key to two workers: an add during processing requeues it after done()', async () => {
    const q = new WorkQueue();
    q.add('k');
    const key = (await q.get())!;
    q.add('k'); // event while in flight
    q.add('k');
    expect(q.length).toBe(0);
    let second: string | undefined;
    const waiting = q.get().then((k) => (second = k));
    await new Promise((r) => setTimeout(r, 10));
    expect(second).toBeUndefined();
    q.done(key);
    await waiting;
    expect(second).toBe('k');
    q.done('k');
    expect(q.depth).toBe(0);
  });

  it('hands keys straight to waiting workers', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.add('x');
    expect(await got).toBe('x');
  });

  it('backs off exponentially per key and resets on forget()', () => {
    const q = new WorkQueue({ backoffBaseMs: 100, backoffMaxMs: 1000 });
    expect([q.nextBackoff('a'), q.nextBackoff('a'), q.nextBackoff('a'), q.nextBackoff('a'), q.nextBackoff('a')]).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(q.nextBackoff('b')).toBe(100);
    expect(q.retries('a')).toBe(5);
    q.forget('a');
    expect(q.nextBackoff('a')).toBe(100);
  });

  it('addRateLimited delivers the key after the backoff; the earliest schedule wins', async () => {
    const q = new WorkQueue({ backoffBaseMs: 30 });
    const t0 = Date.now();
    q.addRateLimited('a');
    q.addAfter('a', 5_000);
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('a');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('shutDown releases waiting workers', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('late');
    expect(q.length).toBe(0);
  });
});
