import Denque from 'denque';
import type { Bus, BusDelivery, BusHandler, ConsumeOptions, Subscription } from '../../ports/bus.js';

interface Pending {
  body: Uint8Array;
  deliveryCount: number;
}

/**
 * One in-process queue with competing consumers, at-least-once and a delivery limit. Mirrors
 * the broker's semantics (prefetch, redelivery, dead-lettering) so the same contract holds.
 *
 * The waiting messages sit in a ring buffer (denque): taking one from the head costs the same
 * whatever the backlog. An array's shift() copies the whole array once it is large (V8 moves the
 * start of a small array in place, but not of one in large-object space, past ~16,000 entries):
 * under overload every message then cost more the longer the backlog was (ADR 0021).
 */
class MemoryQueue {
  private readonly ready = new Denque<Pending>();
  private readonly consumers: Array<{ handler: BusHandler; prefetch: number; inFlight: number; active: boolean }> = [];
  private next = 0;
  private scheduled = false;

  constructor(
    private readonly deliveryLimit: number,
    private readonly deadLetter: (body: Uint8Array) => void,
    /** Transient queues drop messages while nobody consumes (auto-delete semantics). */
    private readonly transient: boolean,
  ) {}

  push(body: Uint8Array): void {
    if (this.transient && !this.consumers.some((c) => c.active)) return;
    this.ready.push({ body, deliveryCount: 0 });
    this.schedule();
  }

  subscribe(handler: BusHandler, prefetch: number): Subscription {
    const consumer = { handler, prefetch, inFlight: 0, active: true };
    this.consumers.push(consumer);
    this.schedule();
    return {
      cancel: async () => {
        consumer.active = false;
        const i = this.consumers.indexOf(consumer);
        if (i >= 0) this.consumers.splice(i, 1);
        // Like an auto-delete queue: when its last consumer goes, so do the waiting messages.
        if (this.transient && this.consumers.length === 0) this.ready.clear();
      },
    };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.ready.length > 0) {
      const consumer = this.pickConsumer();
      if (!consumer) return;
      const item = this.ready.shift()!;
      item.deliveryCount += 1;
      consumer.inFlight += 1;
      const delivery: BusDelivery = { body: item.body, deliveryCount: item.deliveryCount };
      let settled: Promise<void>;
      try {
        settled = consumer.handler(delivery);
      } catch (err) {
        settled = Promise.reject(err);
      }
      settled.then(
        () => this.settle(consumer),
        () => {
          this.settle(consumer);
          if (item.deliveryCount >= this.deliveryLimit) this.deadLetter(item.body);
          else if (!this.transient || consumer.active) this.ready.push(item);
          this.schedule();
        },
      );
    }
  }

  private settle(consumer: { inFlight: number }): void {
    consumer.inFlight -= 1;
    if (this.ready.length > 0) this.schedule();
  }

  private pickConsumer() {
    const n = this.consumers.length;
    for (let i = 0; i < n; i++) {
      const c = this.consumers[(this.next + i) % n]!;
      if (c.active && c.inFlight < c.prefetch) {
        this.next = (this.next + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }
}

export interface MemoryBusOptions {
  deliveryLimit?: number;
  /** Called when a message is given up after the delivery limit; for metrics. */
  onDeadLetter?: (channel: string, body: Uint8Array) => void;
}

export class MemoryBus implements Bus {
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly dead: Uint8Array[] = [];
  private readonly deliveryLimit: number;

  constructor(private readonly opts: MemoryBusOptions = {}) {
    this.deliveryLimit = opts.deliveryLimit ?? 5;
  }

  private queue(name: string, transient: boolean): MemoryQueue {
    let q = this.queues.get(name);
    if (!q) {
      const channel = name.split('.')[0]!;
      q = new MemoryQueue(this.deliveryLimit, (body) => {
        this.dead.push(body);
        this.opts.onDeadLetter?.(channel, body);
      }, transient);
      this.queues.set(name, q);
    }
    return q;
  }

  async publishUpstream(track: string, _appId: string, body: Uint8Array): Promise<void> {
    this.queue(`upstream.${track}`, false).push(body);
  }
  async consumeUpstream(track: string, handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.queue(`upstream.${track}`, false).subscribe(handler, opts.prefetch ?? 256);
  }
  async publishPush(gateId: string, body: Uint8Array): Promise<void> {
    this.queue(`push.${gateId}`, true).push(body);
  }
  async consumePush(gateId: string, handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.queue(`push.${gateId}`, true).subscribe(handler, opts.prefetch ?? 256);
  }
  async publishStore(body: Uint8Array): Promise<void> {
    this.queue('store', false).push(body);
  }
  async consumeStore(handler: BusHandler, opts: ConsumeOptions = {}): Promise<Subscription> {
    return this.queue('store', false).subscribe(handler, opts.prefetch ?? 256);
  }
  async deadLettered(): Promise<Uint8Array[]> {
    return [...this.dead];
  }
  async close(): Promise<void> {
    this.queues.clear();
  }
}
