// Who sent an upstream frame, as the gate established it from the verified token, and where
// the answer goes (the connection on its gate).
import { randomUUID } from 'node:crypto';
import { APP_ID, SYSTEM_SENDER, USER_ID } from '../../protocol/conversation-id.js';
import type { imcloud } from '../../protocol/gen/im.js';

export interface Caller {
  appId: string;
  userId: string;
  deviceId: string;
  platform: number;
  connId: string;
  gateId: string;
  traceId: string;
  /** When the gate took the frame (ms since epoch); 0 when the envelope does not say. */
  receivedAt: number;
  /** The admin role sent the frame (the app's backend): it may act as the system sender. */
  admin: boolean;
}

export function callerOf(up: imcloud.internal.v1.Upstream): Caller {
  return {
    appId: up.appId,
    userId: up.userId,
    deviceId: up.deviceId,
    platform: up.platform,
    connId: up.connId,
    gateId: up.gateId,
    traceId: up.traceId || randomUUID(),
    receivedAt: Number(up.receivedAt),
    admin: up.admin,
  };
}

/**
 * Logic's own wall behind the gate's (ADR 0022): an authenticated app and user, and a connection
 * to answer. Only the admin role acts as the system sender (ADR 0035), whatever token a client holds.
 */
export function isAuthenticated(c: Caller): boolean {
  const user = USER_ID.test(c.userId) && (c.userId !== SYSTEM_SENDER || c.admin);
  return APP_ID.test(c.appId) && user && Boolean(c.connId) && Boolean(c.gateId);
}
