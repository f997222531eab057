// Collects items per key and sends each key's batch at the end of the event-loop turn, unless
// `maxInFlight` batches of that key still await their send: then it keeps collecting until one
// settles (or the batch is full). Idle, an item leaves in its own turn; under load batches grow
// with the time a send takes (a broker's confirm), as Nagle's algorithm grows TCP segments but
// without waiting for a delayed TCP ack. Used for bus publishes, where every message costs the
// broker and both ends a publish, a confirm, a delivery and an ack, and for the send path's Redis
// scripts (script-batcher.ts).

export interface TurnBatcherOptions<K, T> {
  /** Items of keys with the same id share batches. */
  idOf: (key: K) => string;
  /** Sends one batch (in the order added); settling it lets the key's next batch go. */
  send: (key: K, items: T[]) => Promise<void>;
  /** Items per batch at most. */
  maxItems: number;
  /** Bytes per batch at most, by sizeOf (a larger single item still goes, alone). */
  maxBytes?: number;
  sizeOf?: (item: T) => number;
  /** Batches of one key awaiting their send before the next one waits. */
  maxInFlight?: number;
  /**
   * Where a turn ends. 'immediate' (default): after this turn's I/O callbacks (setImmediate).
   * 'nextTick': once the current callback and its promise continuations are done, where the
   * Redis client uncorks its socket (turn-corked-redis.ts), so a batch joins the turn's write.
   */
  turnEnd?: 'immediate' | 'nextTick';
}

interface KeyState<K, T> {
  key: K;
  items: T[];
  bytes: number;
  inFlight: number;
}

export class TurnBatcher<K, T> {
  private readonly keys = new Map<string, KeyState<K, T>>();
  private scheduled = false;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;

  constructor(private readonly opts: TurnBatcherOptions<K, T>) {
    this.maxBytes = opts.maxBytes ?? Infinity;
    this.maxInFlight = opts.maxInFlight ?? 1;
  }

  add(key: K, item: T): void {
    const id = this.opts.idOf(key);
    let state = this.keys.get(id);
    if (!state) this.keys.set(id, (state = { key, items: [], bytes: 0, inFlight: 0 }));
    const size = this.opts.sizeOf?.(item) ?? 0;
    if (state.items.length > 0 && (state.items.length >= this.opts.maxItems || state.bytes + size > this.maxBytes))
      this.sendBatch(id, state);
    state.items.push(item);
    state.bytes += size;
    if (state.items.length >= this.opts.maxItems) this.sendBatch(id, state);
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.opts.turnEnd === 'nextTick') process.nextTick(() => this.endOfTurn());
      else setImmediate(() => this.endOfTurn());
    }
  }

  private endOfTurn(): void {
    this.scheduled = false;
    for (const [id, state] of this.keys) if (state.items.length > 0 && state.inFlight < this.maxInFlight) this.sendBatch(id, state);
  }

  private sendBatch(id: string, state: KeyState<K, T>): void {
    const items = state.items;
    state.items = [];
    state.bytes = 0;
    state.inFlight++;
    const settled = () => {
      state.inFlight--;
      if (state.items.length > 0 && state.inFlight < this.maxInFlight) this.sendBatch(id, state);
      else if (state.items.length === 0 && state.inFlight === 0) this.keys.delete(id);
    };
    let sending: Promise<void>;
    try {
      sending = this.opts.send(state.key, items);
    } catch (err) {
      sending = Promise.reject(err);
    }
    // The sender settles its items' callers; this only paces the key.
    sending.then(settled, settled);
  }
}
