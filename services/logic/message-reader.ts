// Reads a conversation's messages from the recent window first, then the durable store, and
// decides what a missing seq means: an empty slot (allocated, never acked, and older than the
// grace period) or still in flight (ask again later). An acked message is in the window or the
// store, so it is never reported empty (see docs/adr/0004-gaps-and-empty-slots.md).
import type { MessageStore } from '../ports/message-store.js';
import type { RecentWindow } from '../ports/recent-window.js';
import type { StoredMessage } from '../ports/stored-message.js';

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
    if (found.size < wanted) {
      for (const m of await this.store.query(appId, conversation, { fromSeq, toSeq, limit: wanted })) {
        if (!found.has(m.seq)) found.set(m.seq, m);
      }
    }
    const slots: Slot[] = [];
    const now = this.now();
    // The next present message after a missing seq was allocated later, so its timestamp is a
    // lower bound on the missing seq's age.
    let nextPresentTs: number | undefined;
    const ageBound = new Map<number, number | undefined>();
    // Missing seqs at the end of the range: the next message after the range bounds their age.
    if (!found.has(toSeq)) nextPresentTs = (await this.firstAfter(appId, conversation, toSeq))?.ts;
    for (let seq = toSeq; seq >= fromSeq; seq--) {
      const m = found.get(seq);
      if (m) nextPresentTs = m.ts;
      else ageBound.set(seq, nextPresentTs);
    }
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      const m = found.get(seq);
      if (m) {
        slots.push({ seq, message: m });
        continue;
      }
      const laterTs = ageBound.get(seq);
      if (laterTs !== undefined && now - laterTs >= this.emptySlotGraceMs) {
        slots.push({ seq, empty: true });
        continue;
      }
      const wait = laterTs === undefined ? this.emptySlotGraceMs : this.emptySlotGraceMs - (now - laterTs);
      return { slots, retryAfterMs: Math.max(100, Math.min(wait, this.emptySlotGraceMs)) };
    }
    return { slots, retryAfterMs: 0 };
  }

  /** The message with the smallest seq above `seq`, if any. */
  private async firstAfter(appId: string, conversation: string, seq: number): Promise<StoredMessage | undefined> {
    const [stored] = await this.store.query(appId, conversation, { fromSeq: seq + 1, limit: 1 });
    const recent = await this.window.range(appId, conversation, seq + 1, stored ? stored.seq : Number.MAX_SAFE_INTEGER);
    return recent[0] ?? stored;
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
      fromSeq: q.fromSeq, toSeq: q.toSeq, fromTs: q.fromTs, toTs: q.toTs, limit: q.limit + 1, newestFirst: q.newestFirst,
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
