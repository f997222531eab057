// Confirmed publishing with back-pressure on one ConfirmChannel of the publishing connection.
//
// - A publish resolves only after the broker's ack (publisher confirms). A nack, an unroutable
//   mandatory message, or a channel/connection that closes before the ack rejects it with
//   ImError IM_UNAVAILABLE: the caller retries (the message may then arrive twice; every
//   consumer is idempotent). A confirmed message is the broker's responsibility.
// - At most `maxUnconfirmed` messages are on the wire unconfirmed; further callers wait for a
//   slot. When the socket buffer is full (`publish()` returns false) publishing waits for the
//   channel's 'drain'. Nothing is buffered here beyond the callers' own pending promises.
// - While disconnected, a publish waits for the reconnect, but never longer than
//   `publishTimeoutMs` in total; then it rejects with IM_UNAVAILABLE.
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import { ImError } from '../../../protocol/errors.js';
import { asBuffer } from '../../shared/bytes.js';
import type { Logger } from '../../shared/logger.js';
import type { RabbitmqConnection } from './rabbitmq-connection.js';

export interface PublishOptions {
  persistent: boolean;
  /** Return the message (and reject the publish) if no queue is bound for it. */
  mandatory: boolean;
  headers?: Record<string, unknown>;
  appId?: string;
}

export interface PublisherStats {
  /** Published, not yet confirmed. */
  unconfirmed: number;
  /** The most ever unconfirmed at once (≤ maxUnconfirmed). */
  peakUnconfirmed: number;
  /** Callers waiting for a slot. */
  waiting: number;
  /** Times a publish waited for the socket to drain (`publish()` returned false). */
  drainWaits: number;
}

interface Pending {
  returned: boolean;
  settle: (err: ImError | undefined) => void;
}

interface Live {
  model: ChannelModel;
  channel: ConfirmChannel;
  writable: boolean;
  drainWaiters: Set<() => void>;
  pending: Map<string, Pending>;
  closed: boolean;
}

const unavailable = (why: string, cause?: unknown): ImError =>
  new ImError('IM_UNAVAILABLE', `rabbitmq: publish failed: ${why}; retry with backoff`, { cause });

/** The broker refused the message (basic.nack): a full queue with x-overflow reject-publish, or the broker's own trouble. */
export class PublishNackedError extends ImError {
  constructor(cause?: unknown) {
    super(
      'IM_UNAVAILABLE',
      'rabbitmq: publish failed: the broker refused the message (nack: a full queue, or a broker error); retry with backoff',
      { cause },
    );
  }
}

