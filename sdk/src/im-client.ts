// ImClient: one signed-in user on one device. It finds a gate through dispatch, authenticates,
// keeps the connection alive (heartbeat, reconnect with full-jitter backoff), sends through
// per-conversation lanes that retry under the same clientMsgId, and delivers what it receives
// exactly once and in seq order per conversation (receive buffers, gap pulls, a full sync on
// every connect). Protocol semantics: proto/im.proto; the message path: DESIGN §3.
import { imcloud } from '../../proto/gen/im.js';
import { conversationMembers, singleConversation, USER_ID } from '../../services/shared/conversation-id.js';
import type { Frame, FrameInit } from '../../services/shared/frame-codec.js';
import { Backoff } from './backoff.js';
import { ImClientError, RETRYABLE_CODES } from './client-error.js';
import { ConversationList } from './conversation-list.js';
import type { Outgoing } from './conversation-sender.js';
import { MemoryCursorStore, type CursorStore } from './cursor-store.js';
import { askDispatch, gateUrls } from './dispatch.js';
import { FrameSocket, type WebSocketConstructor } from './frame-socket.js';
import { newClientMsgId, newDeviceId } from './ids.js';
import { PendingRequests } from './pending-requests.js';
import { ReceiveEngine } from './receive-engine.js';
import { SendQueue } from './send-queue.js';
import { Session, type Link } from './session.js';
import { decideConnectFailure, decideSessionEnd, type SessionEnd } from './session-end.js';
import { TypedEmitter } from './typed-emitter.js';
import { chatMessageFromWire, errorFromWire, PLATFORMS, sendAckFromWire } from './wire-mapping.js';
import type {
  ConnectionState, ConversationInfo, HistoryPage, HistoryQuery, ImClientEvents, PlatformName, ReadResult, SendResult, StateEvent,
} from './types.js';

export const SDK_VERSION = '0.1.0';

export interface ImClientTimeouts {
  /** Opening the socket and getting AuthOk. */
  connect: number;
  /** One request (sync page, pull, history, read, logout). */
  request: number;
  /** One send attempt: no SendAck by then → written again with the same clientMsgId. */
  ack: number;
  /** A whole send(), including time spent offline; 0 = no limit. */
  send: number;
  /** No answer to a Ping within this → the connection is dead; reconnect. */
  pong: number;
  /** How long a seq gap may stay open (waiting for a late push) before it is pulled. */
  gapGrace: number;
  /** Fetching the dispatch answer. */
  dispatch: number;
}

const DEFAULT_TIMEOUTS: ImClientTimeouts = {
  connect: 10_000, request: 10_000, ack: 5_000, send: 120_000, pong: 10_000, gapGrace: 300, dispatch: 10_000,
};

/** Frame-level hooks for tests and diagnostics: observe or drop traffic. */
export interface ImClientHooks {
  /** Before a frame is written; return false to drop it (as a lossy network would). */
  outgoing?(frame: FrameInit): boolean | void;
  /** After a frame was handed to the socket. */
  written?(frame: FrameInit): void;
  /** Before a received frame is handled; return false to drop it. */
  incoming?(frame: Frame): boolean | void;
}

