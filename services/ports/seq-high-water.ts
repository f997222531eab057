// The durable half of seq allocation (ADR 0009, ADR 0026): per conversation a high-water mark
// that only grows. A fast allocator whose counters may be lost (the Redis one) hands out seqs
// only from blocks reserved here, so every seq it ever issued is ≤ the mark, and a counter that
// vanished restarts above all of them: a seq is never issued twice.
//
// A port between adapters, not for roles: real-backends.ts gives the MongoDB one to the Redis
// allocator, and the Redis adapter's tests may give it the in-memory one.

export interface SeqHighWater {
  /**
   * Raises the conversation's mark by `size` (a new conversation starts at 0) and returns the
   * mark after the raise: the block mark−size+1 … mark belongs to this caller alone. Durable
   * once it resolves.
   *
   * The caller makes one conversation's reservations one at a time (the Redis allocator holds
   * the conversation's lock across reserve and install), but reservations that still overlap
   * (the lock was lost) must get blocks that do not overlap either, on every store: FerretDB
   * 1.x loses one of two overlapping `$inc`s, so its adapter inserts a document per block
   * (ADR 0027).
   */
  reserve(appId: string, conversation: string, size: number): Promise<number>;
}
