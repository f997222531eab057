// Reads a conversation's messages from the recent window first, then the durable store, and
// decides what a missing seq means: an empty slot (allocated, never acked, and older than the
// grace period) or still in flight (ask again later). A missing seq is judged only against later
// messages already in the durable store: the store is written in queue order, so an acked message
// that the window lost (Redis lost its data) is not called empty while the consumer has yet to
// write it (see docs/adr/0004-gaps-and-empty-slots.md).
import type { MessageStore } from '../ports/message-store.js';
import type { RecentWindow } from '../ports/recent-window.js';
import type { StoredMessage } from '../ports/stored-message.js';

/** How soon to ask again about a seq whose grace has passed while the store catches up. */
const RECHECK_MS = 500;

export type Slot = { seq: number; message: StoredMessage } | { seq: number; empty: true };

export interface RangeResult {
  /** Consecutive slots from `fromSeq`, stopping before the first seq still in flight. */
  slots: Slot[];
  /** > 0 when the range stopped early at a seq still in flight. */
  retryAfterMs: number;
}

export class MessageReader {
  constructor(
    private readonly window: RecentWindow,
    private readonly store: MessageStore,
    private readonly emptySlotGraceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async get(appId: string, conversation: string, seq: number): Promise<StoredMessage | null> {
    const [inWindow] = await this.window.range(appId, conversation, seq, seq);
    return inWindow ?? (await this.store.get(appId, conversation, seq));
  }

  /** Every seq in [fromSeq, toSeq] (toSeq ≤ the conversation's max seq), as messages or empty slots. */
  async range(appId: string, conversation: string, fromSeq: number, toSeq: number): Promise<RangeResult> {
    if (toSeq < fromSeq) return { slots: [], retryAfterMs: 0 };
    const found = new Map<number, StoredMessage>();
    for (const m of await this.window.range(appId, conversation, fromSeq, toSeq)) found.set(m.seq, m);
    const wanted = toSeq - fromSeq + 1;
    /** Seqs the store holds (the window may hold them too). */
    const stored = new Set<number>();
    if (found.size < wanted) {
      for (const m of await this.store.query(appId, conversation, { fromSeq, toSeq, limit: wanted })) {
        stored.add(m.seq);
        if (!found.has(m.seq)) found.set(m.seq, m);
      }
    }
    const slots: Slot[] = [];
    const now = this.now();
    // The next stored message after a missing seq was allocated later, so its timestamp is a
    // lower bound on the missing seq's age. The next message in the window only says when to ask
    // again.
    const bounds = new Map<number, { stored?: number; any?: number }>();
    let nextStoredTs: number | undefined;
    let nextTs: number | undefined;
    let lookedBeyond = false;
    for (let seq = toSeq; seq >= fromSeq; seq--) {
      const m = found.get(seq);
      if (m) {
        nextTs = m.ts;
        if (stored.has(seq)) nextStoredTs = m.ts;
        continue;
      }
      if (nextStoredTs === undefined && !lookedBeyond) {
        // Nothing stored above it in the range: the first stored message after the range bounds it.
        lookedBeyond = true;
        nextStoredTs = (await this.store.query(appId, conversation, { fromSeq: toSeq + 1, limit: 1 }))[0]?.ts;
      }
      bounds.set(seq, { stored: nextStoredTs, any: nextTs ?? nextStoredTs });
    }
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      const m = found.get(seq);
      if (m) {
        slots.push({ seq, message: m });
        continue;
      }
      const bound = bounds.get(seq)!;
      if (bound.stored !== undefined && now - bound.stored >= this.emptySlotGraceMs) {
        slots.push({ seq, empty: true });
        continue;
      }
      // In flight: ask again when the grace has passed, or soon when it has and the store has yet
      // to catch up.
      const since = bound.stored ?? bound.any;
      const wait = since === undefined ? this.emptySlotGraceMs : this.emptySlotGraceMs - (now - since);
      return { slots, retryAfterMs: Math.min(Math.max(wait, RECHECK_MS), this.emptySlotGraceMs) };
    }
    return { slots, retryAfterMs: 0 };
  }

  /** Real messages only (no empty slots), for history; ascending; at most `limit`. */
  async history(
    appId: string,
    conversation: string,
    q: { fromSeq: number; toSeq: number; fromTs?: number; toTs?: number; limit: number; newestFirst: boolean },
  ): Promise<{ messages: StoredMessage[]; hasMore: boolean }> {
    const byTs = (m: StoredMessage) => (q.fromTs === undefined || m.ts >= q.fromTs) && (q.toTs === undefined || m.ts <= q.toTs);
    const merged = new Map<number, StoredMessage>();
    const stored = await this.store.query(appId, conversation, {
      fromSeq: q.fromSeq,
      toSeq: q.toSeq,
      fromTs: q.fromTs,
      toTs: q.toTs,
      limit: q.limit + 1,
      newestFirst: q.newestFirst,
    });
    for (const m of stored) merged.set(m.seq, m);
    for (const m of await this.window.range(appId, conversation, q.fromSeq, q.toSeq)) {
      if (byTs(m)) merged.set(m.seq, m);
    }
    const all = [...merged.values()].sort((a, b) => a.seq - b.seq);
    if (all.length <= q.limit) return { messages: all, hasMore: false };
    return { messages: q.newestFirst ? all.slice(all.length - q.limit) : all.slice(0, q.limit), hasMore: true };
  }
}