export interface ImClientOptions {
  appId: string;
  /** Dispatch endpoint, e.g. "https://im.example.com/v1/dispatch" (relative URLs work in browsers). */
  dispatchUrl?: string;
  /** Connect to this gate directly instead of asking dispatch (ws:// or wss:// …/ws). */
  gateUrl?: string;
  /** A user token minted by the app's backend. Use getToken for tokens that expire. */
  token?: string;
  /** Called before every connection attempt and after IM_TOKEN_EXPIRED. */
  getToken?: () => string | Promise<string>;
  /** Stable per installation: the server keeps one route per device. Default: random per client. */
  deviceId?: string;
  /** Default: "web" in browsers, "server" elsewhere. */
  platform?: PlatformName;
  /** Default: in memory (cursors last as long as the process). Browsers: IndexedDbCursorStore. */
  cursorStore?: CursorStore;
  timeouts?: Partial<ImClientTimeouts>;
  /** Until dispatch sends its own hint. */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Messages per sync page (the server caps it). */
  syncPageSize?: number;
  /** PushAcks and cursor saves are batched over this many ms. */
  ackBatchMs?: number;
  hooks?: ImClientHooks;
  /**
   * The WebSocket class to connect with (default: the runtime's, or the `ws` package on Node 20),
   * e.g. in Node a `ws` subclass that trusts a private CA for wss:// gates.
   */
  webSocket?: WebSocketConstructor;
  /** The fetch used to ask dispatch (default: globalThis.fetch), e.g. one that trusts a private CA. */
  fetch?: (url: URL, init: { signal: AbortSignal }) => Promise<Response>;
}

export interface SendOptions {
  /** Default "text" for a string body, "application/octet-stream" for bytes. */
  contentType?: string;
  /** Reuse the id of an earlier send() that failed, so the server can deduplicate it. */
  clientMsgId?: string;
}

export class ImClient extends TypedEmitter<ImClientEvents> {
  readonly deviceId: string;
  private readonly opts: ImClientOptions;
  private readonly t: ImClientTimeouts;
  private readonly platform: PlatformName;
  private readonly backoff: Backoff;
  private readonly sends: SendQueue;
  private readonly receiver: ReceiveEngine;
  private readonly list: ConversationList;
  private readonly pending = new PendingRequests<Frame>();
  private onlineWaiters: Array<() => void> = [];

  private _state: ConnectionState = 'idle';
  private _userId?: string;
  private _gateId?: string;
  private session?: Session;
  private reqCounter = 0;
  /** No more reconnects (closed, logged out, kicked, or a fatal auth error). */
  private stopped = false;
  private closing = false;
  private loop?: Promise<void>;
  private firstOnline?: { promise: Promise<void>; resolve: () => void; reject: (e: ImClientError) => void };
  private wakeReconnect?: () => void;
  private conversationsQueued = false;
  private heartbeatMs = 30_000;

  constructor(options: ImClientOptions) {
    super();
    if (!options.appId) throw new TypeError('ImClient: appId is required');
    if (!options.dispatchUrl && !options.gateUrl) throw new TypeError('ImClient: give dispatchUrl or gateUrl');
    if (!options.token && !options.getToken) throw new TypeError('ImClient: give token or getToken');
    this.opts = options;
    this.t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.deviceId = options.deviceId ?? newDeviceId();
    this.platform = options.platform ?? (typeof document !== 'undefined' ? 'web' : 'server');
    this.backoff = new Backoff({ baseMs: options.reconnect?.baseMs ?? 500, maxMs: options.reconnect?.maxMs ?? 30_000 });
    this.list = new ConversationList((c) => this.peerOf(c));
    this.sends = new SendQueue(
      { write: (body) => this.writeRequest(body) },
      { ackTimeoutMs: this.t.ack, deadlineMs: this.t.send, minRetryDelayMs: 200 },
      (out, ack) => this.receiver.ownMessageAcked(out, ack),
    );
    this.receiver = new ReceiveEngine({
      deviceId: this.deviceId, list: this.list, cursorStore: options.cursorStore ?? new MemoryCursorStore(), gapGraceMs: this.t.gapGrace,
      syncPageSize: options.syncPageSize ?? 200, ackBatchMs: options.ackBatchMs ?? 50,
      userId: () => this._userId,
      online: () => (this.session && this._state === 'online' ? this.session : undefined),
      request: (body, link) => this.request(body, { session: link }),
      emit: (event, payload) => this.emit(event, payload),
      conversationsChanged: () => this.conversationsChanged(),
      report: (err) => this.report(err),
      syncCompleted: () => this.backoff.reset(),
    });
  }

  // ── public API ───────────────────────────────────────────────────────────────────────────

