// A rate-limited work queue of object keys, with client-go's guarantees:
// - a key is queued at most once however many events arrive for it (events merge);
// - a key is never processed by two workers at once: added while in flight, it is queued again
//   when the worker calls done();
// - failures requeue with per-key exponential backoff (base · 2^failures, capped) until forget().

export interface QueueOpts {
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;

  constructor(private readonly opts: QueueOpts = {}) {}

  /** Keys waiting to be processed (not counting delayed ones). */
  get length(): number {
    return this.queue.length;
  }

  /** Keys waiting, in flight or scheduled: what the queue-depth metric shows. */
  get depth(): number {
    return new Set([...this.queue, ...this.processing, ...this.timers.keys()]).size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  /** Adds the key after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** The backoff for the key's next retry (and counts the failure). */
  nextBackoff(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const base = this.opts.backoffBaseMs ?? 1000;
    return Math.min(this.opts.backoffMaxMs ?? 300_000, base * 2 ** Math.min(n, 20));
  }

  addRateLimited(key: string): number {
    const delay = this.nextBackoff(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Failures recorded for the key since the last forget(). */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resets the key's backoff (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; workers waiting in get() receive undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get inFlight(): number {
    return this.processing.size;
  }
}
