import type { Dedupe, DedupeClaim, SendAckRecord } from '../../ports/dedupe.js';

interface DedupeRecord {
  leaseUntil: number;
  expiresAt: number;
  message?: Uint8Array;
  ack?: SendAckRecord;
}

export class MemoryDedupe implements Dedupe {
  private readonly records = new Map<string, DedupeRecord>();
  private sweepAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private key(appId: string, sender: string, clientMsgId: string): string {
    return `${appId}\u0000${sender}\u0000${clientMsgId}`;
  }

  private sweep(now: number): void {
    // Amortised expiry: a full pass at most once a second.
    if (now < this.sweepAt) return;
    this.sweepAt = now + 1000;
    for (const [k, r] of this.records) if (r.expiresAt <= now) this.records.delete(k);
  }

  async claim(appId: string, sender: string, clientMsgId: string, leaseMs: number): Promise<DedupeClaim> {
    const now = this.now();
    this.sweep(now);
    const key = this.key(appId, sender, clientMsgId);
    const rec = this.records.get(key);
    if (rec && rec.expiresAt > now) {
      if (rec.ack) return { state: 'done', ack: { ...rec.ack } };
      if (rec.leaseUntil > now) return { state: 'busy' };
      rec.leaseUntil = now + leaseMs;
      if (rec.message) return { state: 'allocated', message: rec.message };
      return { state: 'new' };
    }
    this.records.set(key, { leaseUntil: now + leaseMs, expiresAt: now + leaseMs });
    return { state: 'new' };
  }

  async allocate(appId: string, sender: string, clientMsgId: string, message: Uint8Array, ttlMs: number): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    const rec = this.records.get(key) ?? { leaseUntil: 0, expiresAt: 0 };
    rec.message = message;
    rec.expiresAt = this.now() + ttlMs;
    this.records.set(key, rec);
  }

  async complete(appId: string, sender: string, clientMsgId: string, ack: SendAckRecord, ttlMs: number): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    this.records.set(key, { leaseUntil: 0, expiresAt: this.now() + ttlMs, ack: { ...ack } });
  }

  async release(appId: string, sender: string, clientMsgId: string): Promise<void> {
    const key = this.key(appId, sender, clientMsgId);
    const rec = this.records.get(key);
    if (!rec || rec.ack) return;
    if (rec.message) rec.leaseUntil = 0;
    else this.records.delete(key);
  }
}