  get appId(): string {
    return this.opts.appId;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The signed-in user, known after the first AuthOk. */
  get userId(): string | undefined {
    return this._userId;
  }

  /** The gate of the current (or last) connection, from AuthOk. */
  get gateId(): string | undefined {
    return this._gateId;
  }

  /** Sends and recalls not yet acknowledged. */
  get pendingSends(): number {
    return this.sends.pending;
  }

  /**
   * Starts connecting (and reconnecting for as long as the client lives). Resolves when the
   * first connection is authenticated; rejects if the client stops before that (a fatal auth
   * error, a kick, close()).
   */
  connect(): Promise<void> {
    if (this.stopped) return Promise.reject(new ImClientError('SDK_CLOSED', 'this client was closed; create a new one'));
    if (!this.firstOnline) {
      let resolve!: () => void;
      let reject!: (e: ImClientError) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      // Internal waiters (send before connect) share this promise; the caller still sees rejections.
      promise.catch(() => undefined);
      this.firstOnline = { promise, resolve, reject };
    }
    this.loop ??= this.run();
    return this.firstOnline.promise;
  }

  /** The conversation id of a single chat with `peer`. Needs the user id (after connect()). */
  conversationWith(peer: string): string {
    return singleConversation(this.requireUser(), peer);
  }

  /**
   * Sends a message to `to`. Resolves with the server's ack (seq, msgId, ts) once the message is
   * stored; messages to one peer go out one at a time, in call order. Retries (lost frames,
   * reconnects, IM_UNAVAILABLE) reuse the clientMsgId, so the message is stored once.
   */
  async send(to: string, body: string | Uint8Array, options: SendOptions = {}): Promise<SendResult> {
    if (!USER_ID.test(to)) throw new ImClientError('IM_BAD_REQUEST', `recipient must match ${USER_ID.source}`);
    this.assertRunning();
    const me = await this.whoAmI();
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const contentType = options.contentType ?? (typeof body === 'string' ? 'text' : 'application/octet-stream');
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    return this.sends.enqueue({
      clientMsgId, conversation: singleConversation(me, to), body: { send: { clientMsgId, to, contentType, body: bytes } },
    });
  }

  /** Recalls an own message (within the app's recall window). Resolves with the ack of the recall event. */
  async recall(conversation: string, seq: number, options: { clientMsgId?: string } = {}): Promise<SendResult> {
    this.assertRunning();
    await this.whoAmI();
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    return this.sends.enqueue({ clientMsgId, conversation, body: { recall: { clientMsgId, conversation, seq } } });
  }

  /** Marks the conversation read up to `seq`; the peer gets a ReadNotice. */
  async markRead(conversation: string, seq: number): Promise<ReadResult> {
    const frame = await this.request({ read: { conversation, seq } }, { acrossReconnects: true });
    const ack = frame.readAck as imcloud.v1.ReadAck;
    const readSeq = Number(ack.readSeq);
    this.list.onOwnRead(conversation, readSeq);
    this.conversationsChanged();
    return { conversation, readSeq, unread: Number(ack.unread) };
  }

  /** One page of history, by seq or by time (ascending). */
  async history(conversation: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    const frame = await this.request({
      history: {
        conversation, fromSeq: query.fromSeq ?? 0, toSeq: query.toSeq ?? 0, fromTs: query.fromTs ?? 0, toTs: query.toTs ?? 0,
        limit: query.limit ?? 50, newestFirst: query.newestFirst ?? false,
      },
    }, { acrossReconnects: true });
    const r = frame.historyResult as imcloud.v1.HistoryResult;
    return { conversation, messages: r.messages.map((m) => chatMessageFromWire(m, this._userId)), hasMore: r.hasMore };
  }

  /** Conversations with unread counts, newest activity first. */
  conversations(): ConversationInfo[] {
    return this.list.list();
  }

  conversation(conversation: string): ConversationInfo | undefined {
    return this.list.get(conversation);
  }

  /** Signs this device out (the server drops its route) and stops the client. */
  async logout(): Promise<void> {
    // Set first: the server closes the connection after LogoutOk, which must not trigger a reconnect.
    this.stopped = true;
    if (this.session && this._state === 'online') {
      try {
        await this.requestOnce({ logout: {} }, Date.now() + this.t.request);
      } catch {
        // Closing below ends the connection either way; the route then expires by itself.
      }
    }
    await this.shutdown('logout');
  }

  /** Stops the client: closes the connection, stops reconnecting, fails what is queued. */
  async close(): Promise<void> {
    await this.shutdown('closed');
  }

  /** Skips the rest of the reconnect wait (e.g. the browser reports the network is back). */
  reconnectNow(): void {
    this.wakeReconnect?.();
  }

  /**
   * Drops the connection without signing out, as a network failure would; the client
   * reconnects and resyncs by itself. For tests and diagnostics.
   */
  dropConnection(): void {
    this.session?.socket.close(4000, 'dropped by the client');
  }

  // ── connection loop ──────────────────────────────────────────────────────────────────────

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.setState({ state: 'connecting', willReconnect: true });
      let end: SessionEnd;
      try {
        end = await this.runSession();
      } catch (err) {
        this.report(err);
        end = decideConnectFailure(err);
      }
      if (this.stopped) break;
      if (end.stop) {
        this.stopped = true;
        this.failQueued(new ImClientError(end.stop.error?.code ?? 'SDK_CLOSED', `the client stopped: ${end.stop.reason}`));
        this.setState({ state: end.stop.state, reason: end.stop.reason, willReconnect: false, kick: end.stop.kick });
        this.firstOnline?.reject(end.stop.error ?? new ImClientError('SDK_CLOSED', end.stop.reason));
        break;
      }
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
  }