export class RabbitmqPublisher {
  private live: Live | undefined;
  private unconfirmed = 0;
  private peak = 0;
  private drainWaits = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly connection: RabbitmqConnection,
    private readonly opts: { maxUnconfirmed: number; publishTimeoutMs: number; channelHighWaterMark?: number; log: Logger },
  ) {
    if (opts.maxUnconfirmed < 1) throw new Error('rabbitmq: maxUnconfirmed must be ≥ 1');
  }

  /** Opens the confirm channel on a fresh connection (part of the connection's setup). */
  async attach(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel(
      this.opts.channelHighWaterMark ? { highWaterMark: this.opts.channelHighWaterMark } : undefined,
    );
    const live: Live = { model, channel, writable: true, drainWaiters: new Set(), pending: new Map(), closed: false };
    channel.on('error', (err: Error) => this.opts.log.warn({ err: err.message }, 'rabbitmq (publish): channel error'));
    channel.on('drain', () => {
      live.writable = true;
      for (const wake of [...live.drainWaiters]) wake();
    });
    channel.on('return', (msg: Message) => {
      const id = msg.properties.messageId as string | undefined;
      const p = id ? live.pending.get(id) : undefined;
      if (p) p.returned = true;
    });
    channel.on('close', () => {
      live.closed = true;
      if (this.live === live) this.live = undefined;
      for (const wake of [...live.drainWaiters]) wake();
      // amqplib fails the confirm callbacks too; this makes sure nobody is left hanging.
      for (const p of [...live.pending.values()])
        p.settle(unavailable('the connection to the broker closed before the broker confirmed the message'));
    });
    this.live = live;
  }

  stats(): PublisherStats {
    return { unconfirmed: this.unconfirmed, peakUnconfirmed: this.peak, waiting: this.slotWaiters.length, drainWaits: this.drainWaits };
  }

  /** Rejects new publishes and waits (bounded) for the unconfirmed ones. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    for (const wake of this.slotWaiters.splice(0)) wake();
    const deadline = Date.now() + timeoutMs;
    while (this.unconfirmed > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  async publish(exchange: string, routingKey: string, body: Uint8Array, options: PublishOptions): Promise<void> {
    const deadline = Date.now() + this.opts.publishTimeoutMs;
    await this.acquireSlot(deadline);
    for (;;) {
      let live: Live;
      try {
        live = await this.writableChannel(deadline);
      } catch (err) {
        this.releaseSlot();
        throw err;
      }
      // Other publishers ran while we resumed: check again in the same tick as the publish, or
      // a burst of callers would all see the channel writable and overfill it together.
      if (!live.writable || live.closed) continue;
      // From here the slot belongs to the message: released by its confirm or its channel's close.
      return this.send(live, exchange, routingKey, body, options, deadline);
    }
  }

  private releaseSlot(): void {
    this.unconfirmed--;
    this.slotWaiters[0]?.();
  }

  private async acquireSlot(deadline: number): Promise<void> {
    for (;;) {
      if (this.closed) throw unavailable('the bus is closed');
      if (this.unconfirmed < this.opts.maxUnconfirmed) {
        this.unconfirmed++;
        this.peak = Math.max(this.peak, this.unconfirmed);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw unavailable(`${this.opts.maxUnconfirmed} messages are waiting for the broker's confirm (back-pressure)`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          const i = this.slotWaiters.indexOf(wake);
          if (i >= 0) this.slotWaiters.splice(i, 1);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.slotWaiters.push(wake);
      });
    }
  }

  private async writableChannel(deadline: number): Promise<Live> {
    for (;;) {
      if (this.closed) throw unavailable('the bus is closed');
      const model = await this.connection.waitReady(Math.max(0, deadline - Date.now()));
      const live = this.live;
      if (!live || live.closed || live.model !== model) {
        // Connected but the channel is being replaced; give the setup a moment.
        if (Date.now() >= deadline) throw unavailable('no publishing channel');
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      if (live.writable) return live;
      this.drainWaits++;
      const left = deadline - Date.now();
      if (left <= 0) throw unavailable('the socket to the broker stayed full (back-pressure)');
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          live.drainWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        live.drainWaiters.add(wake);
      });
    }
  }

  private send(
    live: Live,
    exchange: string,
    routingKey: string,
    body: Uint8Array,
    options: PublishOptions,
    deadline: number,
  ): Promise<void> {
    const id = `m${++this.nextId}`;
    const content = asBuffer(body);
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const pending: Pending = {
        returned: false,
        settle: (err) => {
          // The slot is held until the broker answers or the channel dies, so the number of
          // unconfirmed messages stays bounded even when a caller gave up waiting.
          if (live.pending.get(id) === pending) {
            live.pending.delete(id);
            this.releaseSlot();
          }
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        },
      };
      live.pending.set(id, pending);
      let ok: boolean;
      try {
        ok = live.channel.publish(
          exchange,
          routingKey,
          content,
          {
            persistent: options.persistent,
            mandatory: options.mandatory,
            messageId: id,
            headers: options.headers,
            appId: options.appId,
            timestamp: Math.floor(Date.now() / 1000),
          },
          (err: unknown) => {
            if (err && !live.closed) pending.settle(new PublishNackedError(err));
            else if (err) pending.settle(unavailable('the channel closed before the broker confirmed the message', err));
            else if (pending.returned) pending.settle(unavailable(`no queue is bound for ${exchange || '(default)'} / ${routingKey}`));
            else pending.settle(undefined);
          },
        );
      } catch (err) {
        pending.settle(unavailable('the publishing channel is closed', err));
        return;
      }
      if (!ok) live.writable = false;
      const left = deadline - Date.now();
      timer = setTimeout(
        () => {
          if (done) return;
          done = true;
          reject(unavailable(`no confirm from the broker within ${this.opts.publishTimeoutMs} ms`));
        },
        Math.max(left, 0),
      );
    });
  }
}
