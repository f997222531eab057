// Reconnect delays: exponential backoff with full jitter (a uniformly random delay between 0
// and min(max, base·2^attempt)), so that thousands of clients dropped by one gate do not come
// back in lock-step. Dispatch may change base and max (its `reconnect` hint).

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Injectable for tests; returns [0, 1). */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private baseMs: number;
  private maxMs: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions) {
    this.baseMs = opts.baseMs;
    this.maxMs = opts.maxMs;
    this.random = opts.random ?? Math.random;
    this.check();
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The ceiling of the next delay. */
  get ceiling(): number {
    // 2^30 is far past any sane max; the cap keeps the multiplication finite.
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
  }

  setLimits(baseMs: number, maxMs: number): void {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.check();
  }

  /** The next delay; each call doubles the ceiling up to maxMs. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling);
    this.attempt += 1;
    return delay;
  }

  /** The next delay, but never shorter than what the server asked for (retry_after_ms). */
  nextAtLeast(minMs: number): number {
    return Math.max(minMs, this.next());
  }

  reset(): void {
    this.attempt = 0;
  }

  private check(): void {
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) {
      throw new RangeError(`backoff needs 0 < baseMs <= maxMs (got ${this.baseMs}, ${this.maxMs})`);
    }
  }
}
