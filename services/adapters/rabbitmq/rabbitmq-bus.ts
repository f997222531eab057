// The Bus port on RabbitMQ (docs/architecture.md §7), topology in rabbitmq-topology.ts.
//
// Two connections: one publishes, one consumes, so that a broker throttling publishers (flow
// control, alarms) never holds back the acks of consumers. Each keeps itself alive
// (rabbitmq-connection.ts); after a reconnect the topology is declared again, the publishing
// channel reopened and every subscription resubscribed. ready() is true while both are up.
//
// deadLettered() is this process's view of the dead-letter exchange: an exclusive queue bound
// to it records (up to deadLetterHistory) what arrived while connected; the durable dead-letter
// queue keeps every dead letter for operators either way.
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel } from 'amqplib';
import { ImError } from '../../../protocol/errors.js';
import { type Bus, type BusHandler, type ConsumeOptions, type Subscription, UpstreamFullError } from '../../ports/bus.js';
import type { Logger } from '../../shared/logger.js';
import { BATCH_HEADER, PublishBatcher } from './publish-batch.js';
import { RabbitmqConnection } from './rabbitmq-connection.js';
import { type BusChannelKind, RabbitmqConsumer } from './rabbitmq-consumer.js';
import { type PublisherStats, PublishNackedError, RabbitmqPublisher } from './rabbitmq-publisher.js';
import { RabbitmqTopology } from './rabbitmq-topology.js';

export interface RabbitmqBusOptions {
  /** amqp://user:password@host:port/vhost */
  url: string;
  log: Logger;
  /** Prefix of every exchange and queue name; '' (default) uses the names of services/shared/topology.ts. */
  namespace?: string;
  /** Deliveries of one message before it is dead-lettered; must be the same in every process. Default 5. */
  deliveryLimit?: number;
  /** Bound of each gate's downstream queue; the oldest batches are dropped beyond it. Default 10,000. */
  downstreamQueueMaxLength?: number;
  /** Bound of each app's events queue; the oldest events are dead-lettered beyond it (ADR 0037). Default 100,000. */
  eventsQueueMaxLength?: number;
  /** Bound of the dead-letter queue (oldest dropped). Default 100,000. */
  deadLetterMaxLength?: number;
  /**
   * Bytes of frames each upstream queue holds ready before the broker refuses publishes
   * (x-max-length-bytes, x-overflow reject-publish); publishUpstream then rejects with
   * UpstreamFullError. A queue argument: every process must agree. Default 0: unbounded.
   */
  upstreamMaxBytes?: number;
  /** After a refusal, upstreamFull(track) says so for this long (no publish confirmed meanwhile). Default 100 ms. */
  upstreamFullHoldMs?: number;
  /** Messages published but not yet confirmed, at most; further publishers wait. Default 1,024. */
  maxUnconfirmed?: number;
  /** Frames the publishing channel buffers before publish() reports back-pressure (amqplib's default: 1,024). */
  publishChannelHighWaterMark?: number;
  /** A publish that cannot be confirmed within this (broker down, back-pressure) rejects IM_UNAVAILABLE. Default 10 s. */
  publishTimeoutMs?: number;
  /** Default prefetch of consumers. Default 256. */
  prefetch?: number;
  /** How long Subscription.cancel() waits for handlers in flight. Default 5 s. */
  cancelGraceMs?: number;
  /** Dead letters remembered for deadLettered(). Default 1,000. */
  deadLetterHistory?: number;
  /** Called when a handler gives up on a message (its last allowed delivery failed); for metrics. */
  onDeadLetter?: (kind: BusChannelKind, body: Uint8Array) => void;
  /** Shown in the broker's connection list, e.g. "imcloud logic-7f9c". */
  clientName?: string;
  /** Reconnect backoff bounds. Defaults 100 ms … 5 s. */
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
}

/** Where a durable message goes: an exchange and routing key (the store queue: '' and its name). */
interface DurableTarget {
  exchange: string;
  routingKey: string;
  appId?: string;
}

