import type { SeqAllocator } from '../../ports/seq-allocator.js';

export class MemorySeqAllocator implements SeqAllocator {
  private readonly counters = new Map<string, number>();

  async next(appId: string, conversation: string): Promise<number> {
    return this.draw(appId, conversation);
  }

  /** next(), synchronously: MemoryDedupe draws seqs with its claims (SeqDraw). */
  draw(appId: string, conversation: string): number {
    const key = `${appId}\u0000${conversation}`;
    const seq = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, seq);
    return seq;
  }

  async current(appId: string, conversation: string): Promise<number> {
    return this.counters.get(`${appId}\u0000${conversation}`) ?? 0;
  }
}
