import type { SeqHighWater } from '../../ports/seq-high-water.js';

/** High-water marks in memory: for testing a fast allocator (the Redis one) without MongoDB. */
export class MemorySeqHighWater implements SeqHighWater {
  private readonly marks = new Map<string, number>();

  async reserve(appId: string, conversation: string, size: number): Promise<number> {
    const key = `${appId}\u0000${conversation}`;
    const mark = (this.marks.get(key) ?? 0) + size;
    this.marks.set(key, mark);
    return mark;
  }
}
