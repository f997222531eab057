// user.offline (ADR 0037): the gate sees a connection close and removes its route itself, so it
// is the gate that queues the app's user.offline event when that was the user's last
// connection, for apps whose webhook asks for presence. Logic queues user.online at login; the
// deliverer debounces the pair (a reconnect is no change).
import type { App } from '../ports/app-registry.js';
import type { Backends } from '../ports/backends.js';
import { AppDirectory } from '../shared/app-directory.js';
import type { Metrics } from '../shared/metrics.js';
import { encodeEvent, presenceEventOf } from '../shared/webhook-event.js';

export interface ClosedConnection {
  appId: string;
  userId: string;
  id: string;
  deviceId: string;
}

export class PresenceOffline {
  private readonly apps: AppDirectory<Pick<App, 'webhook'>>;

  constructor(
    private readonly backends: Pick<Backends, 'apps' | 'bus' | 'routes'>,
    private readonly metrics: Metrics,
  ) {
    this.apps = new AppDirectory(backends.apps, { maxEntries: 10_000, ttlMs: 5_000 }, ({ webhook }) => (webhook ? { webhook } : {}));
  }

  /** After the connection's route is gone: queues user.offline if the app wants it and the user has no route left. */
  async closed(conn: ClosedConnection): Promise<void> {
    const wanted = (await this.apps.get(conn.appId))?.webhook?.events;
    if (!wanted?.includes('user.online') && !wanted?.includes('user.offline')) return;
    if ((await this.backends.routes.list(conn.appId, conn.userId)).length > 0) return;
    const event = presenceEventOf(conn.appId, 'user.offline', conn.userId, conn.id, conn.deviceId, Date.now());
    await this.backends.bus.publishEvent(conn.appId, encodeEvent(event));
    this.metrics.webhookEventsPublished.inc({ app_id: conn.appId });
  }
}