  /** One connection attempt and, if it authenticates, its whole life. */
  private async runSession(): Promise<SessionEnd> {
    const token = await this.token();
    const urls = this.opts.gateUrl ? [this.opts.gateUrl] : await this.dispatch(token);
    let socket: FrameSocket | undefined;
    let lastError: unknown;
    for (const url of urls) {
      try {
        socket = await FrameSocket.open(url, this.t.connect, this.opts.webSocket);
        break;
      } catch (err) {
        lastError = err;
      }
    }
    if (!socket) return { reason: `cannot reach a gate: ${(lastError as Error)?.message ?? 'no gate'}` };
    if (this.stopped) {
      socket.close(1000, 'client closed');
      return { reason: 'closed' };
    }

    const s: Session = new Session(socket, this.opts.hooks, { frame: (frame) => this.handle(s, frame), error: (err) => this.report(err) });
    this.session = s;
    const authOk = await s.authenticate({
      reqId: this.nextReqId(),
      auth: { token, deviceId: this.deviceId, platform: PLATFORMS[this.platform], sdkVersion: `imcloud-ts/${SDK_VERSION}` },
    }, this.t.connect);
    if (!authOk) {
      socket.close(4001, 'no AuthOk');
      this.endSession(s);
      return this.sessionEnd(s, 'authentication did not complete');
    }

    this._userId = authOk.userId;
    this._gateId = authOk.gateId;
    this.heartbeatMs = authOk.heartbeatIntervalMs || this.heartbeatMs;
    s.startHeartbeat(this.heartbeatMs, this.t.pong);
    await this.receiver.loadCursors(authOk.appId || this.opts.appId, authOk.userId);
    if (!s.current || !socket.isOpen) {
      this.endSession(s);
      return this.sessionEnd(s, 'connection lost while starting');
    }

    // Online: hand over what arrived meanwhile, write what waits, and catch up.
    this.setState({ state: 'online', willReconnect: true });
    this.firstOnline?.resolve();
    for (const w of this.onlineWaiters.splice(0)) w();
    s.release();
    this.sends.online();
    void this.receiver.sync(s);

    const closed = await socket.closed;
    this.endSession(s);
    return this.sessionEnd(s, closed.reason || `connection closed (${closed.code})`);
  }

