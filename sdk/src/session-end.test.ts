import { describe, expect, it } from 'vitest';
import { ImClientError } from './client-error.js';
import { decideConnectFailure, decideSessionEnd, type EndContext, STOP_CODES } from './session-end.js';
import type { KickInfo } from './types.js';

const kick = (reason: KickInfo['reason']): KickInfo => ({ reason, message: '', byDevice: '', byPlatform: 'unspecified' });
const fatal = (code: string, retryAfterMs = 0) => new ImClientError(code, `${code} from the server`, retryAfterMs, true);
const withGetToken: EndContext = { canRenewToken: true, random: () => 0.5, now: () => 10_000 };
const withoutGetToken: EndContext = { ...withGetToken, canRenewToken: false };

describe('decideSessionEnd', () => {
  it('reconnects after a plain close, giving the close reason', () => {
    expect(decideSessionEnd({}, 'heartbeat timeout', withoutGetToken)).toEqual({ reason: 'heartbeat timeout' });
  });

  it('signs in again soon after a token-expired kick when getToken can renew the token', () => {
    expect(decideSessionEnd({ kick: kick('token-expired') }, 'kicked', withGetToken)).toEqual({ reason: 'token expired', delayMs: 500 });
  });

  it('stops offline with IM_TOKEN_EXPIRED after a token-expired kick without getToken', () => {
    const end = decideSessionEnd({ kick: kick('token-expired') }, 'kicked', withoutGetToken);
    expect(end.reason).toBe('IM_TOKEN_EXPIRED');
    expect(end.stop).toMatchObject({ state: 'offline', reason: 'IM_TOKEN_EXPIRED' });
    expect(end.stop?.error?.code).toBe('IM_TOKEN_EXPIRED');
    expect(end.stop?.kick).toBeUndefined();
  });

  it('stops in state kicked for every other kick, even with getToken', () => {
    for (const reason of ['login-elsewhere', 'token-revoked', 'admin', 'unspecified'] as const) {
      const k = kick(reason);
      expect(decideSessionEnd({ kick: k }, 'kicked', withGetToken)).toEqual({
        reason: 'kicked',
        stop: { state: 'kicked', reason: `kicked: ${reason}`, kick: k },
      });
    }
  });

  it('stops offline on the fatal codes that reconnecting cannot fix, with that error', () => {
    expect([...STOP_CODES].sort()).toEqual([
      'IM_APP_NOT_FOUND',
      'IM_AUTH_REQUIRED',
      'IM_PROTOCOL_VERSION',
      'IM_TOKEN_INVALID',
      'IM_TOKEN_REVOKED',
    ]);
    for (const code of STOP_CODES) {
      const err = fatal(code);
      expect(decideSessionEnd({ fatal: err }, 'closed', withGetToken)).toEqual({
        reason: code,
        stop: { state: 'offline', reason: code, error: err },
      });
    }
  });

  it('a fatal IM_TOKEN_EXPIRED stops without getToken and reconnects (fetching a new token) with it', () => {
    const err = fatal('IM_TOKEN_EXPIRED');
    expect(decideSessionEnd({ fatal: err }, 'closed', withoutGetToken).stop).toMatchObject({ state: 'offline', error: err });
    expect(decideSessionEnd({ fatal: err }, 'closed', withGetToken)).toEqual({ reason: 'IM_TOKEN_EXPIRED', minDelayMs: 0 });
  });

  it('reconnects after other fatal errors, no sooner than their retry_after_ms', () => {
    expect(decideSessionEnd({ fatal: fatal('IM_UNAVAILABLE', 2500) }, 'closed', withoutGetToken)).toEqual({
      reason: 'IM_UNAVAILABLE',
      minDelayMs: 2500,
    });
    expect(decideSessionEnd({ fatal: fatal('IM_RATE_LIMITED') }, 'closed', withoutGetToken)).toEqual({
      reason: 'IM_RATE_LIMITED',
      minDelayMs: 0,
    });
  });

  it('reconnects at the time a ServerHint named, and at once when that time has passed', () => {
    expect(decideSessionEnd({ reconnectAt: 10_750 }, 'server hint: draining', withoutGetToken)).toEqual({
      reason: 'server hint',
      delayMs: 750,
    });
    expect(decideSessionEnd({ reconnectAt: 9_000 }, 'server hint: draining', withoutGetToken)).toEqual({
      reason: 'server hint',
      delayMs: 0,
    });
  });

  it('lets a kick outrank a fatal error and a hint on the same connection', () => {
    const k = kick('login-elsewhere');
    expect(decideSessionEnd({ kick: k, fatal: fatal('IM_UNAVAILABLE'), reconnectAt: 0 }, 'kicked', withGetToken).stop?.state).toBe(
      'kicked',
    );
  });
});

describe('decideConnectFailure', () => {
  it('stops on IM_BAD_REQUEST and IM_ROUTE_NOT_FOUND (asking dispatch again cannot help)', () => {
    for (const code of ['IM_BAD_REQUEST', 'IM_ROUTE_NOT_FOUND']) {
      const err = new ImClientError(code, 'no');
      expect(decideConnectFailure(err)).toEqual({
        reason: 'connect failed',
        minDelayMs: 0,
        stop: { state: 'offline', reason: code, error: err },
      });
    }
  });

  it('retries other failures, no sooner than the server asked', () => {
    expect(decideConnectFailure(new ImClientError('IM_UNAVAILABLE', 'busy', 3000))).toEqual({ reason: 'connect failed', minDelayMs: 3000 });
    expect(decideConnectFailure(new ImClientError('SDK_DISPATCH_FAILED', 'unreachable'))).toEqual({
      reason: 'connect failed',
      minDelayMs: 0,
    });
    expect(decideConnectFailure(new Error('socket hang up'))).toEqual({ reason: 'connect failed', minDelayMs: 0 });
  });
});
