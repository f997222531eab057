// Forwards a client's frames (and its login and disconnect) to logic: the Upstream envelope,
// published to the gate's track (architecture.md §2, step 2). While the upstream queue is full the
// frame is refused at once, before the envelope is built, and refusals cost far less than serving
// (ADR 0021).
import { randomUUID } from 'node:crypto';
import { ImError } from '../../protocol/errors.js';
import { encodeFrameBody, errorFrame, withVersionAndReqId } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { type Bus, UpstreamFullError } from '../ports/bus.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { ClientConnection } from './client-connection.js';
import type { ClientWriter } from './client-writer.js';
import type { RefusalWriter } from './refusal-writer.js';

type Kind = imcloud.internal.v1.Upstream.Kind;
const Kind = imcloud.internal.v1.Upstream.Kind;
/** A publish that failed for another reason than a full queue: the client retries after this. */
const PUBLISH_FAILED_RETRY_AFTER_MS = 1_000;

/** What every envelope of this gate carries besides the connection's own fields. */
export interface UpstreamSettings {
  gateId: string;
  /** The gray track whose logic processes take this gate's frames. */
  track: string;
  /** For logic's AuthOk (the heartbeat clients are told) and the route's lifetime without one. */
  heartbeatIntervalMs: number;
  routeTtlMs: number;
}

export class UpstreamForwarder {
  private readonly upstreamFull = new UpstreamFullError();
  /** The overload refusal's frame body without its reqId: encoded once. */
  private readonly upstreamFullFrame = encodeFrameBody(errorFrame(this.upstreamFull));
  private refusedErrors?: { inc(): void };

  constructor(
    private readonly bus: Bus,
    private readonly settings: UpstreamSettings,
    private readonly writer: ClientWriter,
    private readonly refusals: RefusalWriter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  forward(conn: ClientConnection, kind: Kind, frame: Uint8Array, reqId = 0): void {
    const { gateId, track, heartbeatIntervalMs, routeTtlMs } = this.settings;
    if (this.bus.upstreamFull?.(track)) return this.refuseOverloaded(conn, kind, reqId, this.upstreamFull);
    const envelope = imcloud.internal.v1.Upstream.encode({
      kind,
      appId: conn.appId,
      userId: conn.userId,
      deviceId: conn.deviceId,
      platform: conn.platform,
      connId: conn.id,
      gateId,
      traceId: randomUUID(),
      receivedAt: Date.now(),
      frame,
      heartbeatIntervalMs,
      routeTtlMs,
    }).finish();
    this.bus.publishUpstream(track, conn.appId, envelope).catch((err: unknown) => {
      if (err instanceof UpstreamFullError) return this.refuseOverloaded(conn, kind, reqId, err);
      this.log.warn({ conn: conn.id, err: String(err) }, 'upstream publish failed');
      this.writer.sendError(conn, new ImError('IM_UNAVAILABLE', undefined, { retryAfterMs: PUBLISH_FAILED_RETRY_AFTER_MS }), reqId);
    });
  }

  /**
   * Answers at once a frame that the full upstream queue refused: IM_UNAVAILABLE with the retry
   * hint and the request's reqId, its frame encoded once but for the reqId, and the connection's
   * refusals leaving together in one socket write (RefusalWriter).
   */
  private refuseOverloaded(conn: ClientConnection, kind: Kind, reqId: number, err: UpstreamFullError): void {
    this.metrics.upstreamRefused.inc();
    // A login that never reaches logic gets no AuthOk: close, and the client reconnects later.
    if (kind === Kind.KIND_LOGIN) return this.writer.refuse(conn, err, reqId);
    (this.refusedErrors ??= this.metrics.errors.labels({ code: 'IM_UNAVAILABLE', role: 'gate' })).inc();
    this.refusals.send(conn, withVersionAndReqId(this.upstreamFullFrame, reqId));
  }
}