export class RabbitmqBus implements Bus {
  readonly topology: RabbitmqTopology;
  private readonly log: Logger;
  private readonly publishing: RabbitmqConnection;
  private readonly consuming: RabbitmqConnection;
  private readonly publisher: RabbitmqPublisher;
  private readonly consumers = new Set<RabbitmqConsumer>();
  /** Upstream queues declared on the current publishing connection. */
  private readonly declaredTracks = new Map<string, Promise<void>>();
  /** Events queues declared on the current publishing connection, by AppId. */
  private readonly declaredEvents = new Map<string, Promise<string>>();
  private declareChannel: Promise<Channel> | undefined;
  private declareModel: ChannelModel | undefined;
  private readonly dead: Uint8Array[] = [];
  private readonly observerQueue: string;
  private readonly prefetch: number;
  private readonly cancelGraceMs: number;
  private readonly deadLetterHistory: number;
  private closed = false;
  /** Track → until when upstreamFull() says full (the broker refused a publish to it lately). */
  private readonly refusedUntil = new Map<string, number>();
  private readonly upstreamFullHoldMs: number;
  private readonly upstreamFullError = new UpstreamFullError('the upstream queue is full (the broker refused the publish)');

  constructor(private readonly opts: RabbitmqBusOptions) {
    this.log = opts.log;
    this.topology = new RabbitmqTopology({
      namespace: opts.namespace,
      deliveryLimit: opts.deliveryLimit ?? 5,
      downstreamQueueMaxLength: opts.downstreamQueueMaxLength ?? 10_000,
      deadLetterMaxLength: opts.deadLetterMaxLength ?? 100_000,
      upstreamMaxBytes: opts.upstreamMaxBytes ?? 0,
      eventsQueueMaxLength: opts.eventsQueueMaxLength ?? 100_000,
    });
    this.upstreamFullHoldMs = opts.upstreamFullHoldMs ?? 100;
    this.prefetch = opts.prefetch ?? 256;
    this.cancelGraceMs = opts.cancelGraceMs ?? 5_000;
    this.deadLetterHistory = opts.deadLetterHistory ?? 1_000;
    this.observerQueue = `${this.topology.deadLetterQueue}.observer.${randomUUID()}`;
    const common = {
      url: opts.url,
      log: opts.log,
      clientName: opts.clientName,
      minDelayMs: opts.reconnectMinDelayMs,
      maxDelayMs: opts.reconnectMaxDelayMs,
    };
    this.publishing = new RabbitmqConnection({
      ...common,
      purpose: 'publish',
      setup: (model) => this.setupPublishing(model),
      onLost: () => {
        this.declaredTracks.clear();
        this.declaredEvents.clear();
      },
    });
    this.consuming = new RabbitmqConnection({
      ...common,
      purpose: 'consume',
      setup: (model) => this.setupConsuming(model),
      // Subscriptions added while the setup ran are attached now.
      onReady: (model) => {
        for (const c of this.consumers) c.ensureAttached(model).catch((err: unknown) => this.attachFailed(err));
      },
    });
    this.publisher = new RabbitmqPublisher(this.publishing, {
      maxUnconfirmed: opts.maxUnconfirmed ?? 1_024,
      publishTimeoutMs: opts.publishTimeoutMs ?? 10_000,
      channelHighWaterMark: opts.publishChannelHighWaterMark,
      log: opts.log,
    });
  }

  /** Starts connecting in the background; publishes and subscriptions wait for it. */
  start(): this {
    if (this.closed) throw new Error('rabbitmq: start() after close()');
    this.publishing.start();
    this.consuming.start();
    return this;
  }

  /** For /readyz: both connections are up, topology declared, subscriptions attached. */
  ready(): boolean {
    return this.publishing.ready() && this.consuming.ready();
  }

  /** Resolves once ready(); rejects IM_UNAVAILABLE after timeoutMs. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.publishing.waitReady(timeoutMs);
    await this.consuming.waitReady(Math.max(0, deadline - Date.now()));
  }

  /** Publishing back-pressure, for tests and metrics. */
  publishStats(): PublisherStats {
    return this.publisher.stats();
  }

  // ---- publishing ----

  async publishUpstream(track: string, appId: string, body: Uint8Array): Promise<void> {
    // The track's queue must exist before the first message, or the exchange would drop it
    // (logic may not have started yet). Declared once per connection.
    try {
      await this.ensureUpstreamDeclared(track);
    } catch (err) {
      if (err instanceof ImError) throw err;
      throw new ImError(
        'IM_UNAVAILABLE',
        `rabbitmq: could not declare the queue of track ${track}: ${(err as Error).message}; retry with backoff`,
        { cause: err },
      );
    }
    try {
      await this.durableBatches.publish(
        { exchange: this.topology.upstreamExchange, routingKey: this.topology.upstreamRoutingKey(track, appId), appId },
        body,
      );
    } catch (err) {
      if (!(err instanceof PublishNackedError)) throw err;
      // The queue is full (x-overflow reject-publish): overload, refused at once.
      this.refusedUntil.set(track, Date.now() + this.upstreamFullHoldMs);
      throw this.upstreamFullError;
    }
    if (this.refusedUntil.size > 0) this.refusedUntil.delete(track);
  }

