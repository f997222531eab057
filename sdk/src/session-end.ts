// What follows a connection that ended, or an attempt that failed before it had one: wait and
// reconnect (how long), or stop for good (in which state, with which error). Pure: the
// connection loop records what the server said (Kick, fatal Error, ServerHint) and asks here.
import { ImClientError } from './client-error.js';
import type { KickInfo } from './types.js';

/** Errors after which reconnecting cannot help: the app has to act (new token, other app, upgrade). */
export const STOP_CODES: ReadonlySet<string> = new Set([
  'IM_TOKEN_INVALID',
  'IM_TOKEN_REVOKED',
  'IM_APP_NOT_FOUND',
  'IM_PROTOCOL_VERSION',
  'IM_AUTH_REQUIRED',
]);

export interface SessionEnd {
  stop?: { state: 'offline' | 'kicked'; reason: string; kick?: KickInfo; error?: ImClientError };
  /** Wait at least this long before the next attempt. */
  minDelayMs?: number;
  /** Exact delay (a ServerHint). */
  delayMs?: number;
  reason: string;
}

/** What the server said on a connection before it closed. */
export interface SessionOutcome {
  kick?: KickInfo;
  fatal?: ImClientError;
  /** ServerHint: reconnect at this time (ms since epoch). */
  reconnectAt?: number;
}

export interface EndContext {
  /** The client has getToken, so an expired token can be replaced. */
  canRenewToken: boolean;
  now?: () => number;
  /** [0, 1), for the jitter of a sign-in after the token expired. */
  random?: () => number;
}

/** Decides what follows a connection that ended; `reason` is the close reason when nothing else explains it. */
export function decideSessionEnd(outcome: SessionOutcome, reason: string, ctx: EndContext): SessionEnd {
  const { kick, fatal } = outcome;
  if (kick?.reason === 'token-expired') {
    // The session lived as long as its token: with getToken, sign in again with a fresh one.
    if (ctx.canRenewToken) return { reason: 'token expired', delayMs: Math.floor((ctx.random ?? Math.random)() * 1_000) };
    return stopOffline(new ImClientError('IM_TOKEN_EXPIRED', 'the token expired; give the client getToken to renew it'));
  }
  if (kick) return { reason: 'kicked', stop: { state: 'kicked', reason: `kicked: ${kick.reason}`, kick } };
  if (fatal) {
    if (fatal.code === 'IM_TOKEN_EXPIRED' && !ctx.canRenewToken) return stopOffline(fatal);
    if (STOP_CODES.has(fatal.code)) return stopOffline(fatal);
    return { reason: fatal.code, minDelayMs: fatal.retryAfterMs };
  }
  if (outcome.reconnectAt !== undefined) {
    return { reason: 'server hint', delayMs: Math.max(0, outcome.reconnectAt - (ctx.now ?? Date.now)()) };
  }
  return { reason };
}

/** Decides what follows an attempt that failed before a connection was authenticated. */
export function decideConnectFailure(err: unknown): SessionEnd {
  const end: SessionEnd = { reason: 'connect failed', minDelayMs: err instanceof ImClientError ? err.retryAfterMs : 0 };
  // Dispatch refused the request itself (e.g. a malformed appId), or the server at
  // dispatchUrl has no such endpoint (a wrong URL): asking again cannot help.
  if (err instanceof ImClientError && (err.code === 'IM_BAD_REQUEST' || err.code === 'IM_ROUTE_NOT_FOUND')) {
    end.stop = { state: 'offline', reason: err.code, error: err };
  }
  return end;
}

function stopOffline(error: ImClientError): SessionEnd {
  return { reason: error.code, stop: { state: 'offline', reason: error.code, error } };
}
