// The message bus between roles (DESIGN §7). Bodies are encoded internal protobuf messages.
//
// Delivery is at-least-once everywhere: a handler that resolves acknowledges the message; one
// that rejects returns it for redelivery until the delivery limit, after which it is
// dead-lettered (and counted), so a poison message can never loop forever.

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

export interface Bus {
  /** gate → logic. Routed by gray track; competing consumers share a track's queue. */
  publishUpstream(track: string, appId: string, body: Uint8Array): Promise<void>;
  consumeUpstream(track: string, handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /** logic → one gate instance. Transient: the queue lives and dies with its gate (sync repairs). */
  publishPush(gateId: string, body: Uint8Array): Promise<void>;
  consumePush(gateId: string, handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /** logic → consumer. Durable: resolves only once the broker has taken responsibility (confirm). */
  publishStore(body: Uint8Array): Promise<void>;
  consumeStore(handler: BusHandler, opts?: ConsumeOptions): Promise<Subscription>;

  /** Messages dead-lettered so far by this process's view (for tests and metrics). */
  deadLettered(): Promise<Uint8Array[]>;

  close(): Promise<void>;
}
