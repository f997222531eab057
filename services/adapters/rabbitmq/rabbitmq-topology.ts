// The RabbitMQ topology of docs/architecture.md §7 (ADR 0010), declared idempotently on every
// (re)connect with the names of services/shared/topology.ts (the operator reads the store queue
// depth by that name).
//
//   imcloud.upstream (topic) --<track>.#--> imcloud.upstream.<track>  quorum, delivery limit, DLX,
//                                                                     bounded, reject-publish
//   imcloud.push (direct)    --<gateId>-->  imcloud.push.<gateId>     auto-delete, bounded, drop-head
//   (default exchange)       ------------>  imcloud.store             quorum, delivery limit, DLX
//   (default exchange)       ------------>  imcloud.events.<appId>    quorum, single active consumer,
//                                                                     delivery limit, DLX, bounded, drop-head
//   imcloud.dead (fanout)    ------------>  imcloud.dead              quorum, bounded
//
// Queue arguments are immutable in RabbitMQ: redeclaring a queue with other arguments fails with
// PRECONDITION_FAILED (406). The arguments therefore depend only on the options below, which
// every process of a cluster must share.
import type { Channel } from 'amqplib';
import { bus as names } from '../../shared/topology.js';

export interface TopologyOptions {
  /**
   * Prefix for every exchange and queue name. '' (production) uses the names of topology.ts
   * unchanged; tests give each bus its own namespace so one broker serves them all.
   */
  namespace?: string;
  /** Deliveries of one message before it is dead-lettered (the port's delivery limit). */
  deliveryLimit: number;
  /** Downstream batches one gate's queue holds before the oldest are dropped (a stuck gate must not eat the broker). */
  downstreamQueueMaxLength: number;
  /** Dead letters kept in the dead-letter queue before the oldest are dropped. */
  deadLetterMaxLength: number;
  /**
   * Bytes of frames an upstream queue holds ready before the broker refuses publishes (nack:
   * x-max-length-bytes with x-overflow reject-publish; ADR 0021). 0 or unset: unbounded.
   */
  upstreamMaxBytes?: number;
  /** Events one app's queue holds before the oldest are dead-lettered (ADR 0037). Default 100,000. */
  eventsQueueMaxLength?: number;
}

/** A downstream queue nobody consumes (its gate died before consuming) is deleted after this. */
const DOWNSTREAM_QUEUE_EXPIRES_MS = 60_000;

export class RabbitmqTopology {
  readonly upstreamExchange: string;
  readonly downstreamExchange: string;
  readonly storeQueue: string;
  readonly deadLetterExchange: string;
  readonly deadLetterQueue: string;
  private readonly prefix: string;

  constructor(private readonly opts: TopologyOptions) {
    if (!Number.isInteger(opts.deliveryLimit) || opts.deliveryLimit < 1) {
      throw new Error(`rabbitmq: deliveryLimit must be a positive integer, got ${opts.deliveryLimit}`);
    }
    this.prefix = opts.namespace ? `${opts.namespace}.` : '';
    this.upstreamExchange = this.prefix + names.upstreamExchange;
    this.downstreamExchange = this.prefix + names.downstreamExchange;
    this.storeQueue = this.prefix + names.storeQueue;
    this.deadLetterExchange = this.prefix + names.deadLetterExchange;
    this.deadLetterQueue = this.prefix + names.deadLetterQueue;
  }

  get deliveryLimit(): number {
    return this.opts.deliveryLimit;
  }

  upstreamQueue(track: string): string {
    return this.prefix + names.upstreamQueue(track);
  }

  downstreamQueue(gateId: string): string {
    return this.prefix + names.downstreamQueue(gateId);
  }

  eventsQueue(appId: string): string {
    return this.prefix + names.eventsQueue(appId);
  }

  /**
   * The app's events queue (ADR 0037): one consumer at a time keeps the order; past its bound the
   * oldest events are dead-lettered (drop-head), so a dead endpoint never refuses a publish.
   */
  async declareEvents(ch: Channel, appId: string): Promise<string> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(appId)) throw new Error(`rabbitmq: invalid AppId ${JSON.stringify(appId)}`);
    const queue = this.eventsQueue(appId);
    await ch.assertQueue(queue, {
      durable: true,
      arguments: {
        ...this.workQueueArguments(),
        'x-single-active-consumer': true,
        'x-max-length': this.opts.eventsQueueMaxLength ?? 100_000,
        'x-overflow': 'drop-head',
      },
    });
    return queue;
  }

  /** Routing key of an upstream message: `<track>.<appId>` (queues bind `<track>.#`). */
  upstreamRoutingKey(track: string, appId: string): string {
    return `${track}.${appId}`;
  }

  /** Exchanges and the store and dead-letter queues. */
  async declareBase(ch: Channel): Promise<void> {
    await ch.assertExchange(this.deadLetterExchange, 'fanout', { durable: true });
    await ch.assertQueue(this.deadLetterQueue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-max-length': this.opts.deadLetterMaxLength, 'x-overflow': 'drop-head' },
    });
    await ch.bindQueue(this.deadLetterQueue, this.deadLetterExchange, '');
    await ch.assertExchange(this.upstreamExchange, 'topic', { durable: true });
    await ch.assertExchange(this.downstreamExchange, 'direct', { durable: true });
    await ch.assertQueue(this.storeQueue, { durable: true, arguments: this.workQueueArguments() });
  }

  /** The track's durable work queue, bound `<track>.#` to the upstream exchange. */
  async declareUpstream(ch: Channel, track: string): Promise<string> {
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(track)) throw new Error(`rabbitmq: invalid track name ${JSON.stringify(track)}`);
    const queue = this.upstreamQueue(track);
    const bound = this.opts.upstreamMaxBytes ?? 0;
    await ch.assertQueue(queue, {
      durable: true,
      arguments: { ...this.workQueueArguments(), ...(bound > 0 && { 'x-max-length-bytes': bound, 'x-overflow': 'reject-publish' }) },
    });
    await ch.bindQueue(queue, this.upstreamExchange, `${track}.#`);
    return queue;
  }

  /** The gate's transient downstream queue (imcloud.push.<gateId>): gone with its last consumer, bounded, oldest dropped. */
  async declareDownstream(ch: Channel, gateId: string): Promise<string> {
    const queue = this.downstreamQueue(gateId);
    await ch.assertQueue(queue, {
      durable: false,
      autoDelete: true,
      arguments: {
        'x-max-length': this.opts.downstreamQueueMaxLength,
        'x-overflow': 'drop-head',
        'x-expires': DOWNSTREAM_QUEUE_EXPIRES_MS,
      },
    });
    await ch.bindQueue(queue, this.downstreamExchange, gateId);
    return queue;
  }

  /**
   * Quorum queue arguments of the upstream and store queues. RabbitMQ dead-letters a message
   * once it has been returned more than x-delivery-limit times, i.e. after deliveryLimit
   * deliveries. Returns by a closed channel (a crashed consumer) count too, so a message that
   * kills its consumer also ends in the dead-letter queue instead of looping.
   */
  private workQueueArguments(): Record<string, unknown> {
    return {
      'x-queue-type': 'quorum',
      'x-delivery-limit': this.opts.deliveryLimit - 1,
      'x-dead-letter-exchange': this.deadLetterExchange,
    };
  }
}
