// The webhook deliverer, part of the consumer role (ADR 0037): every app with a webhook has its
// events queue consumed here (one process at a time per app: the bus's single active consumer).
// Apps are found by looking at the registry every webhooks.appsPollMs; an app whose webhook is
// removed stops being served (its queued events wait for the next webhook).
import type { App } from '../ports/app-registry.js';
import type { Backends } from '../ports/backends.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { ConsumerConfig } from '../shared/role-config.js';
import { AppEventDelivery } from './app-event-delivery.js';
import { Semaphore } from './semaphore.js';

export class WebhookDeliverer {
  private readonly served = new Map<string, AppEventDelivery>();
  private readonly processSlots: Semaphore;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly config: ConsumerConfig,
    private readonly backends: Pick<Backends, 'apps' | 'bus'>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    this.processSlots = new Semaphore(config.webhooks.maxConcurrent);
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.config.webhooks.appsPollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.refreshing?.catch(() => undefined);
    await Promise.all([...this.served.values()].map((d) => d.stop()));
    this.served.clear();
  }

  /** Looks for apps whose webhook was set, changed or removed; one look at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.look()
      .catch((err: unknown) => this.log.warn({ err: String(err) }, 'webhook: could not read the apps; trying again later'))
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async look(): Promise<void> {
    const withHooks = new Map<string, App>();
    for (const app of await this.backends.apps.list()) if (app.webhook && app.webhook.events.length > 0) withHooks.set(app.appId, app);
    for (const [appId, delivery] of this.served) {
      if (withHooks.has(appId)) continue;
      this.served.delete(appId);
      await delivery.stop();
    }
    for (const [appId, app] of withHooks) {
      if (this.stopped) return;
      const known = this.served.get(appId);
      if (known) {
        known.hook = app.webhook!;
        continue;
      }
      const delivery = new AppEventDelivery(
        appId,
        app.webhook!,
        this.backends.bus,
        this.processSlots,
        this.config.webhooks,
        this.metrics,
        this.log,
        this.now,
      );
      this.served.set(appId, delivery);
      try {
        await delivery.start();
      } catch (err) {
        // Not subscribed (the bus is down, or refused this app's queue): the next look tries
        // again, and the apps after it are not held up by it.
        this.served.delete(appId);
        this.log.warn({ appId, err: String(err) }, 'webhook: could not subscribe to the app’s events; trying again later');
      }
    }
  }
}
