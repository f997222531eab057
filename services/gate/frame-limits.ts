// The limits a client frame passes at the gate before it is forwarded (ADR 0007, 0024): the
// connection's own token bucket (refused in a row gate.floodStrikes times: closed), and its
// app's frame rate across every gate, whose refusals are cheap and batched and hold the
// connection back from reading.

import { ImError } from '../../protocol/errors.js';
import { encodeFrame, errorFrame } from '../../protocol/frame-codec.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { AppQuotas } from './app-quotas.js';
import type { ClientConnection } from './client-connection.js';
import type { ClientWriter } from './client-writer.js';
import type { RefusalWriter } from './refusal-writer.js';

/**
 * The frame types a client may send once online, with what each costs of the connection's and
 * the app's rate limits: reads that can return pages of messages weigh more than a send.
 */
const FRAME_COST: Readonly<Record<string, number>> = {
  send: 1,
  recall: 1,
  pushAck: 1,
  read: 1,
  logout: 1,
  sync: 4,
  pull: 4,
  history: 4,
  // A change writes member records besides its event; a members page reads up to 500 of them.
  groupCreate: 4,
  groupChange: 4,
  groupMembers: 4,
  readers: 4,
};
/** A connection over its app's rate is not read from for this long (its retry hint says so too), doubling while it keeps being refused. */
const APP_RATE_PAUSE_MS = 250;
const MAX_APP_RATE_PAUSE_MS = 5_000;

export class FrameLimits {
  private readonly quotas: AppQuotas;

  constructor(
    rateLimiter: RateLimiter,
    private readonly floodStrikes: number,
    private readonly writer: ClientWriter,
    private readonly refusals: RefusalWriter,
    private readonly metrics: Metrics,
    log: Logger,
  ) {
    this.quotas = new AppQuotas(rateLimiter, (err) => log.warn({ err: String(err) }, 'app quota lease failed; letting frames through'));
  }

  /** What a frame type costs of the rate limits; undefined for a type clients may not send. */
  costOf(type: string): number | undefined {
    return FRAME_COST[type];
  }

  /** The connection's own token bucket; refusals in a row beyond gate.floodStrikes close it. */
  takeConnectionTokens(conn: ClientConnection, cost: number, reqId = 0): boolean {
    const allowed = conn.bucket.take(cost);
    if (allowed.allowed) {
      conn.strikes = 0;
      return true;
    }
    conn.strikes += 1;
    if (conn.strikes >= this.floodStrikes) this.writer.refuse(conn, new ImError('IM_FLOODING'), 0);
    // One error per burst of refusals, not one per frame.
    else if (conn.strikes === 1)
      this.writer.sendError(conn, new ImError('IM_RATE_LIMITED', undefined, { retryAfterMs: allowed.retryAfterMs }), reqId);
    return false;
  }

  /** The app's frame rate across every gate; a frame over it is refused. */
  takeAppTokens(conn: ClientConnection, cost: number, reqId: number): boolean {
    const quota = this.quotas.take(conn.appId, conn.appFramesPerSec, cost);
    if (!quota.allowed) {
      this.refuseOverAppRate(conn, reqId, quota.retryAfterMs);
      return false;
    }
    conn.appRateStrikes = 0;
    return true;
  }

  /**
   * Refuses, batched with the connection's other refusals, and stops reading from the
   * connection for a while, longer each time it is refused again without a frame getting
   * through in between: a client that keeps sending past the retry hint is held back by TCP
   * instead of costing the gate a refusal per frame (ADR 0024).
   */
  private refuseOverAppRate(conn: ClientConnection, reqId: number, retryAfterMs: number): void {
    this.metrics.appRateLimited.inc({ app_id: conn.appId });
    this.metrics.errors.inc({ code: 'IM_APP_RATE_LIMITED', role: 'gate' });
    const backoff = Math.min(MAX_APP_RATE_PAUSE_MS, APP_RATE_PAUSE_MS * 2 ** Math.min(conn.appRateStrikes, 8));
    conn.appRateStrikes += 1;
    // Jittered, so that the app's paused connections do not all come back in the same instant.
    const pause = Math.max(retryAfterMs, backoff) + Math.floor(Math.random() * APP_RATE_PAUSE_MS);
    this.refusals.send(conn, encodeFrame(errorFrame(new ImError('IM_APP_RATE_LIMITED', undefined, { retryAfterMs: pause }), reqId)));
    conn.transport.pauseReading(pause);
  }
}