  /** Decides what follows a connection that ended. */
  private sessionEnd(s: Session, reason: string): SessionEnd {
    return decideSessionEnd(s, reason, { canRenewToken: Boolean(this.opts.getToken) });
  }

  /** Everything bound to a connection ends with it. */
  private endSession(s: Session): void {
    if (!s.end()) return;
    this.session = undefined;
    this.sends.offline();
    this.pending.rejectAll(new ImClientError('SDK_CONNECTION_LOST', 'the connection closed before the answer arrived'));
    this.receiver.connectionLost();
  }

  private async token(): Promise<string> {
    if (this.opts.getToken) {
      try {
        return await this.opts.getToken();
      } catch (err) {
        throw new ImClientError('SDK_DISPATCH_FAILED', `getToken failed: ${(err as Error)?.message ?? String(err)}`, 0, false, { cause: err });
      }
    }
    return this.opts.token!;
  }

  /** Asks dispatch for gates; adopts its heartbeat and backoff hints. */
  private async dispatch(token: string): Promise<string[]> {
    const answer = await askDispatch({
      dispatchUrl: this.opts.dispatchUrl!, appId: this.opts.appId, userId: this._userId, token, timeoutMs: this.t.dispatch, fetch: this.opts.fetch,
    });
    if (answer.reconnect?.baseMs && answer.reconnect.maxMs) this.backoff.setLimits(answer.reconnect.baseMs, answer.reconnect.maxMs);
    if (answer.heartbeatIntervalMs) this.heartbeatMs = answer.heartbeatIntervalMs;
    return gateUrls(answer);
  }

  private async shutdown(reason: string): Promise<void> {
    if (this.closing) return this.loop;
    this.closing = true;
    this.stopped = true;
    this.wakeReconnect?.();
    const s = this.session;
    if (s) this.endSession(s);
    await this.receiver.close();
    this.failQueued(new ImClientError('SDK_CLOSED', `the client was ${reason === 'logout' ? 'logged out' : 'closed'}`));
    this.firstOnline?.reject(new ImClientError('SDK_CLOSED', reason));
    if (this._state !== 'offline' && this._state !== 'kicked') this.setState({ state: 'offline', reason, willReconnect: false });
    await this.loop;
  }

  private failQueued(err: ImClientError): void {
    this.sends.close(err);
    for (const w of this.onlineWaiters.splice(0)) w();
  }

  // ── frames ───────────────────────────────────────────────────────────────────────────────

  private nextReqId(): number {
    this.reqCounter = this.reqCounter >= 0xffffffff ? 1 : this.reqCounter + 1;
    return this.reqCounter;
  }

  /** The send queue's wire: a fresh reqId per attempt, or null while offline. */
  private writeRequest(body: Outgoing['body']): number | null {
    const s = this.session;
    if (!s || this._state !== 'online') return null;
    const reqId = this.nextReqId();
    return s.write({ reqId, ...body }) ? reqId : null;
  }

  private handle(s: Session, frame: Frame): void {
    switch (frame.body) {
      case 'push':
      case 'deliveryNotice':
      case 'readNotice':
        return this.receiver.handle(frame);
      case 'sendAck':
        this.sends.ack(sendAckFromWire(frame.sendAck as imcloud.v1.SendAck));
        return;
      case 'error': return this.onError(s, frame.reqId, frame.error as imcloud.v1.Error);
      default:
        this.pending.resolve(frame.reqId, frame);
    }
  }

  private onError(s: Session, reqId: number, e: imcloud.v1.Error): void {
    const err = errorFromWire(e);
    if (e.fatal) s.fatal = err;
    if (reqId) {
      if (this.pending.reject(reqId, err)) return;
      if (this.sends.fail(reqId, { code: e.code, message: e.message, retryAfterMs: e.retryAfterMs })) return;
    }
    this.report(err);
  }

  // ── requests ─────────────────────────────────────────────────────────────────────────────

