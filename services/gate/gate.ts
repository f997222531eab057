// The gate role: holds client long connections (WebSocket at /ws and raw TCP, the same frames),
// authenticates them, enforces heartbeat, size and rate limits, forwards client frames to logic
// over the bus, and writes what logic sends down. It keeps no state but its connections.
//
// A connection forwards nothing until logic's AuthOk has come back: before that only Auth and
// Ping are accepted, and any other frame closes it with IM_AUTH_REQUIRED (ADR 0022).
//
// This file keeps the connections and their life (open, frames in, heartbeat, close, drain); its
// parts: authenticator.ts (the Auth frame), frame-limits.ts (rates), upstream-forwarder.ts (to
// logic), downstream-writer.ts (from logic), client-writer.ts (writing and closing).
import { randomUUID } from 'node:crypto';
import type { Server as TcpServer } from 'node:net';
import type { WebSocketServer } from 'ws';
import { ImError, toImError } from '../../protocol/errors.js';
import { decodeFrame, encodeFrame, type Frame } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Backends } from '../ports/backends.js';
import type { Subscription } from '../ports/bus.js';
import type { GateInfo } from '../ports/routes.js';
import type { HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { GateConfig } from '../shared/role-config.js';
import { type RoutingTableSource, routingSource } from '../shared/routing-table.js';
import type { TlsFiles } from '../shared/tls-files.js';
import { Authenticator } from './authenticator.js';
import { ClientConnection, type Transport } from './client-connection.js';
import { ClientWriter } from './client-writer.js';
import { DownstreamWriter } from './downstream-writer.js';
import { FrameLimits } from './frame-limits.js';
import { acceptWebSockets, type ConnectionSink, listenTcp } from './gate-listeners.js';
import { IpConnections } from './ip-connections.js';
import { PresenceOffline } from './presence-offline.js';
import { RefusalWriter } from './refusal-writer.js';
import { UpstreamForwarder } from './upstream-forwarder.js';

const Kind = imcloud.internal.v1.Upstream.Kind;
const REPORT_EVERY_MS = 5_000;
const SWEEP_EVERY_MS = 1_000;
/** Downstream batches handed to the gate before earlier ones are written. */
const DOWNSTREAM_PREFETCH = 64;
/**
 * Refusals under load wait this long, corked, so that a connection's refusals (and whatever else
 * it is sent meanwhile) leave in one socket write: a write costs more than the rest of a refusal.
 */
const REFUSAL_FLUSH_MS = 25;
/** A connection whose route was lost is told to reconnect within this (jittered, so that they do not all come back at once). */
const ROUTE_LOST_RECONNECT_MS = 2_000;

export class Gate implements ConnectionSink {
  private readonly connections = new Map<string, ClientConnection>();
  private wss?: WebSocketServer;
  private tcp?: TcpServer;
  private subscription?: Subscription;
  private sweepTimer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private draining = false;
  private tcpPort = 0;
  private readonly ips: IpConnections;
  private readonly writer: ClientWriter;
  private readonly authenticator: Authenticator;
  /** Queues user.offline when a user's last connection closes (ADR 0037). */
  private readonly presence: PresenceOffline;
  private readonly limits: FrameLimits;
  private readonly upstream: UpstreamForwarder;
  private readonly downstream: DownstreamWriter;
  publicWsUrl = '';
  publicTcpAddr = '';

  constructor(
    private readonly config: GateConfig,
    private readonly backends: Backends,
    private readonly http: HttpServer,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly tls?: TlsFiles,
    /** The operator's routing table (IMCLOUD_ROUTING_FILE): a default-pool gate refuses AppIds another pool claims. */
    routing: RoutingTableSource | undefined = routingSource(config.routing),
  ) {
    const { gate } = config;
    this.ips = new IpConnections(gate.maxConnectionsPerIp);
    this.writer = new ClientWriter(gate.maxBufferedBytes, metrics, (conn, reason) => this.closed(conn, reason));
    const refusals = new RefusalWriter(REFUSAL_FLUSH_MS, (conn, frame) => this.writer.write(conn, frame));
    this.authenticator = new Authenticator(backends.apps, gate, routing);
    this.presence = new PresenceOffline(backends, metrics);
    this.limits = new FrameLimits(backends.rateLimiter, gate.floodStrikes, this.writer, refusals, metrics, log);
    this.upstream = new UpstreamForwarder(
      backends.bus,
      {
        gateId: this.id,
        track: config.node.track,
        heartbeatIntervalMs: config.heartbeat.intervalMs,
        routeTtlMs: config.heartbeat.idleTimeoutMs,
      },
      this.writer,
      refusals,
      metrics,
      log,
    );
    this.downstream = new DownstreamWriter(this.connections, this.writer, metrics, log);
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

  /** Apps whose secret the gate holds now. */
  get cachedApps(): number {
    return this.authenticator.cachedApps;
  }

  /** Starts on the process's listeners: WebSocket on its HTTP server (at `listen.httpPort`), TCP on `listen.host`. */
  async start(listen: { host: string; httpPort: number }): Promise<void> {
    const { gate } = this.config;
    this.subscription = await this.backends.bus.consumeDownstream(this.id, (d) => this.downstream.write(d.body), {
      prefetch: DOWNSTREAM_PREFETCH,
    });
    const opts = { maxFrameBytes: gate.maxFrameBytes };
    this.wss = acceptWebSockets(this.http.server, this, { ...opts, refuseAll: () => this.draining });
    if (gate.tcpEnabled) ({ server: this.tcp, port: this.tcpPort } = await listenTcp(gate.tcpPort, listen.host, this.tls, this, opts));
    const host = advertisedHost(listen.host);
    this.publicWsUrl = gate.publicWsUrl || `${this.tls ? 'wss' : 'ws'}://${host}:${listen.httpPort}/ws`;
    this.publicTcpAddr = gate.publicTcpAddr || (this.tcpPort ? `${host}:${this.tcpPort}` : '');
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    await this.report();
    this.reportTimer = setInterval(() => void this.report(), REPORT_EVERY_MS);
    this.reportTimer.unref();
    this.log.info(
      { ws: this.publicWsUrl, tcp: this.publicTcpAddr, tls: Boolean(this.tls), pool: gate.pool, appIds: gate.appIds },
      'gate listening',
    );
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
    for (const conn of [...this.connections.values()]) this.writer.close(conn, new ImError('IM_DRAINING'));
    clearInterval(this.sweepTimer);
    clearInterval(this.reportTimer);
    await this.subscription?.cancel();
    await this.backends.routes.removeGate(this.id).catch(() => undefined);
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.wss?.close();
  }

  private info(): GateInfo {
    const { gate } = this.config;
    return {
      id: this.id,
      pool: gate.pool,
      appIds: [...gate.appIds],
      track: this.config.node.track,
      wsUrl: this.publicWsUrl,
      tcpAddr: this.publicTcpAddr,
      tls: Boolean(this.tls),
      connections: this.connections.size,
      draining: this.draining,
    };
  }

  /** The gate's load, for dispatch and the operator's autoscaling. */
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
      return new ImError(
        'IM_TOO_MANY_CONNECTIONS',
        `this address holds ${this.config.gate.maxConnectionsPerIp} connections to this gate already`,
      );
    }
    return null;
  }

  open(transport: Transport, ip: string): ClientConnection {
    const conn = new ClientConnection(
      randomUUID(),
      transport,
      this.config.gate.rateLimitPerSec,
      this.config.gate.rateLimitBurst,
      Date.now(),
      ip,
    );
    this.connections.set(conn.id, conn);
    this.metrics.connections.inc({ transport: transport.kind });
    return conn;
  }

  malformed(conn: ClientConnection, err: ImError): void {
    this.writer.refuse(conn, err, 0);
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
      this.writer.refuse(conn, toImError(err), 0);
    }
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
      this.backends.routes.remove(conn.appId, conn.userId, conn.id).then(
        () =>
          this.presence
            .closed(conn)
            .catch((err: unknown) =>
              this.log.warn({ conn: conn.id, err: String(err) }, 'webhook: a user.offline event could not be queued'),
            ),
        (err: unknown) => {
          this.log.warn({ conn: conn.id, err: String(err) }, 'route removal failed; it expires by TTL');
        },
      );
    }
  }

  // ── frames from clients ──────────────────────────────────────────────────────────────────

  private onFrame(conn: ClientConnection, bytes: Uint8Array): void {
    if (conn.state === 'closed') return;
    conn.lastSeenAt = Date.now();
    this.metrics.bytesIn.inc(bytes.length);
    const { maxFrameBytes } = this.config.gate;
    if (bytes.length > maxFrameBytes + 1)
      return this.writer.refuse(conn, new ImError('IM_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${maxFrameBytes}`), 0);
    if (!this.limits.takeConnectionTokens(conn, 1)) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      const e = toImError(err);
      return e.fatal ? this.writer.refuse(conn, e, 0) : this.writer.sendError(conn, e, 0);
    }
    const type = frame.body!;
    this.metrics.framesIn.inc({ type });
    if (type === 'ping') return this.pong(conn, frame);
    if (conn.state !== 'online') {
      if (conn.state === 'new' && type === 'auth') return void this.authenticate(conn, frame);
      // Nothing is forwarded for a connection that logic has not answered with AuthOk.
      return this.writer.refuse(
        conn,
        new ImError('IM_AUTH_REQUIRED', conn.state === 'new' ? undefined : 'wait for AuthOk before sending other frames'),
        frame.reqId,
      );
    }
    if (type === 'auth') return this.writer.sendError(conn, new ImError('IM_ALREADY_AUTHENTICATED'), frame.reqId);
    const cost = this.limits.costOf(type);
    if (cost === undefined)
      return this.writer.sendError(
        conn,
        new ImError('IM_FRAME_UNKNOWN_TYPE', `frame type "${type}" is not accepted from clients`),
        frame.reqId,
      );
    if (cost > 1 && !this.limits.takeConnectionTokens(conn, cost - 1, frame.reqId)) return;
    if (!this.limits.takeAppTokens(conn, cost, frame.reqId)) return;
    this.upstream.forward(conn, Kind.KIND_FRAME, bytes.subarray(1), frame.reqId);
  }

  /** The heartbeat: answered here, and it keeps an online connection's route alive. */
  private pong(conn: ClientConnection, frame: Frame): void {
    this.writer.write(conn, encodeFrame({ reqId: frame.reqId, pong: { clientTime: frame.ping!.clientTime, serverTime: Date.now() } }));
    this.refreshRoute(conn);
  }

  /** The token is checked here; logic registers the route, applies the multi-login policy and answers AuthOk. */
  private async authenticate(conn: ClientConnection, frame: Frame): Promise<void> {
    conn.state = 'authenticating';
    try {
      const client = await this.authenticator.verify(frame.auth as imcloud.v1.Auth);
      if (conn.state !== 'authenticating') return; // closed meanwhile
      Object.assign(conn, client, { loginForwarded: true });
      this.upstream.forward(conn, Kind.KIND_LOGIN, new Uint8Array(0));
    } catch (err) {
      const e = toImError(err);
      this.writer.refuse(conn, e.fatal ? e : new ImError('IM_TOKEN_INVALID', e.message), frame.reqId);
    }
  }

  private refreshRoute(conn: ClientConnection): void {
    if (conn.state !== 'online') return;
    const now = Date.now();
    const { intervalMs, idleTimeoutMs } = this.config.heartbeat;
    if (now - conn.lastRouteRefreshAt < intervalMs / 2) return;
    conn.lastRouteRefreshAt = now;
    this.backends.routes.refresh(conn.appId, conn.userId, conn.id, idleTimeoutMs).then(
      (alive) => {
        // The route is gone (presence store wiped, or expired during a stall): pushes can no longer
        // find this connection, so the client reconnects and syncs instead of waiting forever.
        if (!alive && conn.state === 'online') {
          conn.transport.send(
            encodeFrame({ hint: { reconnectAfterMs: Math.floor(Math.random() * ROUTE_LOST_RECONNECT_MS), reason: 'route lost' } }),
          );
          this.writer.close(conn, null);
        }
      },
      (err: unknown) => {
        this.log.warn({ conn: conn.id, err: String(err) }, 'route refresh failed');
      },
    );
  }

  /** Closes connections that missed their heartbeat, never authenticated, or whose token expired. */
  private sweep(): void {
    const now = Date.now();
    const { authTimeoutMs } = this.config.gate;
    const { idleTimeoutMs } = this.config.heartbeat;
    for (const conn of this.connections.values()) {
      if (conn.state === 'new' || conn.state === 'authenticating') {
        if (now - conn.openedAt > authTimeoutMs) this.writer.refuse(conn, new ImError('IM_AUTH_TIMEOUT'), 0);
      } else if (conn.state === 'online' && now - conn.lastSeenAt > idleTimeoutMs) {
        this.writer.refuse(conn, new ImError('IM_HEARTBEAT_TIMEOUT'), 0);
      } else if (conn.state === 'online' && conn.expiresAt > 0 && now >= conn.expiresAt) {
        this.kickExpired(conn);
      }
    }
  }

  /** A session lives as long as its token: then a Kick says why, and the client reconnects with a new one. */
  private kickExpired(conn: ClientConnection): void {
    this.metrics.sessionsExpired.inc({ app_id: conn.appId });
    conn.transport.send(
      encodeFrame({
        kick: { reason: imcloud.v1.KickReason.KICK_REASON_TOKEN_EXPIRED, message: 'the token expired; sign in again with a new token' },
      }),
    );
    this.writer.close(conn, null);
  }
}

function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}
