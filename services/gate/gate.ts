// The gate role: holds client long connections (WebSocket at /ws and raw TCP, the same frames),
// authenticates them, enforces heartbeat, size and rate limits, forwards client frames to logic
// over the bus, and writes what logic pushes back. It keeps no state but its connections.
import { randomUUID } from 'node:crypto';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { imcloud } from '../../proto/gen/im.js';
import type { Backends } from '../ports/backends.js';
import { UpstreamFullError, type Subscription } from '../ports/bus.js';
import type { GateInfo } from '../ports/routes.js';
import type { Config } from '../shared/config.js';
import { ImError, toImError } from '../shared/errors.js';
import { decodeFrame, encodeFrame, encodeFrameBody, errorFrame, LengthPrefixedReader, lengthPrefixed, withVersion, withVersionAndReqId, type Frame, type FrameInit } from '../shared/frame-codec.js';
import type { HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { claimedByOtherPool, routingSource, type RoutingTableSource } from '../shared/routing-table.js';
import { claimedAppId, verifyToken } from '../shared/tokens.js';
import { ClientConnection, type Transport } from './client-connection.js';

const Kind = imcloud.internal.v1.Upstream.Kind;
/** Frame types only a server sends; a client sending one gets IM_FRAME_UNKNOWN_TYPE. */
const CLIENT_FORWARDED = new Set(['send', 'pushAck', 'sync', 'pull', 'history', 'read', 'recall', 'logout']);
const REPORT_EVERY_MS = 5_000;
const SWEEP_EVERY_MS = 1_000;
/** How long a closed connection may take to flush before its socket is destroyed. */
const HARD_CLOSE_MS = 2_000;
/**
 * Overload refusals wait this long, corked, so that a connection's refusals (and whatever else it
 * is sent meanwhile) leave in one socket write: a write costs more than the rest of a refusal.
 */
const REFUSAL_FLUSH_MS = 25;

export class Gate {
  private readonly connections = new Map<string, ClientConnection>();
  private readonly wss: WebSocketServer;
  private tcp?: TcpServer;
  private subscription?: Subscription;
  private sweepTimer?: NodeJS.Timeout;
  private reportTimer?: NodeJS.Timeout;
  private draining = false;
  private tcpPort = 0;
  private readonly appCache = new Map<string, { secret: string | null; until: number }>();

  constructor(
    private readonly config: Config,
    private readonly backends: Backends,
    private readonly http: HttpServer,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** The operator's routing table (IMCLOUD_ROUTING_FILE): a default-pool gate refuses AppIds another pool claims. */
    private readonly routing: RoutingTableSource | undefined = routingSource(config.routing),
  ) {
    // ws closes (1009) past maxPayload by itself; frames between the limit and that get our
    // IM_FRAME_TOO_LARGE error frame first.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.gate.maxFrameBytes * 4, perMessageDeflate: false, clientTracking: false });
  }

  get id(): string {
    return this.config.node.id;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async start(httpPort: number): Promise<void> {
    this.subscription = await this.backends.bus.consumePush(this.id, async (d) => this.deliver(d.body), { prefetch: 64 });
    this.http.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/ws' || this.draining) {
        socket.end(`HTTP/1.1 ${this.draining ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.acceptWebSocket(ws, socket));
    });
    if (this.config.gate.tcpEnabled) {
      this.tcp = createTcpServer((socket) => this.acceptTcp(socket));
      this.tcpPort = await new Promise<number>((resolve, reject) => {
        this.tcp!.once('error', reject);
        this.tcp!.listen(this.config.gate.tcpPort, this.config.http.host, () => {
          const addr = this.tcp!.address();
          resolve(typeof addr === 'object' && addr ? addr.port : this.config.gate.tcpPort);
        });
      });
    }
    this.publicWsUrl = this.config.gate.publicWsUrl || `ws://${advertisedHost(this.config.http.host)}:${httpPort}/ws`;
    this.publicTcpAddr = this.config.gate.publicTcpAddr || (this.tcpPort ? `${advertisedHost(this.config.http.host)}:${this.tcpPort}` : '');
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    await this.report();
    this.reportTimer = setInterval(() => void this.report(), REPORT_EVERY_MS);
    this.reportTimer.unref();
    this.log.info({ ws: this.publicWsUrl, tcp: this.publicTcpAddr, pool: this.config.gate.pool, appIds: this.config.gate.appIds }, 'gate listening');
  }

  publicWsUrl = '';
  publicTcpAddr = '';

  get tcpListenPort(): number {
    return this.tcpPort;
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
    this.wss.close();
  }

  private info(): GateInfo {
    return {
      id: this.id, pool: this.config.gate.pool, appIds: [...this.config.gate.appIds], track: this.config.gate.track,
      wsUrl: this.publicWsUrl, tcpAddr: this.publicTcpAddr, connections: this.connections.size, draining: this.draining,
    };
  }

  private async report(): Promise<void> {
    try {
      await this.backends.routes.reportGate(this.info(), REPORT_EVERY_MS * 3);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'gate load report failed');
    }
  }

  // ── transports ───────────────────────────────────────────────────────────────────────────

  private acceptWebSocket(ws: WebSocket, socket: Duplex): void {
    const transport: Transport = {
      kind: 'ws',
      send: (frame) => ws.send(frame, { binary: true }),
      bufferedAmount: () => ws.bufferedAmount,
      cork: () => socket.cork(),
      uncork: () => socket.uncork(),
      close: (reason) => {
        ws.close(4000, reason.slice(0, 120));
        // A peer that never answers the closing handshake (or never reads) is cut off.
        setTimeout(() => ws.terminate(), HARD_CLOSE_MS).unref();
      },
    };
    const conn = this.open(transport);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return this.refuse(conn, new ImError('IM_FRAME_MALFORMED', 'frames are binary WebSocket messages'), 0);
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.onFrame(conn, bytes);
    });
    ws.on('close', () => this.closed(conn, 'peer closed'));
    ws.on('error', (err) => {
      this.log.debug({ conn: conn.id, err: err.message }, 'websocket error');
      this.closed(conn, 'transport error');
    });
  }

  private acceptTcp(socket: Socket): void {
    socket.setNoDelay(true);
    const reader = new LengthPrefixedReader(this.config.gate.maxFrameBytes);
    const transport: Transport = {
      kind: 'tcp',
      send: (frame) => void socket.write(lengthPrefixed(frame)),
      bufferedAmount: () => socket.writableLength,
      cork: () => socket.cork(),
      uncork: () => socket.uncork(),
      close: () => {
        socket.end();
        setTimeout(() => socket.destroy(), HARD_CLOSE_MS).unref();
      },
    };
    const conn = this.open(transport);
    socket.on('data', (chunk) => {
      let frames: Uint8Array[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        return this.refuse(conn, toImError(err), 0);
      }
      for (const f of frames) {
        if (conn.state === 'closed') return;
        this.onFrame(conn, f);
      }
    });
    socket.on('close', () => this.closed(conn, 'peer closed'));
    socket.on('error', () => this.closed(conn, 'transport error'));
  }

  private open(transport: Transport): ClientConnection {
    const conn = new ClientConnection(randomUUID(), transport, this.config.gate.rateLimitPerSec, this.config.gate.rateLimitBurst, Date.now());
    this.connections.set(conn.id, conn);
    this.metrics.connections.inc({ transport: transport.kind });
    return conn;
  }

  // ── inbound frames ───────────────────────────────────────────────────────────────────────

  private onFrame(conn: ClientConnection, bytes: Uint8Array): void {
    if (conn.state === 'closed') return;
    conn.lastSeenAt = Date.now();
    this.metrics.bytesIn.inc(bytes.length);
    if (bytes.length > this.config.gate.maxFrameBytes + 1) {
      return this.refuse(conn, new ImError('IM_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${this.config.gate.maxFrameBytes}`), 0);
    }
    const allowed = conn.bucket.take();
    if (!allowed.allowed) {
      conn.strikes += 1;
      if (conn.strikes >= this.config.gate.floodStrikes) return this.refuse(conn, new ImError('IM_FLOODING'), 0);
      // One error per burst of refusals, not one per frame.
      if (conn.strikes === 1) this.sendError(conn, new ImError('IM_RATE_LIMITED', undefined, { retryAfterMs: allowed.retryAfterMs }), 0);
      return;
    }
    conn.strikes = 0;
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
    if (conn.state === 'new') {
      if (type !== 'auth') return this.refuse(conn, new ImError('IM_AUTH_REQUIRED'), frame.reqId);
      void this.authenticate(conn, frame);
      return;
    }
    if (type === 'auth') return this.sendError(conn, new ImError('IM_ALREADY_AUTHENTICATED'), frame.reqId);
    if (!CLIENT_FORWARDED.has(type)) {
      return this.sendError(conn, new ImError('IM_FRAME_UNKNOWN_TYPE', `frame type "${type}" is not accepted from clients`), frame.reqId);
    }
    this.forward(conn, Kind.KIND_FRAME, bytes.subarray(1), frame.reqId);
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
    if (conn.state === 'closed') return;
    if (!conn.corked) {
      conn.corked = true;
      conn.transport.cork();
      this.corkedByRefusals.push(conn);
      if (this.corkedByRefusals.length === 1) setTimeout(this.uncorkRefusals, REFUSAL_FLUSH_MS);
    }
    (this.refusedErrors ??= this.metrics.errors.labels({ code: 'IM_UNAVAILABLE', role: 'gate' })).inc();
    this.write(conn, withVersionAndReqId(this.upstreamFullFrame, reqId));
  }

  private readonly upstreamFull = new UpstreamFullError();
  /** The refusal's frame body without its reqId. */
  private readonly upstreamFullFrame = encodeFrameBody(errorFrame(this.upstreamFull));
  private refusedErrors?: { inc(): void };
  private corkedByRefusals: ClientConnection[] = [];
  private readonly uncorkRefusals = (): void => {
    const conns = this.corkedByRefusals;
    this.corkedByRefusals = [];
    for (const conn of conns) {
      conn.corked = false;
      conn.transport.uncork();
    }
  };

  private async authenticate(conn: ClientConnection, frame: Frame): Promise<void> {
    conn.state = 'authenticating';
    const auth = frame.auth as imcloud.v1.Auth;
    try {
      const appId = claimedAppId(auth.token);
      const served = this.config.gate.appIds;
      if (served.length > 0 && !served.includes(appId)) throw new ImError('IM_APP_NOT_SERVED', `this gate (pool ${this.config.gate.pool}) does not serve app ${appId}; ask dispatch for a gate`);
      if (served.length === 0 && claimedByOtherPool(this.routing?.current(), appId, this.config.gate.pool)) throw new ImError('IM_APP_NOT_SERVED', `app ${appId} is served by its own gate pool, not by pool ${this.config.gate.pool}; ask dispatch for a gate`);
      const secret = await this.appSecret(appId);
      const claims = await verifyToken(auth.token, appId, secret);
      if (await this.backends.apps.isRevoked(appId, claims.userId, claims.jti, claims.issuedAt)) throw new ImError('IM_TOKEN_REVOKED');
      if (!/^[\x21-\x7e]{1,128}$/.test(auth.deviceId)) throw new ImError('IM_BAD_REQUEST', 'device_id must be 1–128 printable ASCII characters');
      if (conn.state !== 'authenticating') return; // closed meanwhile
      conn.appId = appId;
      conn.userId = claims.userId;
      conn.deviceId = auth.deviceId;
      conn.platform = auth.platform;
      // logic registers the route, applies the multi-login policy and answers AuthOk.
      this.forward(conn, Kind.KIND_LOGIN, new Uint8Array(0));
    } catch (err) {
      const e = toImError(err);
      this.refuse(conn, e.fatal ? e : new ImError('IM_TOKEN_INVALID', e.message), frame.reqId);
    }
  }

  private async appSecret(appId: string): Promise<string> {
    const cached = this.appCache.get(appId);
    const now = Date.now();
    if (cached && cached.until > now) {
      if (cached.secret === null) throw new ImError('IM_APP_NOT_FOUND', `no app ${appId}`);
      return cached.secret;
    }
    const app = await this.backends.apps.get(appId);
    this.appCache.set(appId, { secret: app?.secret ?? null, until: now + 5_000 });
    if (!app) throw new ImError('IM_APP_NOT_FOUND', `no app ${appId}`);
    return app.secret;
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
      this.log.error({ err: String(err) }, 'dropping undecodable push batch');
      return;
    }
    const now = Date.now();
    // A batch often carries several frames for one connection (acks, pushes, notices): cork
    // each connection while the batch is written so they leave in one write syscall.
    const corked: ClientConnection[] = [];
    try {
      this.deliverBatch(batch, now, corked);
    } finally {
      for (const conn of corked) {
        conn.corked = false;
        conn.transport.uncork();
      }
    }
  }

  private deliverBatch(batch: imcloud.internal.v1.Downstream, now: number, corked: ClientConnection[]): void {
    for (const d of batch.deliveries as imcloud.internal.v1.Delivery[]) {
      const frame = withVersion(d.frame);
      for (const connId of d.connIds) {
        const conn = this.connections.get(connId);
        if (!conn || conn.state === 'closed') continue;
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
    }
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

  private closed(conn: ClientConnection, reason: string): void {
    if (conn.state === 'closed') {
      this.connections.delete(conn.id);
      return;
    }
    const wasOnline = conn.state === 'online';
    conn.state = 'closed';
    this.connections.delete(conn.id);
    this.metrics.connections.dec({ transport: conn.transport.kind });
    this.metrics.gateDisconnects.inc({ reason });
    if (wasOnline) {
      this.metrics.authenticated.dec({ app_id: conn.appId });
      this.backends.routes.remove(conn.appId, conn.userId, conn.id).catch((err: unknown) => {
        this.log.warn({ conn: conn.id, err: String(err) }, 'route removal failed; it expires by TTL');
      });
    }
  }

  /** Closes connections that missed their heartbeat or never authenticated. */
  private sweep(): void {
    const now = Date.now();
    for (const conn of this.connections.values()) {
      if (conn.state === 'new' || conn.state === 'authenticating') {
        if (now - conn.openedAt > this.config.gate.authTimeoutMs) this.refuse(conn, new ImError('IM_AUTH_TIMEOUT'), 0);
      } else if (conn.state === 'online' && now - conn.lastSeenAt > this.config.gate.idleTimeoutMs) {
        this.refuse(conn, new ImError('IM_HEARTBEAT_TIMEOUT'), 0);
      }
    }
  }
}

function advertisedHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}