  private requestOnce(body: FrameInit, deadline: number): Promise<Frame> {
    const s = this.session;
    if (!s || this._state !== 'online') return Promise.reject(new ImClientError('SDK_CONNECTION_LOST', 'not connected'));
    const reqId = this.nextReqId();
    const answer = this.pending.wait(reqId, deadline, Object.keys(body).join(','));
    s.write({ ...body, reqId });
    return answer;
  }

  /**
   * A request with retries: after a retryable server error (waiting retry_after_ms) and, with
   * acrossReconnects, after the connection dropped. Every request the SDK makes is idempotent.
   */
  private async request(body: FrameInit, opts: { acrossReconnects?: boolean; session?: Link } = {}): Promise<Frame> {
    const deadline = Date.now() + this.t.request;
    for (;;) {
      if (opts.session && this.session !== opts.session) throw new ImClientError('SDK_CONNECTION_LOST', 'the connection changed');
      if (opts.acrossReconnects) await this.waitOnline(deadline);
      try {
        return await this.requestOnce(body, deadline);
      } catch (err) {
        if (!(err instanceof ImClientError)) throw err;
        const retry = (err.code === 'SDK_CONNECTION_LOST' && opts.acrossReconnects) || RETRYABLE_CODES.has(err.code);
        const wait = Math.max(err.retryAfterMs, RETRYABLE_CODES.has(err.code) ? 200 : 0);
        if (!retry || this.stopped || Date.now() + wait >= deadline) throw err;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private waitOnline(deadline: number): Promise<void> {
    if (this._state === 'online') return Promise.resolve();
    if (this.stopped) return Promise.reject(new ImClientError('SDK_CLOSED', 'the client is closed'));
    return new Promise<void>((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        if (this._state === 'online') resolve();
        else reject(new ImClientError('SDK_CLOSED', 'the client is closed'));
      };
      const timer = setTimeout(() => {
        this.onlineWaiters = this.onlineWaiters.filter((w) => w !== waiter);
        reject(new ImClientError('SDK_TIMEOUT', 'offline: no connection in time'));
      }, Math.max(0, deadline - Date.now()));
      this.onlineWaiters.push(waiter);
    });
  }

  private assertRunning(): void {
    if (this.stopped) throw new ImClientError('SDK_CLOSED', `the client is ${this._state === 'kicked' ? 'kicked' : 'closed'}; create a new one`);
  }

  private whoAmI(): Promise<string> {
    if (this._userId) return Promise.resolve(this._userId);
    return this.connect().then(() => this.requireUser());
  }

  private requireUser(): string {
    if (!this._userId) throw new ImClientError('SDK_CLOSED', 'not signed in yet: await connect() first');
    return this._userId;
  }

  // ── events ───────────────────────────────────────────────────────────────────────────────

  private setState(e: StateEvent): void {
    const changed = e.state !== this._state;
    this._state = e.state;
    if (changed || e.state === 'offline') this.emit('state', e);
  }

  private conversationsChanged(): void {
    if (this.conversationsQueued) return;
    this.conversationsQueued = true;
    queueMicrotask(() => {
      this.conversationsQueued = false;
      this.emit('conversations', this.list.list());
    });
  }

  private report(err: unknown): void {
    const e = err instanceof ImClientError ? err : new ImClientError('SDK_PROTOCOL', (err as Error)?.message ?? String(err), 0, false, { cause: err });
    this.emit('error', e);
  }

  protected override onListenerError(event: keyof ImClientEvents, err: unknown): void {
    if (event === 'error') return; // never recurse
    this.emit('error', new ImClientError('SDK_LISTENER', `a "${String(event)}" listener threw: ${(err as Error)?.message ?? String(err)}`, 0, false, { cause: err }));
  }

  private peerOf(conversation: string): string {
    const members = conversationMembers(conversation) ?? [];
    return members.find((m) => m !== this._userId) ?? this._userId ?? '';
  }
}