  /** True for upstreamFullHoldMs after the broker refused a publish to this track, unless one was confirmed since. */
  upstreamFull(track: string): boolean {
    if (this.refusedUntil.size === 0) return false;
    const until = this.refusedUntil.get(track);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.refusedUntil.delete(track);
    return false;
  }

  async publishDownstream(gateId: string, body: Uint8Array): Promise<void> {
    // Transient: no queue (the gate is gone) means the batch is dropped; sync repairs. The
    // exchange and queues keep their names, imcloud.push[.<gateId>] (topology.ts).
    await this.publisher.publish(this.topology.downstreamExchange, gateId, body, { persistent: false, mandatory: false });
  }

  async publishStore(body: Uint8Array): Promise<void> {
    await this.durableBatches.publish({ exchange: '', routingKey: this.topology.storeQueue }, body);
  }

  async publishEvent(appId: string, body: Uint8Array): Promise<void> {
    // One AMQP message per event (no batch): a rejected event is dead-lettered alone.
    const queue = await this.declaredOnce(
      this.declaredEvents,
      appId,
      (ch) => this.topology.declareEvents(ch, appId),
      `the events queue of app ${appId}`,
    );
    await this.publishDurable({ exchange: '', routingKey: queue, appId }, body);
  }

  /** A persistent, mandatory, confirmed publish: one frame, or a batch of `count` (publish-batch.ts). */
  private publishDurable(to: DurableTarget, body: Uint8Array, count = 1): Promise<void> {
    return this.publisher.publish(to.exchange, to.routingKey, body, {
      persistent: true,
      mandatory: true,
      ...(to.appId !== undefined && { appId: to.appId }),
      ...(count > 1 && { headers: { [BATCH_HEADER]: count } }),
    });
  }

  /** Upstream frames and store records, one AMQP message per destination per batch (publish-batch.ts). */
  private readonly durableBatches = new PublishBatcher<DurableTarget>(
    (to) => `${to.exchange} ${to.routingKey}`,
    (to, body, count) => this.publishDurable(to, body, count),
  );

  /** Declares a queue once per publishing connection (cached by key); a failure is IM_UNAVAILABLE and forgotten. */
  private async declaredOnce(
    cache: Map<string, Promise<string>>,
    key: string,
    declare: (ch: Channel) => Promise<string>,
    what: string,
  ): Promise<string> {
    let declared = cache.get(key);
    if (!declared) {
      declared = this.declaringChannel().then(declare);
      cache.set(key, declared);
      declared.catch(() => {
        if (cache.get(key) === declared) cache.delete(key);
      });
    }
    try {
      return await declared;
    } catch (err) {
      if (err instanceof ImError) throw err;
      throw new ImError('IM_UNAVAILABLE', `rabbitmq: could not declare ${what}: ${(err as Error).message}; retry with backoff`, {
        cause: err,
      });
    }
  }

  private async ensureUpstreamDeclared(track: string): Promise<void> {
    let declared = this.declaredTracks.get(track);
    if (!declared) {
      declared = (async () => {
        const ch = await this.declaringChannel();
        await this.topology.declareUpstream(ch, track);
      })();
      this.declaredTracks.set(track, declared);
      declared.catch(() => {
        if (this.declaredTracks.get(track) === declared) this.declaredTracks.delete(track);
      });
    }
    await declared;
  }

