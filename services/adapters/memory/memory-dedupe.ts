import type { Dedupe, DedupeClaim, SendAckRecord, SeqDraw } from '../../ports/dedupe.js';
import type { MemorySeqAllocator } from './memory-seq-allocator.js';

interface DedupeRecord {
  leaseUntil: number;
  expiresAt: number;
  message?: Uint8Array;
  /** Set when `message` is a draft recorded by a claim with a SeqDraw. */
  seq?: number;
  ack?: SendAckRecord;
}

/** Keys in the order their expiry was set, for one TTL: expiry times only grow along it. */
interface ExpiryQueue {
  keys: string[];
  at: number[];
  head: number;
}

export class MemoryDedupe implements Dedupe {
  private readonly records = new Map<string, DedupeRecord>();
  private sweepAt = 0;
  /**
   * One queue per TTL (a handful: the send lease, the dedupe TTL). Expiry pops from the head
   * instead of scanning every record: a scan of a few hundred thousand records blocked the
   * event loop for milliseconds every second.
   */
  private readonly expiries = new Map<number, ExpiryQueue>();

  constructor(
    private readonly now: () => number = Date.now,
    /** Where claims with a SeqDraw take their seqs; without it they never draw one. */
    private readonly seqs?: Pick<MemorySeqAllocator, 'draw'>,
  ) {}

  private key(appId: string, sender: string, clientMsgId: string): string {
    return `${appId}\u0000${sender}\u0000${clientMsgId}`;
  }

  private expireLater(key: string, ttlMs: number, at: number): void {
    let q = this.expiries.get(ttlMs);
    if (!q) this.expiries.set(ttlMs, (q = { keys: [], at: [], head: 0 }));
    q.keys.push(key);
    q.at.push(at);
  }

  private sweep(now: number): void {
    // Amortised expiry, at most once a second. A key may sit in several queues (its expiry
    // was moved); the record's own expiresAt decides.
    if (now < this.sweepAt) return;
    this.sweepAt = now + 1000;
    for (const q of this.expiries.values()) {
      while (q.head < q.keys.length && q.at[q.head]! <= now) {
        const k = q.keys[q.head]!;
        const r = this.records.get(k);
        if (r && r.expiresAt <= now) this.records.delete(k);
        q.head++;
      }
      if (q.head > 1024 && q.head * 2 > q.keys.length) {
        q.keys.splice(0, q.head);
        q.at.splice(0, q.head);
        q.head = 0;
      }
    }
  }

  async claim(appId: string, sender: string, clientMsgId: string, leaseMs: number, draw?: SeqDraw): Promise<DedupeClaim> {
    const now = this.now();
    this.sweep(now);
    const key = this.key(appId, sender, clientMsgId);
    let rec = this.records.get(key);
    if (rec && rec.expiresAt > now) {
      if (rec.ack) return { state: 'done', ack: { ...rec.ack } };
      if (rec.leaseUntil > now) return { state: 'busy' };
      rec.leaseUntil = now + leaseMs;
      if (rec.message) return { state: 'allocated', message: rec.message, seq: rec.seq };
    } else {
      rec = { leaseUntil: now + leaseMs, expiresAt: now + leaseMs };
      this.records.set(key, rec);
      this.expireLater(key, leaseMs, now + leaseMs);
    }
    if (!draw || !this.seqs) return { state: 'new' };
    const seq = this.seqs.draw(appId, draw.conversation);
    rec.message = draw.draft;
    rec.seq = seq;
    rec.expiresAt = now + draw.ttlMs;
    this.expireLater(key, draw.ttlMs, rec.expiresAt);
    return { state: 'new', seq };
  }

  async allocate(appId: string, sender: string, clientMsgId: string, message: Uint8Array, ttlMs: number): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    const rec = this.records.get(key) ?? { leaseUntil: 0, expiresAt: 0 };
    rec.message = message;
    rec.seq = undefined;
    rec.expiresAt = this.now() + ttlMs;
    this.records.set(key, rec);
    this.expireLater(key, ttlMs, rec.expiresAt);
  }

  async complete(appId: string, sender: string, clientMsgId: string, ack: SendAckRecord, ttlMs: number): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    const expiresAt = this.now() + ttlMs;
    this.records.set(key, { leaseUntil: 0, expiresAt, ack: { ...ack } });
    this.expireLater(key, ttlMs, expiresAt);
  }

  async release(appId: string, sender: string, clientMsgId: string): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    const rec = this.records.get(key);
    if (!rec || rec.ack) return;
    if (rec.message) rec.leaseUntil = 0;
    else this.records.delete(key);
  }
}
