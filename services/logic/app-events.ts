// The webhook events of accepted messages (ADR 0037): published to the app's events queue, and
// confirmed, before the sender's ack, so that a message acked is an event queued; a send that
// fails here is retried by its client and resumed (same seq and id, so the same event id).
import type { StoredMessage } from '../ports/stored-message.js';
import { encodeEvent, eventOf, eventTypeOf, type PresenceEvent, presenceEventOf, readEventOf } from '../shared/webhook-event.js';
import type { LogicContext } from './logic-context.js';

export class AppEvents {
  constructor(private readonly cx: LogicContext) {}

  /** Publishes the message's event if the app's webhook asks for its kind; resolves once the bus has it. */
  async publish(appId: string, message: StoredMessage): Promise<void> {
    const app = await this.cx.apps.get(appId);
    const wanted = app?.webhook?.events;
    if (!wanted?.includes(eventTypeOf(message))) return;
    await this.cx.backends.bus.publishEvent(appId, encodeEvent(eventOf(appId, message)));
    this.cx.metrics.webhookEventsPublished.inc({ app_id: appId });
  }

  /** A read receipt's event, if the app's webhook asks for them; before the reader's ReadAck, so that a failure is retried. */
  async publishRead(appId: string, user: string, conversation: string, seq: number): Promise<void> {
    const app = await this.cx.apps.get(appId);
    if (!app?.webhook?.events.includes('message.read')) return;
    await this.cx.backends.bus.publishEvent(appId, encodeEvent(readEventOf(appId, user, conversation, seq, this.cx.now())));
    this.cx.metrics.webhookEventsPublished.inc({ app_id: appId });
  }

  /**
   * A presence change, if the app's webhook asks for either kind (both are published, so the
   * deliverer can cancel an offline by the online that follows it). Resolves once the bus has it.
   */
  async publishPresence(appId: string, type: PresenceEvent['type'], user: string, connId: string, deviceId: string): Promise<void> {
    if (!(await this.wantsPresence(appId))) return;
    await this.cx.backends.bus.publishEvent(appId, encodeEvent(presenceEventOf(appId, type, user, connId, deviceId, this.cx.now())));
    this.cx.metrics.webhookEventsPublished.inc({ app_id: appId });
  }

  /** Whether the app's webhook asks for presence events (logic looks no further when it does not). */
  async wantsPresence(appId: string): Promise<boolean> {
    const wanted = (await this.cx.apps.get(appId))?.webhook?.events;
    return wanted?.includes('user.online') === true || wanted?.includes('user.offline') === true;
  }
}
