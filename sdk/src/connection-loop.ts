// The connection loop of an ImClient: get a token (getToken before every attempt), find a gate
// (dispatch), open a socket, authenticate, and keep the connection alive; when it ends, wait
// (full-jitter backoff, a server's hint) and connect again, or stop for good (a kick, a fatal
// auth error; see session-end.ts). It also carries requests over whichever connection is up.
// What the connection brings in (messages, acks, notices) goes to the handlers.

import type { Frame, FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { Backoff } from './backoff.js';
import { ImClientError, RETRYABLE_CODES } from './client-error.js';
import type { Outgoing } from './conversation-sender.js';
import { askDispatch, gateUrls } from './dispatch.js';
import { FrameSocket } from './frame-socket.js';
import { GateConnection, type Link } from './gate-connection.js';
import type { ImClientOptions, ImClientTimeouts } from './options.js';
import { PendingRequests } from './pending-requests.js';
import { decideConnectFailure, decideSessionEnd, type SessionEnd } from './session-end.js';
import type { ConnectionState, PlatformName, StateEvent } from './types.js';
import { errorFromWire, PLATFORMS } from './wire-mapping.js';

export type ConnectionOptions = Pick<
  ImClientOptions,
  'appId' | 'dispatchUrl' | 'gateUrl' | 'token' | 'getToken' | 'reconnect' | 'hooks' | 'webSocket' | 'fetch'
> & {
  deviceId: string;
  platform: PlatformName;
  timeouts: ImClientTimeouts;
  sdkVersion: string;
};

export interface ConnectionHandlers {
  /** The state changed (or the client went offline again, with a new reason). */
  state(e: StateEvent): void;
  error(err: unknown): void;
  /** AuthOk: resolve once the cursors are loaded; the connection's other frames wait until then. */
  authenticated(appId: string, userId: string): Promise<void>;
  /** Online, with what arrived meanwhile handed on: write what waits, and catch up. */
  online(link: Link): void;
  /** The connection ended: whatever was bound to it ends too. */
  offline(): void;
  /** The client stopped for good: fail what is queued with `err`. */
  stopped(err: ImClientError): void;
  /** Pushes, send acks, and delivery and read notices. */
  frame(frame: Frame): void;
  /** An Error frame that answers no request made through this loop (a send attempt's, or none). */
  errorFrame(reqId: number, err: ImClientError): void;
}

export class ConnectionLoop {
  private readonly t: ImClientTimeouts;
  private readonly backoff: Backoff;
  private readonly pending = new PendingRequests<Frame>();
  private onlineWaiters: Array<() => void> = [];
  private _state: ConnectionState = 'idle';
  private _userId?: string;
  private _gateId?: string;
  private connection?: GateConnection;
  private reqCounter = 0;
  /** No more reconnects (closed, logged out, kicked, or a fatal auth error). */
  private _stopped = false;
  private closing = false;
  private loop?: Promise<void>;
  private firstOnline?: { promise: Promise<void>; resolve: () => void; reject: (e: ImClientError) => void };
  private wakeReconnect?: () => void;
  private heartbeatMs = 30_000;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.t = opts.timeouts;
    this.backoff = new Backoff({ baseMs: opts.reconnect?.baseMs ?? 500, maxMs: opts.reconnect?.maxMs ?? 30_000 });
  }

  get state(): ConnectionState {
    return this._state;
  }

  get userId(): string | undefined {
    return this._userId;
  }

  get gateId(): string | undefined {
    return this._gateId;
  }

  get stopped(): boolean {
    return this._stopped;
  }

  /** The connection while the client is online. */
  get onlineConnection(): GateConnection | undefined {
    return this.connection && this._state === 'online' ? this.connection : undefined;
  }

  /** Starts the loop (once); resolves on the first AuthOk, rejects if the client stops before. */
  start(): Promise<void> {
    if (this._stopped) return Promise.reject(new ImClientError('SDK_CLOSED', 'this client was closed; create a new one'));
    if (!this.firstOnline) {
      let resolve!: () => void;
      let reject!: (e: ImClientError) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Internal waiters (send before connect) share this promise; the caller still sees rejections.
      promise.catch(() => undefined);
      this.firstOnline = { promise, resolve, reject };
    }
    this.loop ??= this.run();
    return this.firstOnline.promise;
  }

  /** Signs this device out; reconnects stop first, since the server closes the connection after LogoutOk. */
  async signOut(): Promise<void> {
    this._stopped = true;
    if (this.onlineConnection) {
      try {
        await this.requestOnce({ logout: {} }, Date.now() + this.t.request);
      } catch {
        // Closing ends the connection either way; the route then expires by itself.
      }
    }
  }

  /** Stops for good: ends the connection, lets `drain` run (cursor saves), fails what is queued. */
  async shutdown(reason: string, drain: () => Promise<void>): Promise<void> {
    if (this.closing) return this.loop;
    this.closing = true;
    this._stopped = true;
    this.wakeReconnect?.();
    const s = this.connection;
    if (s) this.endConnection(s);
    await drain();
    this.failQueued(new ImClientError('SDK_CLOSED', `the client was ${reason === 'logout' ? 'logged out' : 'closed'}`));
    this.firstOnline?.reject(new ImClientError('SDK_CLOSED', reason));
    if (this._state !== 'offline' && this._state !== 'kicked') this.setState({ state: 'offline', reason, willReconnect: false });
    await this.loop;
  }

  reconnectNow(): void {
    this.wakeReconnect?.();
  }

  dropConnection(): void {
    this.connection?.socket.close(4000, 'dropped by the client');
  }

  /** A connection completed its full sync: it works, so the reconnect backoff starts over. */
  resetBackoff(): void {
    this.backoff.reset();
  }

  /** The send queue's wire: a fresh reqId per attempt, or null while offline. */
  writeRequest(body: Outgoing['body']): number | null {
    const s = this.onlineConnection;
    if (!s) return null;
    const reqId = this.nextReqId();
    return s.write({ reqId, ...body }) ? reqId : null;
  }

  /**
   * A request with retries: after a retryable server error (waiting retry_after_ms) and, with
   * acrossReconnects, after the connection dropped; bound to `connection`, it fails once that
   * connection has ended. Every request the SDK makes is idempotent.
   */
  async request(body: FrameInit, opts: { acrossReconnects?: boolean; connection?: Link } = {}): Promise<Frame> {
    const deadline = Date.now() + this.t.request;
    for (;;) {
      if (opts.connection && this.connection !== opts.connection) throw new ImClientError('SDK_CONNECTION_LOST', 'the connection changed');
      if (opts.acrossReconnects) await this.waitOnline(deadline);
      try {
        return await this.requestOnce(body, deadline);
      } catch (err) {
        if (!(err instanceof ImClientError)) throw err;
        const retry = (err.code === 'SDK_CONNECTION_LOST' && opts.acrossReconnects) || RETRYABLE_CODES.has(err.code);
        const wait = Math.max(err.retryAfterMs, RETRYABLE_CODES.has(err.code) ? 200 : 0);
        if (!retry || this._stopped || Date.now() + wait >= deadline) throw err;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  // ── the loop ─────────────────────────────────────────────────────────────────────────────

  private async run(): Promise<void> {
    while (!this._stopped) {
      this.setState({ state: 'connecting', willReconnect: true });
      let end: SessionEnd;
      try {
        end = await this.runConnection();
      } catch (err) {
        this.handlers.error(err);
        end = decideConnectFailure(err);
      }
      if (this._stopped) break;
      if (end.stop) {
        this.stop(end.stop);
        break;
      }
      await this.waitToReconnect(end);
    }
  }

  private stop(stop: NonNullable<SessionEnd['stop']>): void {
    this._stopped = true;
    this.failQueued(new ImClientError(stop.error?.code ?? 'SDK_CLOSED', `the client stopped: ${stop.reason}`));
    this.setState({ state: stop.state, reason: stop.reason, willReconnect: false, kick: stop.kick });
    this.firstOnline?.reject(stop.error ?? new ImClientError('SDK_CLOSED', stop.reason));
  }

  /** Offline until the delay passes or reconnectNow() cuts it short. */
  private async waitToReconnect(end: SessionEnd): Promise<void> {
    const delay = end.delayMs ?? this.backoff.nextAtLeast(end.minDelayMs ?? 0);
    this.setState({ state: 'offline', reason: end.reason, willReconnect: true, retryInMs: delay });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wakeReconnect = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeReconnect = undefined;
  }

  /** One connection attempt and, if it authenticates, its whole life. */
  private async runConnection(): Promise<SessionEnd> {
    const token = await this.token();
    const socket = await this.openSocket(this.opts.gateUrl ? [this.opts.gateUrl] : await this.dispatch(token));
    if (!(socket instanceof FrameSocket)) return socket;
    if (this._stopped) {
      socket.close(1000, 'client closed');
      return { reason: 'closed' };
    }
    const s: GateConnection = new GateConnection(socket, this.opts.hooks, {
      frame: (frame) => this.handle(s, frame),
      error: (err) => this.handlers.error(err),
    });
    this.connection = s;
    const notReady = await this.signIn(s, token);
    if (notReady) {
      this.endConnection(s);
      return this.sessionEnd(s, notReady);
    }
    this.goOnline(s);
    const closed = await socket.closed;
    this.endConnection(s);
    return this.sessionEnd(s, closed.reason || `connection closed (${closed.code})`);
  }

  /** The first gate that opens a socket, or why none did. */
  private async openSocket(urls: string[]): Promise<FrameSocket | SessionEnd> {
    let lastError: unknown;
    for (const url of urls) {
      try {
        return await FrameSocket.open(url, this.t.connect, this.opts.webSocket);
      } catch (err) {
        lastError = err;
      }
    }
    return { reason: `cannot reach a gate: ${(lastError as Error)?.message ?? 'no gate'}` };
  }

  /** Auth → AuthOk, then the heartbeat and the cursors. Null when that worked, else why it did not. */
  private async signIn(s: GateConnection, token: string): Promise<string | null> {
    const authOk = await s.authenticate(
      {
        reqId: this.nextReqId(),
        auth: {
          token,
          deviceId: this.opts.deviceId,
          platform: PLATFORMS[this.opts.platform],
          sdkVersion: `imcloud-ts/${this.opts.sdkVersion}`,
        },
      },
      this.t.connect,
    );
    if (!authOk) {
      s.socket.close(4001, 'no AuthOk');
      return 'authentication did not complete';
    }
    this._userId = authOk.userId;
    this._gateId = authOk.gateId;
    this.heartbeatMs = authOk.heartbeatIntervalMs || this.heartbeatMs;
    s.startHeartbeat(this.heartbeatMs, this.t.pong);
    await this.handlers.authenticated(authOk.appId || this.opts.appId, authOk.userId);
    return !s.current || !s.socket.isOpen ? 'connection lost while starting' : null;
  }

  /** Online: hand over what arrived meanwhile, write what waits, and catch up. */
  private goOnline(s: GateConnection): void {
    this.setState({ state: 'online', willReconnect: true });
    this.firstOnline?.resolve();
    for (const w of this.onlineWaiters.splice(0)) w();
    s.release();
    this.handlers.online(s);
  }

  private sessionEnd(s: GateConnection, reason: string): SessionEnd {
    return decideSessionEnd(s.outcome, reason, { canRenewToken: Boolean(this.opts.getToken) });
  }

  /** Everything bound to a connection ends with it. */
  private endConnection(s: GateConnection): void {
    if (!s.end()) return;
    this.connection = undefined;
    this.handlers.offline();
    this.pending.rejectAll(new ImClientError('SDK_CONNECTION_LOST', 'the connection closed before the answer arrived'));
  }

  private async token(): Promise<string> {
    if (this.opts.getToken) {
      try {
        return await this.opts.getToken();
      } catch (err) {
        throw new ImClientError('SDK_DISPATCH_FAILED', `getToken failed: ${(err as Error)?.message ?? String(err)}`, 0, false, {
          cause: err,
        });
      }
    }
    return this.opts.token!;
  }

  /** Asks dispatch for gates; adopts its heartbeat and backoff hints. */
  private async dispatch(token: string): Promise<string[]> {
    const answer = await askDispatch({
      dispatchUrl: this.opts.dispatchUrl!,
      appId: this.opts.appId,
      userId: this._userId,
      token,
      timeoutMs: this.t.dispatch,
      fetch: this.opts.fetch,
    });
    if (answer.reconnect?.baseMs && answer.reconnect.maxMs) this.backoff.setLimits(answer.reconnect.baseMs, answer.reconnect.maxMs);
    if (answer.heartbeatIntervalMs) this.heartbeatMs = answer.heartbeatIntervalMs;
    return gateUrls(answer);
  }

  private failQueued(err: ImClientError): void {
    this.handlers.stopped(err);
    for (const w of this.onlineWaiters.splice(0)) w();
  }

  private setState(e: StateEvent): void {
    const changed = e.state !== this._state;
    this._state = e.state;
    if (changed || e.state === 'offline') this.handlers.state(e);
  }

  // ── frames and requests ──────────────────────────────────────────────────────────────────

  private nextReqId(): number {
    this.reqCounter = this.reqCounter >= 0xffffffff ? 1 : this.reqCounter + 1;
    return this.reqCounter;
  }

  private handle(s: GateConnection, frame: Frame): void {
    switch (frame.body) {
      case 'push':
      case 'sendAck':
      case 'deliveryNotice':
      case 'readNotice':
        return this.handlers.frame(frame);
      case 'error': {
        const err = errorFromWire(frame.error as imcloud.v1.Error);
        if (err.fatal) s.outcome.fatal = err;
        if (frame.reqId && this.pending.reject(frame.reqId, err)) return;
        return this.handlers.errorFrame(frame.reqId, err);
      }
      default:
        this.pending.resolve(frame.reqId, frame);
    }
  }

  private requestOnce(body: FrameInit, deadline: number): Promise<Frame> {
    const s = this.onlineConnection;
    if (!s) return Promise.reject(new ImClientError('SDK_CONNECTION_LOST', 'not connected'));
    const reqId = this.nextReqId();
    const answer = this.pending.wait(reqId, deadline, Object.keys(body).join(','));
    s.write({ ...body, reqId });
    return answer;
  }

  private waitOnline(deadline: number): Promise<void> {
    if (this._state === 'online') return Promise.resolve();
    if (this._stopped) return Promise.reject(new ImClientError('SDK_CLOSED', 'the client is closed'));
    return new Promise<void>((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        if (this._state === 'online') resolve();
        else reject(new ImClientError('SDK_CLOSED', 'the client is closed'));
      };
      const timer = setTimeout(
        () => {
          this.onlineWaiters = this.onlineWaiters.filter((w) => w !== waiter);
          reject(new ImClientError('SDK_TIMEOUT', 'offline: no connection in time'));
        },
        Math.max(0, deadline - Date.now()),
      );
      this.onlineWaiters.push(waiter);
    });
  }
}
