// Login and logout (architecture.md §4): the route of a connection that the gate authenticated,
// the app's multi-login policy (older logins are kicked; ADR 0006), the per-user connection cap
// (ADR 0024), and AuthOk, which puts the connection online at its gate (ADR 0022).

import { ImError, toImError } from '../../protocol/errors.js';
import { encodeFrameBody } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { MultiLoginPolicy } from '../ports/app-registry.js';
import type { Route } from '../ports/routes.js';
import { AppEvents } from './app-events.js';
import type { Caller } from './caller.js';
import { type AppPolicy, appOf, type LogicContext } from './logic-context.js';

export class Logins {
  /** Presence changes are webhook events (ADR 0037). */
  private readonly events: AppEvents;

  constructor(private readonly cx: LogicContext) {
    this.events = new AppEvents(cx);
  }

  async login(c: Caller, up: imcloud.internal.v1.Upstream): Promise<void> {
    const { routes } = this.cx.backends;
    let app: AppPolicy;
    try {
      app = await appOf(this.cx, c.appId);
    } catch (err) {
      this.cx.replies.error(c, 0, toImError(err));
      return;
    }
    const mine: Route = { connId: c.connId, gateId: c.gateId, deviceId: c.deviceId, platform: c.platform, since: c.receivedAt };
    // The gate says how long a route lives without a heartbeat; an envelope that does not say gets the shared setting.
    const all = await routes.add(c.appId, c.userId, mine, up.routeTtlMs || this.cx.config.heartbeat.idleTimeoutMs);
    const displaced = all.filter((r) => r.connId !== c.connId && displaces(app.multiLogin, mine, r));
    const cap = app.limits?.connectionsPerUser ?? this.cx.config.logic.connectionsPerUser;
    if (all.length - displaced.length > cap) {
      await routes.remove(c.appId, c.userId, c.connId);
      this.cx.replies.error(c, 0, new ImError('IM_TOO_MANY_CONNECTIONS', `this user holds ${cap} connections already; close one first`));
      return;
    }
    // Only older logins are displaced; a newer one displaces this one when it is handled.
    for (const r of displaced) await this.kick(c, app.multiLogin, r);
    if (all.length - displaced.length === 1) await this.online(c);
    this.cx.replies.reply(
      c,
      {
        authOk: {
          appId: c.appId,
          userId: c.userId,
          connId: c.connId,
          gateId: c.gateId,
          heartbeatIntervalMs: up.heartbeatIntervalMs || this.cx.config.heartbeat.intervalMs,
          serverTime: this.cx.now(),
        },
      },
      { authOk: true },
    );
  }

  async logout(c: Caller, reqId: number): Promise<void> {
    await this.cx.backends.routes.remove(c.appId, c.userId, c.connId);
    this.cx.replies.reply(c, { reqId, logoutOk: {} }, { closeAfter: true });
  }

  /**
   * The user's only connection logged in: user.online (the gate queues user.offline when the
   * last one closes). A failure to queue it is logged and does not fail the login.
   */
  private async online(c: Caller): Promise<void> {
    await this.events
      .publishPresence(c.appId, 'user.online', c.userId, c.connId, c.deviceId)
      .catch((err: unknown) => this.cx.log.warn({ appId: c.appId, err: String(err) }, 'webhook: a user.online event could not be queued'));
  }

  /** Closes a login that the caller's displaces, saying why, and forgets its route. */
  private async kick(c: Caller, policy: MultiLoginPolicy, displaced: Route): Promise<void> {
    const kick = encodeFrameBody({
      kick: {
        reason: imcloud.v1.KickReason.KICK_REASON_LOGIN_ELSEWHERE,
        message: `signed in on another device (${policy} policy)`,
        byDevice: c.deviceId,
        byPlatform: c.platform,
      },
    });
    this.cx.replies.toConnection(c, displaced, kick, { closeAfter: true });
    await this.cx.backends.routes.remove(c.appId, c.userId, displaced.connId);
  }
}

/** Whether a new login `mine` displaces the existing route `other` under the app's policy. */
export function displaces(policy: MultiLoginPolicy, mine: Route, other: Route): boolean {
  const older = other.since < mine.since || (other.since === mine.since && other.connId < mine.connId);
  if (!older) return false;
  switch (policy) {
    case 'single':
      return true;
    case 'per-platform':
      return other.platform === mine.platform || other.deviceId === mine.deviceId;
    case 'all':
      return other.deviceId === mine.deviceId;
  }
}
