// The gate role: holds client long connections (WebSocket at /ws and raw TCP, the same frames),
// authenticates them, enforces heartbeat, size and rate limits, forwards client frames to logic
// over the bus, and writes what logic sends down. It keeps no state but its connections.
//
// A connection forwards nothing until logic's AuthOk has come back: before that only Auth and
// Ping are accepted, and any other frame closes it with IM_AUTH_REQUIRED (ADR 0022).
import { randomUUID } from 'node:crypto';
import type { Server as TcpServer } from 'node:net';
import type { WebSocketServer } from 'ws';
import { imcloud } from '../../protocol/gen/im.js';
import type { Backends } from '../ports/backends.js';
import { UpstreamFullError, type Subscription } from '../ports/bus.js';
import type { App } from '../ports/app-registry.js';
import type { GateInfo } from '../ports/routes.js';
import type { Config } from '../shared/config.js';
import { ImError, toImError } from '../../protocol/errors.js';
import { decodeFrame, encodeFrame, encodeFrameBody, errorFrame, withVersion, withVersionAndReqId, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import type { HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { AppDirectory } from '../shared/app-directory.js';
import { claimedByOtherPool, routingSource, type RoutingTableSource } from '../shared/routing-table.js';
import type { TlsFiles } from '../shared/tls-files.js';
import { claimedAppId, verifyToken } from '../shared/tokens.js';
import { AppQuotas } from './app-quotas.js';
import { ClientConnection, type Transport } from './client-connection.js';
import { acceptWebSockets, listenTcp, type ConnectionSink } from './gate-listeners.js';
import { IpConnections } from './ip-connections.js';
import { RefusalWriter } from './refusal-writer.js';

const Kind = imcloud.internal.v1.Upstream.Kind;
/**
 * The frame types a client may send once online, with what each costs of the connection's and
 * the app's rate limits: reads that can return pages of messages weigh more than a send.
 */
const FRAME_COST: Readonly<Record<string, number>> = { send: 1, recall: 1, pushAck: 1, read: 1, logout: 1, sync: 4, pull: 4, history: 4 };
const REPORT_EVERY_MS = 5_000;
const SWEEP_EVERY_MS = 1_000;
const APP_CACHE_MS = 5_000;
const APP_CACHE_ENTRIES = 10_000;
/**
 * Overload refusals wait this long, corked, so that a connection's refusals (and whatever else it
 * is sent meanwhile) leave in one socket write: a write costs more than the rest of a refusal.
 */
const REFUSAL_FLUSH_MS = 25;
/** A connection over its app's rate is not read from for this long (its retry hint says so too), doubling while it keeps being refused. */
const APP_RATE_PAUSE_MS = 250;
const MAX_APP_RATE_PAUSE_MS = 5_000;

export class Gate implements ConnectionSink {
  private readonly connections = new Map<string, ClientConnection>();
  private wss?: WebSocketServer;
  private tcp?: TcpServer;
  private subscription?: Subscription;
  private sweepTimer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private draining = false;
  private tcpPort = 0;
  /** What the gate keeps of an app: the secret that signs its tokens, and its limits. */
  private readonly apps: AppDirectory<Pick<App, 'appId' | 'secret' | 'limits'>>;
  private readonly quotas: AppQuotas;
  private readonly ips: IpConnections;
  publicWsUrl = '';
  publicTcpAddr = '';

  constructor(
    private readonly config: Config,
    private readonly backends: Backends,
    private readonly http: HttpServer,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly tls?: TlsFiles,
    /** The operator's routing table (IMCLOUD_ROUTING_FILE): a default-pool gate refuses AppIds another pool claims. */
    private readonly routing: RoutingTableSource | undefined = routingSource(config.routing),
  ) {
    this.apps = new AppDirectory<Pick<App, 'appId' | 'secret' | 'limits'>>(backends.apps, { maxEntries: APP_CACHE_ENTRIES, ttlMs: APP_CACHE_MS }, ({ appId, secret, limits }) => ({ appId, secret, limits }));
    this.quotas = new AppQuotas(backends.rateLimiter, (err) => this.log.warn({ err: String(err) }, 'app quota lease failed; letting frames through'));
    this.ips = new IpConnections(config.gate.maxConnectionsPerIp);
  }

  get id(): string {
    return this.config.node.id;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get tcpListenPort(): number {
    return this.tcpPort;
  }

  /** Apps whose secret the gate holds now (bounded by gate.appCacheEntries). */
  get cachedApps(): number {
    return this.apps.size;
  }

  async start(httpPort: number): Promise<void> {
    this.subscription = await this.backends.bus.consumeDownstream(this.id, async (d) => this.deliver(d.body), { prefetch: 64 });
    const opts = { maxFrameBytes: this.config.gate.maxFrameBytes };
    this.wss = acceptWebSockets(this.http.server, this, { ...opts, refuseAll: () => this.draining });
    if (this.config.gate.tcpEnabled) {
      ({ server: this.tcp, port: this.tcpPort } = await listenTcp(this.config.gate.tcpPort, this.config.http.host, this.tls, this, opts));
    }
    const host = advertisedHost(this.config.http.host);
    this.publicWsUrl = this.config.gate.publicWsUrl || `${this.tls ? 'wss' : 'ws'}://${host}:${httpPort}/ws`;
    this.publicTcpAddr = this.config.gate.publicTcpAddr || (this.tcpPort ? `${host}:${this.tcpPort}` : '');
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    await this.report();
    this.reportTimer = setInterval(() => void this.report(), REPORT_EVERY_MS);
    this.reportTimer.unref();
    this.log.info({ ws: this.publicWsUrl, tcp: this.publicTcpAddr, tls: Boolean(this.tls), pool: this.config.gate.pool, appIds: this.config.gate.appIds }, 'gate listening');
  }

  /**
   * Drain: stop taking connections, tell every client to reconnect elsewhere after a jittered
   * delay spread over gate.drainMs, then close what is left.
   */
  async stop(): Promise<void> {
    this.draining = true;
    await this.report().catch(() => undefined);
    const spread = this.config.gate.drainMs;
    const hint = (delay: number) => encodeFrame({ hint: { reconnectAfterMs: delay, reason: 'gate draining' } });
    for (const conn of this.connections.values()) {
      if (conn.state === 'closed') continue;
      conn.transport.send(hint(Math.floor(Math.random() * spread)));
    }
    const deadline = Date.now() + spread;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const conn of [...this.connections.values()]) this.close(conn, new ImError('IM_DRAINING'));
    clearInterval(this.sweepTimer);
    clearInterval(this.reportTimer);
    await this.subscription?.cancel();
    await this.backends.routes.removeGate(this.id).catch(() => undefined);
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.wss?.close();
  }

  private info(): GateInfo {
    return {
      id: this.id, pool: this.config.gate.pool, appIds: [...this.config.gate.appIds], track: this.config.gate.track,
      wsUrl: this.publicWsUrl, tcpAddr: this.publicTcpAddr, tls: Boolean(this.tls), connections: this.connections.size, draining: this.draining,
    };
  }

  private async report(): Promise<void> {
    try {
      await this.backends.routes.reportGate(this.info(), REPORT_EVERY_MS * 3);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'gate load report failed');
    }
  }

  // ── connections (ConnectionSink) ─────────────────────────────────────────────────────────

  admit(ip: string): ImError | null {
    if (this.draining) return new ImError('IM_DRAINING');
    if (!this.ips.acquire(ip)) {
      this.metrics.connectionsRefused.inc({ reason: 'IM_TOO_MANY_CONNECTIONS' });
      return new ImError('IM_TOO_MANY_CONNECTIONS', `this address holds ${this.config.gate.maxConnectionsPerIp} connections to this gate already`);
    }
    return null;
  }

  open(transport: Transport, ip: string): ClientConnection {
    const conn = new ClientConnection(randomUUID(), transport, this.config.gate.rateLimitPerSec, this.config.gate.rateLimitBurst, Date.now(), ip);
    this.connections.set(conn.id, conn);
    this.metrics.connections.inc({ transport: transport.kind });
    return conn;
  }

  malformed(conn: ClientConnection, err: ImError): void {
    this.refuse(conn, err, 0);
  }

  socketError(where: string, err: Error): void {
    this.metrics.socketErrors.inc({ where, code: (err as NodeJS.ErrnoException).code ?? 'unknown' });
  }

  /** One frame from a client. A failure here closes this connection only. */
  frame(conn: ClientConnection, bytes: Uint8Array): void {
    try {
      this.onFrame(conn, bytes);
    } catch (err) {
      this.log.error({ conn: conn.id, err: (err as Error)?.stack ?? String(err) }, 'frame handling failed; closing the connection');
      this.refuse(conn, toImError(err), 0);
    }
  }

  // ── inbound frames ───────────────────────────────────────────────────────────────────────

  private onFrame(conn: ClientConnection, bytes: Uint8Array): void {
    if (conn.state === 'closed') return;
    conn.lastSeenAt = Date.now();
    this.metrics.bytesIn.inc(bytes.length);
    if (bytes.length > this.config.gate.maxFrameBytes + 1) {
      return this.refuse(conn, new ImError('IM_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${this.config.gate.maxFrameBytes}`), 0);
    }
    if (!this.takeConnectionTokens(conn, 1)) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      const e = toImError(err);
      return e.fatal ? this.refuse(conn, e, 0) : this.sendError(conn, e, 0);
    }
    const type = frame.body!;
    this.metrics.framesIn.inc({ type });
    if (type === 'ping') {
      this.write(conn, encodeFrame({ reqId: frame.reqId, pong: { clientTime: frame.ping!.clientTime, serverTime: Date.now() } }));
      this.refreshRoute(conn);
      return;
    }
    if (conn.state !== 'online') {
      if (conn.state === 'new' && type === 'auth') return void this.authenticate(conn, frame);
      // Nothing is forwarded for a connection that logic has not answered with AuthOk.
      return this.refuse(conn, new ImError('IM_AUTH_REQUIRED', conn.state === 'new' ? undefined : 'wait for AuthOk before sending other frames'), frame.reqId);
    }
    if (type === 'auth') return this.sendError(conn, new ImError('IM_ALREADY_AUTHENTICATED'), frame.reqId);
    const cost = FRAME_COST[type];
    if (cost === undefined) {
      return this.sendError(conn, new ImError('IM_FRAME_UNKNOWN_TYPE', `frame type "${type}" is not accepted from clients`), frame.reqId);
    }
    if (cost > 1 && !this.takeConnectionTokens(conn, cost - 1, frame.reqId)) return;
    const quota = this.quotas.take(conn.appId, conn.appFramesPerSec, cost);
    if (!quota.allowed) return this.refuseOverAppRate(conn, frame.reqId, quota.retryAfterMs);
    conn.appRateStrikes = 0;
    this.forward(conn, Kind.KIND_FRAME, bytes.subarray(1), frame.reqId);
  }

  /**
   * The app is over its rate: refuse, batched with the connection's other refusals, and stop
   * reading from the connection for a while, longer each time it is refused again without a
   * frame getting through in between: a client that keeps sending past the retry hint is held
   * back by TCP instead of costing the gate a refusal per frame (ADR 0024).
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

  /** The connection's own token bucket; refusals in a row beyond gate.floodStrikes close it. */
  private takeConnectionTokens(conn: ClientConnection, cost: number, reqId = 0): boolean {
    const allowed = conn.bucket.take(cost);
    if (allowed.allowed) {
      conn.strikes = 0;
      return true;
    }
    conn.strikes += 1;
    if (conn.strikes >= this.config.gate.floodStrikes) this.refuse(conn, new ImError('IM_FLOODING'), 0);
    // One error per burst of refusals, not one per frame.
    else if (conn.strikes === 1) this.sendError(conn, new ImError('IM_RATE_LIMITED', undefined, { retryAfterMs: allowed.retryAfterMs }), reqId);
    return false;
  }

  private forward(conn: ClientConnection, kind: imcloud.internal.v1.Upstream.Kind, frame: Uint8Array, reqId = 0): void {
    // Overload: while the upstream queue is full, refuse before building the envelope (ADR 0021).
    if (this.backends.bus.upstreamFull?.(this.config.gate.track)) return this.refuseOverloaded(conn, kind, reqId, this.upstreamFull);
    const envelope = imcloud.internal.v1.Upstream.encode({
      kind, appId: conn.appId, userId: conn.userId, deviceId: conn.deviceId, platform: conn.platform, connId: conn.id,
      gateId: this.id, traceId: randomUUID(), receivedAt: Date.now(), frame,
      heartbeatIntervalMs: this.config.gate.heartbeatIntervalMs, routeTtlMs: this.config.gate.idleTimeoutMs,
    }).finish();
    this.backends.bus.publishUpstream(this.config.gate.track, conn.appId, envelope).catch((err: unknown) => {
      if (err instanceof UpstreamFullError) return this.refuseOverloaded(conn, kind, reqId, err);
      this.log.warn({ conn: conn.id, err: String(err) }, 'upstream publish failed');
      this.sendError(conn, new ImError('IM_UNAVAILABLE', undefined, { retryAfterMs: 1000 }), reqId);
    });
  }

  /**
   * Answers at once a frame that the full upstream queue refused: IM_UNAVAILABLE with the retry
   * hint and the request's reqId. A refusal must cost far less than serving (ADR 0021): its frame
   * is encoded once but for the reqId, and a connection's refusals leave together, one socket
   * write every REFUSAL_FLUSH_MS at most instead of one write each.
   */
  private refuseOverloaded(conn: ClientConnection, kind: imcloud.internal.v1.Upstream.Kind, reqId: number, err: UpstreamFullError): void {
    this.metrics.upstreamRefused.inc();
    // A login that never reaches logic gets no AuthOk: close, and the client reconnects later.
    if (kind === Kind.KIND_LOGIN) return this.refuse(conn, err, reqId);
    (this.refusedErrors ??= this.metrics.errors.labels({ code: 'IM_UNAVAILABLE', role: 'gate' })).inc();
    this.refusals.send(conn, withVersionAndReqId(this.upstreamFullFrame, reqId));
  }

  private readonly upstreamFull = new UpstreamFullError();
  /** The refusal's frame body without its reqId. */
  private readonly upstreamFullFrame = encodeFrameBody(errorFrame(this.upstreamFull));
  private refusedErrors?: { inc(): void };
  private readonly refusals = new RefusalWriter(REFUSAL_FLUSH_MS, (conn, frame) => this.write(conn, frame));

  /**
   * Verifies the token before anything about the app is revealed: an unknown AppId and a bad
   * signature both answer IM_TOKEN_INVALID, and pools are checked only for a valid token.
   */
  private async authenticate(conn: ClientConnection, frame: Frame): Promise<void> {
    conn.state = 'authenticating';
    const auth = frame.auth as imcloud.v1.Auth;
    try {
      const appId = claimedAppId(auth.token);
      const app = await this.apps.get(appId);
      if (!app) throw new ImError('IM_TOKEN_INVALID');
      const claims = await verifyToken(auth.token, appId, app.secret);
      this.checkServed(appId);
      if (await this.backends.apps.isRevoked(appId, claims.userId, claims.jti, claims.issuedAt)) throw new ImError('IM_TOKEN_REVOKED');
      if (!/^[\x21-\x7e]{1,128}$/.test(auth.deviceId)) throw new ImError('IM_BAD_REQUEST', 'device_id must be 1–128 printable ASCII characters');
      if (conn.state !== 'authenticating') return; // closed meanwhile
      Object.assign(conn, { appId, userId: claims.userId, deviceId: auth.deviceId, platform: auth.platform, expiresAt: claims.expiresAt, loginForwarded: true });
      conn.appFramesPerSec = app.limits?.framesPerSec ?? this.config.gate.appFramesPerSec;
      // logic registers the route, applies the multi-login policy and answers AuthOk.
      this.forward(conn, Kind.KIND_LOGIN, new Uint8Array(0));
    } catch (err) {
      const e = toImError(err);
      this.refuse(conn, e.fatal ? e : new ImError('IM_TOKEN_INVALID', e.message), frame.reqId);
    }
  }

  private checkServed(appId: string): void {
    const served = this.config.gate.appIds;
    if (served.length > 0 && !served.includes(appId)) throw new ImError('IM_APP_NOT_SERVED', `this gate (pool ${this.config.gate.pool}) does not serve app ${appId}; ask dispatch for a gate`);
    if (served.length === 0 && claimedByOtherPool(this.routing?.current(), appId, this.config.gate.pool)) throw new ImError('IM_APP_NOT_SERVED', `app ${appId} is served by its own gate pool, not by pool ${this.config.gate.pool}; ask dispatch for a gate`);
  }

  private refreshRoute(conn: ClientConnection): void {
    if (conn.state !== 'online') return;
    const now = Date.now();
    if (now - conn.lastRouteRefreshAt < this.config.gate.heartbeatIntervalMs / 2) return;
    conn.lastRouteRefreshAt = now;
    this.backends.routes.refresh(conn.appId, conn.userId, conn.id, this.config.gate.idleTimeoutMs).then((alive) => {
      // The route is gone (presence store wiped, or expired during a stall): pushes can no longer
      // find this connection, so the client reconnects and syncs instead of waiting forever.
      if (!alive && conn.state === 'online') {
        conn.transport.send(encodeFrame({ hint: { reconnectAfterMs: Math.floor(Math.random() * 2_000), reason: 'route lost' } }));
        this.close(conn, null);
      }
    }, (err: unknown) => {
      this.log.warn({ conn: conn.id, err: String(err) }, 'route refresh failed');
    });
  }

  // ── outbound ─────────────────────────────────────────────────────────────────────────────

  private async deliver(body: Uint8Array): Promise<void> {
    let batch: imcloud.internal.v1.Downstream;
    try {
      batch = imcloud.internal.v1.Downstream.decode(body);
    } catch (err) {
      this.log.error({ err: String(err) }, 'dropping undecodable downstream batch');
      return;
    }
    const now = Date.now();
    // A batch often carries several frames for one connection (acks, pushes, notices): cork
    // each connection while the batch is written so they leave in one write syscall.
    const corked: ClientConnection[] = [];
    try {
      for (const d of batch.deliveries as imcloud.internal.v1.Delivery[]) this.deliverOne(d, now, corked);
    } finally {
      for (const conn of corked) {
        conn.corked = false;
        conn.transport.uncork();
      }
    }
  }

  private deliverOne(d: imcloud.internal.v1.Delivery, now: number, corked: ClientConnection[]): void {
    const frame = withVersion(d.frame);
    for (const connId of d.connIds) {
      const conn = this.connections.get(connId);
      if (!conn || conn.state === 'closed') continue;
      try {
        this.deliverTo(conn, d, frame, now, corked);
      } catch (err) {
        // One connection's failure must not cost the others in the batch their frames.
        this.log.error({ conn: conn.id, err: (err as Error)?.stack ?? String(err) }, 'delivery failed; closing the connection');
        this.refuse(conn, toImError(err), 0);
      }
    }
  }

  private deliverTo(conn: ClientConnection, d: imcloud.internal.v1.Delivery, frame: Uint8Array, now: number, corked: ClientConnection[]): void {
    if (!conn.corked) {
      conn.corked = true;
      conn.transport.cork();
      corked.push(conn);
    }
    if (d.authOk) {
      conn.state = 'online';
      conn.lastRouteRefreshAt = now;
      this.metrics.authenticated.inc({ app_id: conn.appId });
    }
    this.write(conn, frame);
    if (d.sentAt > 0) this.metrics.e2eLatency.observe({ app_id: d.appId }, (now - Number(d.sentAt)) / 1000);
    if (d.closeAfter) this.close(conn, null);
  }


  private write(conn: ClientConnection, frame: Uint8Array): void {
    if (conn.state === 'closed') return;
    if (conn.transport.bufferedAmount() > this.config.gate.maxBufferedBytes) {
      // A reader this slow would hold unbounded memory; it reconnects and syncs instead.
      this.close(conn, new ImError('IM_SLOW_CONSUMER'));
      return;
    }
    conn.transport.send(frame);
    this.metrics.framesOut.inc();
  }

  private sendError(conn: ClientConnection, err: ImError, reqId: number): void {
    this.metrics.errors.inc({ code: err.code, role: 'gate' });
    this.write(conn, encodeFrame(errorFrame(err, reqId) as FrameInit));
  }

  /** Error frame, then close. */
  private refuse(conn: ClientConnection, err: ImError, reqId: number): void {
    if (conn.state === 'closed') return;
    this.metrics.errors.inc({ code: err.code, role: 'gate' });
    // Bypass the buffer check: the error must be attempted even for a slow reader.
    conn.transport.send(encodeFrame(errorFrame(err, reqId)));
    this.close(conn, err);
  }

  private close(conn: ClientConnection, err: ImError | null): void {
    if (conn.state === 'closed') return;
    if (err?.code === 'IM_SLOW_CONSUMER' || err?.code === 'IM_DRAINING') {
      conn.transport.send(encodeFrame(errorFrame(err)));
    }
    conn.transport.close(err?.code ?? 'closed by server');
    this.closed(conn, err?.code ?? 'server close');
  }

  closed(conn: ClientConnection, reason: string): void {
    if (conn.state === 'closed') {
      this.connections.delete(conn.id);
      return;
    }
    const wasOnline = conn.state === 'online';
    conn.state = 'closed';
    this.connections.delete(conn.id);
    this.ips.release(conn.ip);
    this.metrics.connections.dec({ transport: conn.transport.kind });
    this.metrics.gateDisconnects.inc({ reason });
    if (wasOnline) this.metrics.authenticated.dec({ app_id: conn.appId });
    // A login that logic may have registered already goes with the connection.
    if (wasOnline || conn.loginForwarded) {
      this.backends.routes.remove(conn.appId, conn.userId, conn.id).catch((err: unknown) => {
        this.log.warn({ conn: conn.id, err: String(err) }, 'route removal failed; it expires by TTL');
      });
    }
  }

  /** Closes connections that missed their heartbeat, never authenticated, or whose token expired. */
  private sweep(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (conn.state === 'new' || conn.state === 'authenticating') {
        if (now - conn.openedAt > this.config.gate.authTimeoutMs) this.refuse(conn, new ImError('IM_AUTH_TIMEOUT'), 0);
      } else if (conn.state === 'online' && now - conn.lastSeenAt > this.config.gate.idleTimeoutMs) {
        this.refuse(conn, new ImError('IM_HEARTBEAT_TIMEOUT'), 0);
      } else if (conn.state === 'online' && conn.expiresAt > 0 && now >= conn.expiresAt) {
        this.kickExpired(conn);
      }
    }
  }

  /** A session lives as long as its token: then a Kick says why, and the client reconnects with a new one. */
  private kickExpired(conn: ClientConnection): void {
    this.metrics.sessionsExpired.inc({ app_id: conn.appId });
    conn.transport.send(encodeFrame({ kick: { reason: imcloud.v1.KickReason.KICK_REASON_TOKEN_EXPIRED, message: 'the token expired; sign in again with a new token' } }));
    this.close(conn, null);
  }
}

function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}
