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
import type { Outgoing, SendAck } from './conversation-sender.js';
import { cursorScope, MemoryCursorStore, type CursorStore, type Cursors } from './cursor-store.js';
import { askDispatch, gateUrls } from './dispatch.js';
import { FrameSocket, type WebSocketConstructor } from './frame-socket.js';
import { newClientMsgId, newDeviceId } from './ids.js';
import { PendingRequests } from './pending-requests.js';
import { ReceiveBuffer } from './receive-buffer.js';
import { SendQueue } from './send-queue.js';
import { Session } from './session.js';
import { decideConnectFailure, decideSessionEnd, type SessionEnd } from './session-end.js';
import { TypedEmitter } from './typed-emitter.js';
import {
  chatMessageFromWire, errorFromWire, noticeFromWire, ownMessageFromAck, PLATFORMS, sendAckFromWire, summaryFromWire,
} from './wire-mapping.js';
import type {
  ChatMessage, ConnectionState, ConversationInfo, HistoryPage, HistoryQuery, ImClientEvents, PlatformName, ReadResult,
  SendResult, StateEvent,
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

const PUSH_ACK_MAX_CURSORS = 100; // logic reads at most 100 cursors per PushAck

/** What the receive buffers hold: a delivered message, or an empty slot. */
interface Slot {
  seq: number;
  empty?: boolean;
  message?: ChatMessage;
}

interface Inbox {
  buffer: ReceiveBuffer<Slot>;
  /**
   * The cursor is known to be right: restored from the store, set by a sync summary, or the
   * conversation began after this connection's sync (so all of it is new here). An unanchored
   * inbox (first seen before that sync ended) is left out of sync requests, so the server says
   * where this device's view of it starts.
   */
  anchored: boolean;
}

export class ImClient extends TypedEmitter<ImClientEvents> {
  readonly deviceId: string;
  private readonly opts: ImClientOptions;
  private readonly t: ImClientTimeouts;
  private readonly platform: PlatformName;
  private readonly cursorStore: CursorStore;
  private readonly backoff: Backoff;
  private readonly sends: SendQueue;
  private readonly inboxes = new Map<string, Inbox>();
  private readonly list: ConversationList;
  private readonly pending = new PendingRequests<Frame>();
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pulling = new Set<string>();
  private readonly ackDirty = new Set<string>();
  private onlineWaiters: Array<() => void> = [];

  private _state: ConnectionState = 'idle';
  private _userId?: string;
  private _gateId?: string;
  private session?: Session;
  /** The connection whose full sync has finished: conversations first seen after it are new. */
  private syncedSession?: Session;
  private reqCounter = 0;
  /** No more reconnects (closed, logged out, kicked, or a fatal auth error). */
  private stopped = false;
  private closing = false;
  private loop?: Promise<void>;
  private firstOnline?: { promise: Promise<void>; resolve: () => void; reject: (e: ImClientError) => void };
  private wakeReconnect?: () => void;
  private syncing = false;
  private scope?: string;
  private flushTimer?: ReturnType<typeof setTimeout>;
  private flushing: Promise<void> = Promise.resolve();
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
    this.cursorStore = options.cursorStore ?? new MemoryCursorStore();
    this.backoff = new Backoff({ baseMs: options.reconnect?.baseMs ?? 500, maxMs: options.reconnect?.maxMs ?? 30_000 });
    this.list = new ConversationList((c) => this.peerOf(c));
    this.sends = new SendQueue(
      { write: (body) => this.writeRequest(body) },
      { ackTimeoutMs: this.t.ack, deadlineMs: this.t.send, minRetryDelayMs: 200 },
      (out, ack) => this.onSendAcked(out, ack),
    );
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
    await this.loadCursors(authOk.appId || this.opts.appId, authOk.userId);
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
    void this.fullSync(s);

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
    for (const t of this.gapTimers.values()) clearTimeout(t);
    this.gapTimers.clear();
    this.syncing = false;
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

  private async loadCursors(appId: string, userId: string): Promise<void> {
    const scope = cursorScope(appId, userId, this.deviceId);
    if (this.scope === scope) return;
    this.scope = scope;
    let stored: Cursors = {};
    try {
      stored = await this.cursorStore.load(scope);
    } catch (err) {
      this.report(err);
    }
    for (const [conversation, seq] of Object.entries(stored)) {
      const inbox = this.inbox(conversation);
      this.deliver(conversation, inbox.buffer.skipTo(seq));
      inbox.anchored = true;
    }
  }

  private async shutdown(reason: string): Promise<void> {
    if (this.closing) return this.loop;
    this.closing = true;
    this.stopped = true;
    this.wakeReconnect?.();
    const s = this.session;
    if (s) this.endSession(s);
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flush();
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
      case 'push': return this.ingest((frame.push as imcloud.v1.Push).messages);
      case 'sendAck':
        this.sends.ack(sendAckFromWire(frame.sendAck as imcloud.v1.SendAck));
        return;
      case 'deliveryNotice': {
        const e = noticeFromWire(frame.deliveryNotice as imcloud.v1.DeliveryNotice);
        if (e.user !== this._userId) this.list.onPeerDelivered(e.conversation, e.seq);
        this.emit('delivered', e);
        this.conversationsChanged();
        return;
      }
      case 'readNotice': {
        const e = noticeFromWire(frame.readNotice as imcloud.v1.ReadNotice);
        if (e.user === this._userId) this.list.onOwnRead(e.conversation, e.seq);
        else this.list.onPeerRead(e.conversation, e.seq);
        this.emit('read', e);
        this.conversationsChanged();
        return;
      }
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
  private async request(body: FrameInit, opts: { acrossReconnects?: boolean; session?: Session } = {}): Promise<Frame> {
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

  // ── receiving ────────────────────────────────────────────────────────────────────────────

  private inbox(conversation: string): Inbox {
    let inbox = this.inboxes.get(conversation);
    if (!inbox) {
      const anchored = this.session !== undefined && this.syncedSession === this.session && !this.syncing;
      const onEmpty = (slot: Slot) => this.emit('skipped', { conversation, fromSeq: slot.seq, toSeq: slot.seq, reason: 'empty' });
      this.inboxes.set(conversation, (inbox = { buffer: new ReceiveBuffer<Slot>(0, onEmpty), anchored }));
    }
    return inbox;
  }

  /** Messages from pushes, sync pages and pulls, in any order and possibly repeated. */
  private ingest(messages: imcloud.v1.IMessage[]): void {
    const byConversation = new Map<string, Slot[]>();
    for (const m of messages) {
      const conversation = m.conversation ?? '';
      if (!conversation) continue;
      let slots = byConversation.get(conversation);
      if (!slots) byConversation.set(conversation, (slots = []));
      slots.push(m.empty ? { seq: Number(m.seq), empty: true } : { seq: Number(m.seq), message: chatMessageFromWire(m, this._userId) });
    }
    for (const [conversation, slots] of byConversation) this.receive(conversation, slots);
  }

  private receive(conversation: string, slots: Slot[]): void {
    const inbox = this.inbox(conversation);
    const before = inbox.buffer.cursor;
    this.deliver(conversation, inbox.buffer.add(slots));
    if (inbox.buffer.cursor !== before) this.cursorMoved(conversation);
    if (inbox.buffer.waiting > 0) this.scheduleGapPull(conversation);
  }

  /** Hands messages to the app; they are in seq order and new. */
  private deliver(conversation: string, slots: Slot[]): void {
    for (const slot of slots) {
      const m = slot.message!;
      this.list.onMessage(m, m.kind === 'recall' ? undefined : m);
      if (m.kind === 'recall') {
        this.list.onRecall(conversation, m.recallsSeq);
        this.emit('recall', { conversation, seq: m.recallsSeq, eventSeq: m.seq, by: m.sender, ts: m.ts });
      } else {
        this.emit('message', m);
      }
    }
    if (slots.length > 0) this.conversationsChanged();
  }

  /** Own sends are not pushed back to the sending connection: the ack stands in for the push. */
  private onSendAcked(out: Outgoing, ack: SendAck): void {
    this.receive(ack.conversation, [{ seq: ack.seq, message: ownMessageFromAck(out, ack, this._userId, this.deviceId) }]);
  }

  private scheduleGapPull(conversation: string, delay = this.t.gapGrace): void {
    // A sync in progress fills gaps itself; gaps are checked again when it ends.
    if (this.syncing || this._state !== 'online' || this.gapTimers.has(conversation) || this.pulling.has(conversation)) return;
    const s = this.session;
    this.gapTimers.set(conversation, setTimeout(() => {
      this.gapTimers.delete(conversation);
      if (s && this.session === s) void this.pullGap(s, conversation);
    }, delay));
  }

  private async pullGap(s: Session, conversation: string): Promise<void> {
    const inbox = this.inboxes.get(conversation);
    const gap = inbox?.buffer.gap();
    if (!inbox || !gap) return;
    this.pulling.add(conversation);
    let again = -1;
    try {
      const before = inbox.buffer.cursor;
      // The range reaches the first message we already hold: the server bounds a missing seq's
      // age by the next message present in the range, and only then can it call the seq empty.
      const frame = await this.request({ pull: { conversation, fromSeq: gap.from, toSeq: gap.to + 1 } }, { session: s });
      const result = frame.pullResult as imcloud.v1.PullResult;
      this.ingest(result.messages);
      if (inbox.buffer.gap()) {
        // In flight: ask when the server says; progress: keep going; neither: back off.
        again = result.retryAfterMs > 0 ? result.retryAfterMs : inbox.buffer.cursor > before ? 0 : 1000;
      }
    } catch (err) {
      if (this.session === s) {
        this.report(err);
        again = 1000;
      }
    } finally {
      this.pulling.delete(conversation);
    }
    if (again >= 0 && this.session === s) this.scheduleGapPull(conversation, again);
  }

  /** Pages through everything newer than this device's cursors; run on every connect. */
  private async fullSync(s: Session): Promise<void> {
    this.syncing = true;
    let pages = 0;
    let messages = 0;
    try {
      for (;;) {
        const sent = new Set<string>();
        const cursors: imcloud.v1.ICursor[] = [];
        for (const [conversation, inbox] of this.inboxes) {
          if (!inbox.anchored) continue;
          sent.add(conversation);
          cursors.push({ conversation, seq: inbox.buffer.cursor });
        }
        // Asking for the next page with the advanced cursors acknowledges this one.
        const frame = await this.request({ sync: { cursors, pageSize: this.opts.syncPageSize ?? 200 } }, { session: s });
        const page = frame.syncPage as imcloud.v1.SyncPage;
        pages += 1;
        messages += page.messages.length;
        for (const c of page.conversations as imcloud.v1.ConversationSummary[]) {
          this.list.applySummary(summaryFromWire(c));
          const inbox = this.inbox(c.conversation);
          if (!sent.has(c.conversation) && !inbox.anchored) {
            // New to this device: its view starts where the server says (the latest N messages).
            const before = inbox.buffer.cursor;
            const viewStartsAfter = Math.max(0, Number(c.minSeq) - 1);
            if (viewStartsAfter > before) this.emit('skipped', { conversation: c.conversation, fromSeq: before + 1, toSeq: viewStartsAfter, reason: 'history' });
            this.deliver(c.conversation, inbox.buffer.skipTo(viewStartsAfter));
            if (inbox.buffer.cursor !== before) this.cursorMoved(c.conversation);
            inbox.anchored = true;
          }
        }
        this.conversationsChanged();
        this.ingest(page.messages);
        if (this.session !== s) return;
        if (page.hasMore) continue;
        if (page.retryAfterMs > 0) {
          await new Promise((r) => setTimeout(r, page.retryAfterMs));
          if (this.session !== s) return;
          continue;
        }
        break;
      }
      // Conversations first seen in a push after the sync's snapshot began after it: all theirs is new.
      for (const inbox of this.inboxes.values()) inbox.anchored = true;
      this.syncing = false;
      this.syncedSession = s;
      for (const [conversation, inbox] of this.inboxes) if (inbox.buffer.waiting > 0) this.scheduleGapPull(conversation);
      this.backoff.reset();
      this.emit('synced', { conversations: this.list.size, messages, pages });
    } catch (err) {
      if (this.session !== s) return;
      // A connection that cannot sync is of no use: start over with a new one.
      this.report(err);
      s.socket.close(4004, 'sync failed');
    } finally {
      if (this.session === s) this.syncing = false;
    }
  }

  // ── acks and cursors ─────────────────────────────────────────────────────────────────────

  private cursorMoved(conversation: string): void {
    this.ackDirty.add(conversation);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.opts.ackBatchMs ?? 50);
  }

  /** Saves moved cursors, then acknowledges them (cumulative PushAck), in that order. */
  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.ackDirty.size === 0) return;
      const cursors: Cursors = {};
      for (const conversation of this.ackDirty) cursors[conversation] = this.inboxes.get(conversation)?.buffer.cursor ?? 0;
      this.ackDirty.clear();
      if (this.scope) {
        try {
          await this.cursorStore.save(this.scope, cursors);
        } catch (err) {
          this.report(err);
        }
      }
      const s = this.session;
      if (!s || this._state !== 'online') return; // the next sync request carries them
      const list = Object.entries(cursors).map(([conversation, seq]) => ({ conversation, seq }));
      for (let i = 0; i < list.length; i += PUSH_ACK_MAX_CURSORS) {
        s.write({ pushAck: { cursors: list.slice(i, i + PUSH_ACK_MAX_CURSORS) } });
      }
    });
    return this.flushing;
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
