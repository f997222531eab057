// One subscription of the bus: its own channel (so its prefetch and a slow handler affect nobody
// else), re-attached after every reconnect, after a channel error, and after the broker cancels
// it (queue deleted).
//
// Settlement: a handler that resolves acks; one that rejects nacks with requeue. On the quorum
// queues (upstream, store) the broker counts deliveries (x-delivery-count) and dead-letters a
// message after the delivery limit. The downstream queues (imcloud.push.<gateId>) are classic
// (transient, auto-delete) and have no such count, so a rejected downstream batch is republished
// with an attempt header instead, and sent to the dead-letter exchange once the limit is reached.
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { BusDelivery, BusHandler } from '../../ports/bus.js';
import type { Logger } from '../../shared/logger.js';
import { BATCH_HEADER, unpackBatch } from './publish-batch.js';
import type { RabbitmqConnection } from './rabbitmq-connection.js';

/** Which queues a subscription reads; also the `channel` label of the bus metrics ('push': the downstream queues, by their name). */
export type BusChannelKind = 'upstream' | 'push' | 'store' | 'events';

/** Header carrying the earlier deliveries of a republished downstream batch (classic queues do not count). */
export const PUSH_ATTEMPTS_HEADER = 'x-imcloud-delivery-count';

export interface ConsumerSpec {
  kind: BusChannelKind;
  /** What it consumes, for logs: the track, the gate id, or "store". */
  label: string;
  /** Declares the queue on the consumer's channel and returns its name. */
  declare: (ch: Channel) => Promise<string>;
  handler: BusHandler;
  prefetch: number;
  deliveryLimit: number;
  /** How long cancel() waits for handlers in flight before closing the channel (which returns their messages). */
  cancelGraceMs: number;
  log: Logger;
  /** A downstream batch whose handler rejected: publish it again (confirmed) with the given headers. */
  republishDownstream: (body: Uint8Array, headers: Record<string, unknown>) => Promise<void>;
  /** A downstream batch past its delivery limit: hand it to the dead-letter exchange (confirmed). */
  deadLetterDownstream: (body: Uint8Array, headers: Record<string, unknown>) => Promise<void>;
  /**
   * A batch (publish-batch.ts) whose handling failed: publish one frame again on its own
   * (confirmed) to where the batch was sent, so that each frame retries, and a poison one is
   * dead-lettered, by itself.
   */
  republishFrame: (exchange: string, routingKey: string, body: Uint8Array, appId: string | undefined) => Promise<void>;
  /** The handler rejected the last allowed delivery: the message goes to the dead-letter queue. */
  onDeadLetter?: (kind: BusChannelKind, body: Uint8Array) => void;
}

interface Attached {
  model: ChannelModel;
  channel: Channel;
  queue: string;
  consumerTag: string | undefined;
}

