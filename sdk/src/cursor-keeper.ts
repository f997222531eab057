// The device's receive cursors on their way out of the receive buffers: loaded from the cursor
// store at sign-in, and, when they move, saved to the store and then acknowledged to the server
// with a cumulative PushAck, both batched over a few ms. Saving first means a restarted app
// never holds a cursor behind what the server was told this device has.
import type { FrameInit } from '../../protocol/frame-codec.js';
import { type CursorStore, type Cursors, cursorScope } from './cursor-store.js';

const PUSH_ACK_MAX_CURSORS = 100; // logic reads at most 100 cursors per PushAck

export interface CursorKeeperContext {
  store: CursorStore;
  /** Moved cursors are saved and acknowledged this many ms after the first of them moved. */
  batchMs: number;
  /** Where a conversation's cursor stands now. */
  cursorOf(conversation: string): number;
  /** The connection to acknowledge on, while the client is online. */
  online(): { write(frame: FrameInit): boolean } | undefined;
  report(err: unknown): void;
}

export class CursorKeeper {
  private scope?: string;
  private readonly moved = new Set<string>();
  private timer?: ReturnType<typeof setTimeout>;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: CursorKeeperContext) {}

  /**
   * The stored cursors of this app, user and device ({} when the store fails); null when they
   * were loaded before (a reconnect as the same user): the receive buffers hold them already.
   */
  async load(appId: string, userId: string, deviceId: string): Promise<Cursors | null> {
    const scope = cursorScope(appId, userId, deviceId);
    if (this.scope === scope) return null;
    this.scope = scope;
    try {
      return await this.ctx.store.load(scope);
    } catch (err) {
      this.ctx.report(err);
      return {};
    }
  }

  /** The conversation's cursor moved: save and acknowledge it with the next batch. */
  cursorMoved(conversation: string): void {
    this.moved.add(conversation);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.ctx.batchMs);
  }

  /** Saves moved cursors, then acknowledges them (cumulative PushAck), in that order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.moved.size === 0) return;
      const cursors: Cursors = {};
      for (const conversation of this.moved) cursors[conversation] = this.ctx.cursorOf(conversation);
      this.moved.clear();
      if (this.scope) {
        try {
          await this.ctx.store.save(this.scope, cursors);
        } catch (err) {
          this.ctx.report(err);
        }
      }
      const link = this.ctx.online();
      if (!link) return; // the next sync request carries them
      const list = Object.entries(cursors).map(([conversation, seq]) => ({ conversation, seq }));
      for (let i = 0; i < list.length; i += PUSH_ACK_MAX_CURSORS) {
        link.write({ pushAck: { cursors: list.slice(i, i + PUSH_ACK_MAX_CURSORS) } });
      }
    });
    return this.flushing;
  }

  /** Saves what moved now instead of at the end of the batch (the client closes). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