  /** A plain channel on the publishing connection for declarations; reopened when it dies. */
  private async declaringChannel(): Promise<Channel> {
    const model = await this.publishing.waitReady(this.opts.publishTimeoutMs ?? 10_000);
    if (!this.declareChannel || this.declareModel !== model) {
      this.declareModel = model;
      const opening = model.createChannel().then((ch) => {
        ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'rabbitmq: declaring channel error'));
        ch.on('close', () => {
          if (this.declareChannel === opening) this.declareChannel = undefined;
        });
        return ch;
      });
      opening.catch(() => {
        if (this.declareChannel === opening) this.declareChannel = undefined;
      });
      this.declareChannel = opening;
    }
    return this.declareChannel;
  }

  private async setupPublishing(model: ChannelModel): Promise<void> {
    this.declaredTracks.clear();
    this.declaredEvents.clear();
    const ch = await model.createChannel();
    try {
      await this.topology.declareBase(ch);
    } finally {
      await ch.close().catch(() => undefined);
    }
    await this.publisher.attach(model);
  }

  // ---- consuming ----

  consumeUpstream(track: string, handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.subscribe('upstream', track, (ch) => this.topology.declareUpstream(ch, track), handler, opts);
  }

  consumeDownstream(gateId: string, handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.subscribe('push', gateId, (ch) => this.topology.declareDownstream(ch, gateId), handler, opts);
  }

  consumeEvents(appId: string, handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.subscribe('events', appId, (ch) => this.topology.declareEvents(ch, appId), handler, opts);
  }

  consumeStore(handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.subscribe('store', 'store', async () => this.topology.storeQueue, handler, opts);
  }

  /**
   * Registers the subscription; if connected, resolves once the broker delivers to it, otherwise
   * at once (it is attached when the connection comes up, and ready() stays false until then).
   */
  private async subscribe(
    kind: BusChannelKind,
    label: string,
    declare: (ch: Channel) => Promise<string>,
    handler: BusHandler,
    opts: ConsumeOptions,
  ): Promise<Subscription> {
    if (this.closed) throw new Error('rabbitmq: subscribe after close()');
    const consumer = new RabbitmqConsumer(
      {
        kind,
        label,
        declare,
        handler,
        prefetch: opts.prefetch ?? this.prefetch,
        deliveryLimit: this.topology.deliveryLimit,
        cancelGraceMs: this.cancelGraceMs,
        log: this.log,
        republishDownstream: (body, headers) =>
          this.publisher.publish(this.topology.downstreamExchange, label, body, { persistent: false, mandatory: false, headers }),
        republishFrame: (exchange, routingKey, body, appId) => this.publishDurable({ exchange, routingKey, appId }, body),
        deadLetterDownstream: (body, headers) =>
          this.publisher.publish(this.topology.deadLetterExchange, label, body, { persistent: true, mandatory: false, headers }),
        onDeadLetter: this.opts.onDeadLetter,
      },
      this.consuming,
    );
    this.consumers.add(consumer);
    const model = this.consuming.current();
    if (model) {
      try {
        await consumer.ensureAttached(model);
      } catch (err) {
        // Lost the connection meanwhile: the reconnect attaches it. Anything else is a real error.
        if (this.consuming.current() === model) {
          this.consumers.delete(consumer);
          await consumer.cancel();
          throw err;
        }
      }
    }
    return {
      cancel: async () => {
        this.consumers.delete(consumer);
        await consumer.cancel();
      },
    };
  }

  private attachFailed(err: unknown): void {
    this.log.error(
      { err: err instanceof Error ? err.message : String(err) },
      'rabbitmq: a subscription could not be attached; if this says PRECONDITION_FAILED, a queue exists with other arguments (another deliveryLimit or downstreamQueueMaxLength): delete it or align the configuration',
    );
  }

  private async setupConsuming(model: ChannelModel): Promise<void> {
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'rabbitmq: dead-letter observer channel error'));
    await this.topology.declareBase(ch);
    await ch.assertQueue(this.observerQueue, {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: { 'x-max-length': this.deadLetterHistory, 'x-overflow': 'drop-head' },
    });
    await ch.bindQueue(this.observerQueue, this.topology.deadLetterExchange, '');
    await ch.consume(
      this.observerQueue,
      (msg) => {
        if (!msg) return;
        this.dead.push(msg.content);
        if (this.dead.length > this.deadLetterHistory) this.dead.splice(0, this.dead.length - this.deadLetterHistory);
      },
      { noAck: true },
    );
    for (const c of this.consumers) await c.ensureAttached(model);
  }

  async deadLettered(): Promise<Uint8Array[]> {
    return [...this.dead];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.cancel().catch(() => undefined)));
    this.consumers.clear();
    await this.publisher.close(5_000);
    await Promise.all([this.publishing.close(), this.consuming.close()]);
  }
}
