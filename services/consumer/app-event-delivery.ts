// One app's webhook events (ADR 0037): its events queue, consumed by one process at a time; each
// event is posted, signed, once the one before it in its conversation is settled, retried with
// backoff while it stays unacknowledged (a crash returns it to the queue), and dead-lettered
// after the webhook's maxAttempts. The app's own slots bound its requests in flight, so a slow
// endpoint holds few of the process's slots and no other app's queue.
import type { WebhookConfig } from '../ports/app-registry.js';
import type { Bus, BusDelivery, Subscription } from '../ports/bus.js';
import type { Logger } from '../shared/logger.js';
import { initializeAppSeries, type Metrics } from '../shared/metrics.js';
import { decodeEvent, type EventHead, laneOf } from '../shared/webhook-event.js';
import { postWebhook } from '../shared/webhook-post.js';
import { ConversationLanes } from './conversation-lanes.js';
import { retryDelayMs } from './retry-delay.js';
import { Semaphore } from './semaphore.js';

export interface DeliverySettings {
  maxConcurrentPerApp: number;
  maxHeldPerApp: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** An offline followed by the user's return within this is delivered as neither. */
  presenceDebounceMs: number;
}

/** Thrown to the bus when an event is given up: the bus dead-letters it. */
class GivenUp extends Error {}

export class AppEventDelivery {
  private readonly lanes = new ConversationLanes();
  private readonly slots: Semaphore;
  private subscription: Subscription | undefined;
  private stopped = false;
  /** Wakes the retry waits when the delivery stops. */
  private readonly stopping = new AbortController();
  private readonly counters;
  private readonly latency;
  /** The latest user.online taken off the queue per user, not yet settled: it cancels an earlier offline. */
  private readonly onlineAt = new Map<string, number>();
  /** Users whose next online is the return that cancelled their offline: not delivered either. */
  private readonly returning = new Set<string>();

  constructor(
    readonly appId: string,
    /** The app's webhook; replaced when the app changes it (the next attempt uses the new one). */
    public hook: WebhookConfig,
    private readonly bus: Bus,
    private readonly processSlots: Semaphore,
    private readonly settings: DeliverySettings,
    metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = new Semaphore(settings.maxConcurrentPerApp);
    initializeAppSeries(metrics, appId, 'webhook');
    const outcome = (o: string) => metrics.webhookEvents.labels({ app_id: appId, outcome: o });
    this.counters = {
      delivered: outcome('delivered'),
      failed: outcome('failed'),
      retried: outcome('retried'),
      dead: outcome('dead_lettered'),
      suppressed: outcome('suppressed'),
    };
    this.latency = metrics.webhookDelivery.labels({ app_id: appId });
  }

  async start(): Promise<void> {
    this.subscription = await this.bus.consumeEvents(this.appId, (d) => this.receive(d), { prefetch: this.settings.maxHeldPerApp });
  }

  /**
   * Stops taking events. Those held are neither acknowledged nor given up: the bus returns them
   * to the queue when the subscription closes, for the next process (or webhook) to deliver.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.subscription?.cancel();
  }

  private receive(d: BusDelivery): Promise<void> {
    let event: EventHead;
    try {
      event = decodeEvent(d.body);
      if (event.appId !== this.appId) throw new Error(`an event of app ${event.appId} in the queue of ${this.appId}`);
    } catch (err) {
      this.counters.dead.inc();
      this.log.warn({ appId: this.appId, err: String(err) }, 'webhook: not an event of this app; dead-lettered');
      return Promise.reject(err);
    }
    const body = Buffer.from(d.body).toString('utf8');
    if (event.type === 'user.online' && event.user !== undefined)
      this.onlineAt.set(event.user, Math.max(this.onlineAt.get(event.user) ?? 0, event.createdAt));
    return this.lanes.run(laneOf(event), () => this.settle(event, body));
  }

  private async settle(event: EventHead, body: string): Promise<void> {
    if (event.type === 'user.online' || event.type === 'user.offline') {
      if (await this.debounced(event)) {
        this.counters.suppressed.inc();
        return;
      }
      // Both kinds are queued when either is asked for; the other one goes no further.
      if (!(this.hook.events as string[]).includes(event.type)) return;
    }
    return this.deliver(event, body);
  }

  /**
   * Whether a presence event is cancelled (ADR 0037): an offline waits out the debounce in its
   * user's lane, and is dropped if the user's online was taken off the queue meanwhile; that
   * online is then dropped too. Never settles once stopped.
   */
  private async debounced(e: EventHead): Promise<boolean> {
    const user = e.user ?? '';
    if (e.type === 'user.online') {
      if (this.onlineAt.get(user) === e.createdAt) this.onlineAt.delete(user);
      return this.returning.delete(user);
    }
    await this.wait(e.createdAt + this.settings.presenceDebounceMs - this.now());
    if (this.stopped) return new Promise<boolean>(() => undefined);
    const back = (this.onlineAt.get(user) ?? 0) >= e.createdAt;
    if (back) this.returning.add(user);
    return back;
  }

  /** Attempts until delivered or given up; never settles once stopped (the event goes back to the queue). */
  private async deliver(event: EventHead, body: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) return new Promise<void>(() => undefined);
      const hook = this.hook;
      const result = await this.post(hook, event, body);
      if (result.ok) {
        this.counters.delivered.inc();
        this.latency.observe(Math.max(0, this.now() - event.createdAt) / 1000);
        return;
      }
      this.counters.failed.inc();
      if (attempt >= hook.maxAttempts) {
        this.counters.dead.inc();
        this.log.warn(
          { appId: this.appId, eventId: event.id, attempts: attempt, error: result.error, status: result.status },
          'webhook: event dead-lettered',
        );
        throw new GivenUp(`webhook event ${event.id} not delivered after ${attempt} attempts`);
      }
      this.counters.retried.inc();
      await this.wait(retryDelayMs(attempt, this.settings.retryBaseMs, this.settings.retryMaxMs));
    }
  }

  /** One request, within the app's slots and then the process's. */
  private async post(hook: WebhookConfig, event: EventHead, body: string) {
    await this.slots.acquire();
    try {
      await this.processSlots.acquire();
      try {
        return await postWebhook(hook, body, { eventId: event.id, eventType: event.type, timeoutMs: hook.timeoutMs, now: this.now });
      } finally {
        this.processSlots.release();
      }
    } finally {
      this.slots.release();
    }
  }

  /** Waits `ms`, or until the delivery stops; leaves no listener behind either way. */
  private wait(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