export class RabbitmqConsumer {
  private attached: Attached | undefined;
  private attaching: Promise<void> | undefined;
  private attachingFor: ChannelModel | undefined;
  private cancelled = false;
  private reattachTimer: NodeJS.Timeout | undefined;
  /** Grows while resubscribing keeps failing (200 ms … 5 s), so a persistent error does not spin. */
  private reattachDelayMs = 200;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly spec: ConsumerSpec,
    private readonly connection: RabbitmqConnection,
  ) {}

  /** Subscribes on this connection unless already subscribed there (idempotent). */
  ensureAttached(model: ChannelModel): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    if (this.attached && this.attached.model === model) return Promise.resolve();
    if (this.attaching && this.attachingFor === model) return this.attaching;
    const attempt = this.attach(model).finally(() => {
      if (this.attaching === attempt) {
        this.attaching = undefined;
        this.attachingFor = undefined;
      }
    });
    this.attaching = attempt;
    this.attachingFor = model;
    return attempt;
  }

  private async attach(model: ChannelModel): Promise<void> {
    const { spec } = this;
    const channel = await model.createChannel();
    const attached: Attached = { model, channel, queue: '', consumerTag: undefined };
    channel.on('error', (err: Error) =>
      spec.log.warn({ err: err.message, kind: spec.kind, label: spec.label }, `rabbitmq: ${spec.kind} consumer channel error`),
    );
    channel.on('close', () => {
      if (this.attached !== attached) return;
      this.attached = undefined;
      // A lost connection is handled by its setup; a channel error alone needs a new channel.
      this.scheduleReattach();
    });
    try {
      await channel.prefetch(spec.prefetch, false);
      const queue = await spec.declare(channel);
      attached.queue = queue;
      if (this.cancelled) {
        await channel.close().catch(() => undefined);
        return;
      }
      this.attached = attached;
      const reply = await channel.consume(queue, (msg) => {
        if (msg === null) {
          // The broker cancelled us (queue deleted or failed over): subscribe again.
          spec.log.warn(
            { kind: spec.kind, label: spec.label, queue },
            `rabbitmq: the broker cancelled the ${spec.kind} consumer of ${queue}; resubscribing`,
          );
          if (this.attached === attached) {
            this.attached = undefined;
            channel.close().catch(() => undefined);
          }
          this.scheduleReattach();
          return;
        }
        this.deliver(attached, msg);
      });
      attached.consumerTag = reply.consumerTag;
    } catch (err) {
      if (this.attached === attached) this.attached = undefined;
      await channel.close().catch(() => undefined);
      throw err;
    }
  }

  private scheduleReattach(): void {
    if (this.cancelled || this.reattachTimer) return;
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = undefined;
      const model = this.connection.current();
      // Not connected: the connection's setup re-attaches every consumer once it is back.
      if (!model || this.cancelled) return;
      this.ensureAttached(model).then(
        () => (this.reattachDelayMs = 200),
        (err: unknown) => {
          this.reattachDelayMs = Math.min(this.reattachDelayMs * 2, 5_000);
          this.spec.log.warn(
            { err: (err as Error).message, kind: this.spec.kind, label: this.spec.label, retryInMs: this.reattachDelayMs },
            `rabbitmq: resubscribing the ${this.spec.kind} consumer of ${this.spec.label} failed; retrying`,
          );
          this.scheduleReattach();
        },
      );
    }, this.reattachDelayMs);
  }

  private deliveryCount(msg: ConsumeMessage): number {
    const headers = msg.properties.headers ?? {};
    const previous = this.spec.kind === 'push' ? headers[PUSH_ATTEMPTS_HEADER] : headers['x-delivery-count'];
    const n = typeof previous === 'number' ? previous : Number(previous ?? 0);
    return (Number.isFinite(n) && n > 0 ? n : 0) + 1;
  }

  private deliver(attached: Attached, msg: ConsumeMessage): void {
    const delivery: BusDelivery = { body: msg.content, deliveryCount: this.deliveryCount(msg) };
    const call = (d: BusDelivery) => {
      try {
        return this.spec.handler(d);
      } catch (err) {
        return Promise.reject(err);
      }
    };
    let result: Promise<void>;
    let frames = [msg.content];
    const count = msg.properties.headers?.[BATCH_HEADER];
    if (count === undefined) result = call(delivery);
    else {
      // A batch (publish-batch.ts) is settled once every frame in it is handled.
      try {
        frames = unpackBatch(msg.content, Number(count));
        result = Promise.all(frames.map((body) => call({ body, deliveryCount: delivery.deliveryCount }))).then(() => undefined);
      } catch (err) {
        result = Promise.reject(err);
      }
    }
    const settled = result.then(
      () => this.settle(msg, () => attached.channel.ack(msg)),
      (err: unknown) => this.rejected(attached, msg, delivery, frames, err),
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /** Acks/nacks on the channel the message came from; a dead channel already returned it. */
  private settle(msg: ConsumeMessage, op: () => void): void {
    try {
      op();
    } catch {
      // The channel closed under us: the broker requeued the message, it will come again.
      this.spec.log.debug(
        { kind: this.spec.kind, tag: msg.fields.deliveryTag },
        'rabbitmq: settle on a closed channel ignored (the message is redelivered)',
      );
    }
  }

  private async rejected(attached: Attached, msg: ConsumeMessage, delivery: BusDelivery, frames: Buffer[], err: unknown): Promise<void> {
    const { spec } = this;
    if (frames.length > 1) {
      // Split the batch: its frames go back one by one (the good ones are handled again, which
      // handlers tolerate), then the batch is acked. If that fails it is returned whole.
      try {
        for (const frame of frames)
          await spec.republishFrame(msg.fields.exchange, msg.fields.routingKey, frame, msg.properties.appId as string | undefined);
        this.settle(msg, () => attached.channel.ack(msg));
      } catch {
        this.settle(msg, () => attached.channel.nack(msg, false, true));
      }
      return;
    }
    const last = delivery.deliveryCount >= spec.deliveryLimit;
    if (last) {
      spec.log.warn(
        {
          kind: spec.kind,
          label: spec.label,
          deliveryCount: delivery.deliveryCount,
          err: err instanceof Error ? err.message : String(err),
        },
        `rabbitmq: a ${spec.kind} message failed ${delivery.deliveryCount} times; it goes to the dead-letter queue`,
      );
      for (const frame of frames) spec.onDeadLetter?.(spec.kind, frame);
    }
    if (spec.kind === 'events') {
      // An app's events (ADR 0037): the deliverer retried already; a rejection dead-letters at once (DLX).
      if (!last) spec.onDeadLetter?.(spec.kind, msg.content);
      this.settle(msg, () => attached.channel.nack(msg, false, false));
      return;
    }
    if (spec.kind !== 'push') {
      // Quorum queue: requeue; past x-delivery-limit the broker dead-letters it.
      this.settle(msg, () => attached.channel.nack(msg, false, true));
      return;
    }
    const headers = { ...(msg.properties.headers ?? {}), [PUSH_ATTEMPTS_HEADER]: delivery.deliveryCount };
    try {
      if (last)
        await spec.deadLetterDownstream(msg.content, {
          ...headers,
          'x-first-death-queue': attached.queue,
          'x-first-death-reason': 'delivery_limit',
        });
      else await spec.republishDownstream(msg.content, headers);
      this.settle(msg, () => attached.channel.ack(msg));
    } catch {
      // Could not republish (broker gone): return it as it is; it keeps its attempt count.
      this.settle(msg, () => attached.channel.nack(msg, false, true));
    }
  }

  /** Stops receiving; waits (bounded) for handlers in flight to settle, then closes the channel. */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    await this.attaching?.catch(() => undefined);
    const attached = this.attached;
    this.attached = undefined;
    if (!attached) return;
    if (attached.consumerTag) await attached.channel.cancel(attached.consumerTag).catch(() => undefined);
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((resolve) => (timer = setTimeout(resolve, this.spec.cancelGraceMs))),
      ]);
      clearTimeout(timer);
    }
    // Closing returns whatever is still unacknowledged to the queue.
    await attached.channel.close().catch(() => undefined);
  }
}
