// Time-ordered 64-bit message ids: 41 bits of milliseconds since 2025-01-01 (69 years),
// 10 bits of worker id (leased, so two live processes never share one), 12 bits of sequence.
// Carried as decimal strings so JavaScript never loses precision.

export const ID_EPOCH_MS = Date.UTC(2025, 0, 1);
export const MAX_WORKER_ID = 1023;
const SEQUENCE_MASK = 0xfff;

export class IdGenerator {
  private lastMs = -1;
  private sequence = 0;

  private workerId = 0;

  constructor(
    workerId: number,
    private readonly now: () => number = Date.now,
  ) {
    this.reassign(workerId);
  }

  /** Switches to another worker id (after the lease of the old one was lost). */
  reassign(workerId: number): void {
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > MAX_WORKER_ID) {
      throw new RangeError(`worker id must be in 0..${MAX_WORKER_ID}, got ${workerId}`);
    }
    this.workerId = workerId;
  }

  next(): string {
    let ms = this.now() - ID_EPOCH_MS;
    // A clock that stepped back must not produce an id that sorts before earlier ones.
    if (ms < this.lastMs) ms = this.lastMs;
    if (ms === this.lastMs) {
      this.sequence = (this.sequence + 1) & SEQUENCE_MASK;
      if (this.sequence === 0) ms = this.lastMs + 1; // 4096 ids in one ms: borrow the next ms
    } else {
      this.sequence = 0;
    }
    this.lastMs = ms;
    return ((BigInt(ms) << 22n) | (BigInt(this.workerId) << 12n) | BigInt(this.sequence)).toString();
  }
}

export function decodeId(id: string): { ms: number; workerId: number; sequence: number } {
  const n = BigInt(id);
  return {
    ms: Number(n >> 22n) + ID_EPOCH_MS,
    workerId: Number((n >> 12n) & 0x3ffn),
    sequence: Number(n & 0xfffn),
  };
}
