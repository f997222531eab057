// Per-conversation receive ordering. Messages may arrive out of order (two logic instances push
// concurrently), twice (a push and a sync page overlap, a broker redelivers) or not at all (a
// push was lost): the buffer hands them on exactly once and strictly in seq order, and names
// the gap that has to be pulled. Empty slots (a seq allocated but never acknowledged) move the
// cursor without producing a message.

export interface Sequenced {
  seq: number;
  /** The server reported this seq as an empty slot. */
  empty?: boolean;
}

/** An inclusive range of missing seqs. */
export interface Gap {
  from: number;
  to: number;
}

export class ReceiveBuffer<T extends Sequenced> {
  /** Arrived ahead of the cursor, waiting for the seqs before them. */
  private readonly ahead = new Map<number, T>();
  private _cursor: number;

  /**
   * @param cursor the highest seq already held (0: nothing yet).
   * @param onEmpty told of each empty slot as the cursor passes it.
   */
  constructor(
    cursor = 0,
    private readonly onEmpty?: (item: T) => void,
  ) {
    this._cursor = cursor;
  }

  /** Every seq up to the cursor has been handed on (or was an empty slot). */
  get cursor(): number {
    return this._cursor;
  }

  /** Messages held back because a seq before them is missing. */
  get waiting(): number {
    return this.ahead.size;
  }

  /** The highest seq this buffer knows to exist. */
  get highestSeen(): number {
    let max = this._cursor;
    for (const seq of this.ahead.keys()) if (seq > max) max = seq;
    return max;
  }

  /**
   * Takes messages in any order; returns those that are now next in line, in seq order, each
   * once. Duplicates (seq at or below the cursor, or already waiting) are dropped; empty slots
   * advance the cursor but are not returned.
   */
  add(items: Iterable<T>): T[] {
    for (const item of items) {
      if (!Number.isSafeInteger(item.seq) || item.seq <= this._cursor || this.ahead.has(item.seq)) continue;
      this.ahead.set(item.seq, item);
    }
    return this.drain();
  }

  /**
   * Moves the cursor forward without delivering what lies below: the server said that this
   * device's view of the conversation starts after `seq` (a new device only syncs the latest
   * messages). Returns what became deliverable.
   */
  skipTo(seq: number): T[] {
    if (seq <= this._cursor) return [];
    this._cursor = seq;
    for (const s of [...this.ahead.keys()]) if (s <= seq) this.ahead.delete(s);
    return this.drain();
  }

  /**
   * The first missing range: from the cursor up to the first waiting message, or, when nothing
   * waits, up to `knownMaxSeq` (e.g. a conversation summary said more exists). Null: no gap.
   */
  gap(knownMaxSeq = 0): Gap | null {
    if (this.ahead.size > 0) {
      let first = Infinity;
      for (const seq of this.ahead.keys()) if (seq < first) first = seq;
      return { from: this._cursor + 1, to: first - 1 };
    }
    return knownMaxSeq > this._cursor ? { from: this._cursor + 1, to: knownMaxSeq } : null;
  }

  private drain(): T[] {
    const out: T[] = [];
    for (;;) {
      const next = this.ahead.get(this._cursor + 1);
      if (!next) return out;
      this.ahead.delete(next.seq);
      this._cursor = next.seq;
      if (!next.empty) out.push(next);
      else this.onEmpty?.(next);
    }
  }
}
