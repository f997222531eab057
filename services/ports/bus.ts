// The message bus between roles (docs/architecture.md §7). Bodies are encoded internal protobuf
// messages.
//
// Delivery is at-least-once everywhere: a handler that resolves acknowledges the message; one
// that rejects returns it for redelivery until the delivery limit, after which it is
// dead-lettered (and counted), so a poison message can never loop forever.
//
// Admission: a track's upstream queue may be bounded (bytes of frames waiting for a logic
// process). Past the bound publishUpstream rejects at once with an UpstreamFullError
// (IM_UNAVAILABLE with a retry hint), so that under overload a gate refuses what logic could
// only shed later, after queueing it (ADR 0021).
import { ImError } from '../../protocol/errors.js';

export interface BusDelivery {
  body: Uint8Array;
  /** 1 on first delivery; grows with every redelivery. */
  deliveryCount: number;
}

export type BusHandler = (delivery: BusDelivery) => Promise<void>;

export interface Subscription {
  /** Stop receiving; unacknowledged messages go back to the queue. */
  cancel(): Promise<void>;
}

export interface ConsumeOptions {
  /** Messages handed to the handler before earlier ones are settled. */
  prefetch?: number;
}

/** How long a client refused by a full upstream queue is told to wait before it retries. */
export const UPSTREAM_FULL_RETRY_AFTER_MS = 1_000;

/** publishUpstream's refusal when the track's queue holds its bound: overload, retry later. */
export class UpstreamFullError extends ImError {
  constructor(detail = 'the upstream queue is full') {
    super('IM_UNAVAILABLE', `overloaded: ${detail}; retry after retry_after_ms`, { retryAfterMs: UPSTREAM_FULL_RETRY_AFTER_MS });
  }
}

export interface Bus {
  /**
   * gate → logic. Routed by gray track; competing consumers share a track's queue. Rejects with
   * UpstreamFullError while the track's queue holds its bound of waiting frames (if it has one).
   */
  publishUpstream(track: string, appId: string, body: Uint8Array): Promise<void>;
  /**
   * Whether publishUpstream to this track would be refused now (UpstreamFullError): cheap and
   * synchronous, so that a gate refuses before it builds the envelope. A hint that may lag.
   */
  upstreamFull?(track: string): boolean;
  consumeUpstream(track: string, handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /**
   * logic (and admin) → one gate instance: a Downstream batch of frames for its connections
   * (acks, errors, AuthOk, pushes, notices, kicks). Transient: the queue lives and dies with its
   * gate (sync repairs). Its RabbitMQ names keep the word "push" (topology.ts).
   */
  publishDownstream(gateId: string, body: Uint8Array): Promise<void>;
  consumeDownstream(gateId: string, handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /** logic → consumer. Durable: resolves only once the broker has taken responsibility (confirm). */
  publishStore(body: Uint8Array): Promise<void>;
  consumeStore(handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /**
   * logic → the webhook deliverer: one app's events (ADR 0037). Durable: resolves once the broker
   * has taken responsibility (confirm). One queue per app, bounded: past its bound the oldest
   * events are dead-lettered, never a publish refused (a dead endpoint must not stop sends).
   */
  publishEvent(appId: string, body: Uint8Array): Promise<void>;
  /**
   * One app's events, in the order they were published, to one subscriber at a time (single
   * active consumer; others wait as standbys). Unlike the other channels, a handler that rejects
   * dead-letters the event at once: the deliverer retries by itself, holding the event
   * unacknowledged meanwhile, so that a crash returns it to the queue.
   */
  consumeEvents(appId: string, handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /** Messages dead-lettered so far by this process's view (for tests and metrics). */
  deadLettered(): Promise<Uint8Array[]>;

  close(): Promise<void>;
}
