import type { RecentWindow, RecentWindowLimits } from '../../ports/recent-window.js';
import type { StoredMessage } from '../../ports/stored-message.js';

export class MemoryRecentWindow implements RecentWindow {
  /** Per conversation: messages ascending by seq. */
  private readonly windows = new Map<string, StoredMessage[]>();

  constructor(private readonly now: () => number = Date.now) {}

  async append(appId: string, message: StoredMessage, limits: RecentWindowLimits): Promise<void> {
    const key = `${appId}\u0000${message.conversation}`;
    let list = this.windows.get(key);
    if (!list) this.windows.set(key, (list = []));
    // Insert in seq order; equal seq = a redelivery of the same message.
    let i = list.length;
    while (i > 0 && list[i - 1]!.seq > message.seq) i--;
    if (i > 0 && list[i - 1]!.seq === message.seq) return;
    list.splice(i, 0, { ...message });
    const oldestKept = this.now() - limits.retentionMs;
    const hardMax = limits.size * 10;
    while (list.length > limits.size && (list[0]!.ts < oldestKept || list.length > hardMax)) list.shift();
  }

  async range(appId: string, conversation: string, fromSeq: number, toSeq: number): Promise<StoredMessage[]> {
    const list = this.windows.get(`${appId}\u0000${conversation}`) ?? [];
    return list.filter((m) => m.seq >= fromSeq && m.seq <= toSeq).map((m) => ({ ...m }));
  }

  async markRecalled(appId: string, conversation: string, seq: number): Promise<void> {
    const m = this.windows.get(`${appId}\u0000${conversation}`)?.find((x) => x.seq === seq);
    if (m) {
      m.recalled = true;
      m.body = new Uint8Array(0);
    }
  }
}
