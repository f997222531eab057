// The logic role: consumes client frames forwarded by gates and runs the message path of
// DESIGN §3 — login and multi-login policy, single chat send with dedupe and seq allocation,
// push fan-out, push acks and delivery notices, sync, pull, history, read receipts, recall.
// Stateless: every piece of state lives behind a port, so any instance can handle any frame.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import pLimit, { type LimitFunction } from 'p-limit';
import { imcloud } from '../../protocol/gen/im.js';
import type { App, MultiLoginPolicy } from '../ports/app-registry.js';
import type { Backends } from '../ports/backends.js';
import type { Subscription } from '../ports/bus.js';
import type { ConversationEntry } from '../ports/conversation-state.js';
import type { SendAckRecord } from '../ports/dedupe.js';
import type { Route } from '../ports/routes.js';
import type { StoredMessage } from '../ports/stored-message.js';
import type { Config } from '../shared/config.js';
import { APP_ID, assertUserId, membersFor, peerOf, singleConversation, USER_ID } from '../../protocol/conversation-id.js';
import { ImError, toImError } from '../../protocol/errors.js';
import { decodeFrameBody, encodeFrameBody, errorFrame, type Frame, type FrameInit } from '../../protocol/frame-codec.js';
import { IdGenerator } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { decodeStoreRecord, emptySlot, encodeStoreRecord, toWireMessage, withSeq } from './message-codec.js';
import { FairScheduler } from './fair-scheduler.js';
import { MessageReader, type Slot } from './message-reader.js';
import { DownstreamBatcher, type DeliveryOptions } from './downstream-batcher.js';
import { wireBytes, withinBytes } from './reply-size.js';

type Upstream = imcloud.internal.v1.Upstream;
const Kind = imcloud.internal.v1.Upstream.Kind;
const MessageKind = imcloud.v1.MessageKind;

/** An upstream envelope, decoded: who sent it, and its frame (none for a login or disconnect). */
interface UpstreamRequest {
  up: Upstream;
  session: Session;
  frame?: Frame;
}

/** Who sent a frame, as the gate established it from the verified token. */
interface Session {
  appId: string;
  userId: string;
  deviceId: string;
  platform: number;
  connId: string;
  gateId: string;
  traceId: string;
  receivedAt: number;
}

const APP_CACHE_MS = 5_000;
/** How long a send's dedupe lease lasts before a retry may take it over. */
const SEND_LEASE_MS = 10_000;
const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/;
/** Cursors a sync request may carry; more are ignored (one per conversation the client holds). */
const MAX_CURSORS = 10_000;
const slotBytes = (slot: Slot) => ('message' in slot ? wireBytes(slot.message) : 64);
/** Frames refused when they waited too long (logic.maxQueueDelayMs): the ones that create messages. */
const SHEDDABLE = new Set(['send', 'recall']);
const SHED_RETRY_AFTER_MS = 1_000;
/** However many apps wait, each may keep this many requests waiting in a logic process. */
const MIN_QUEUED_PER_APP = 16;
/**
 * After the app rate limit refuses a send, the app's sends claim without drawing a seq for this
 * long (ADR 0014): only the sends already in flight when the limit is reached get through.
 */
const RATE_LIMIT_HOLD_MS = 1_000;

/** The steps of the accept path, in order (imcloud_logic_send_stage_seconds{stage}). */
const SEND_STAGES = ['bus_in', 'claim', 'allocate', 'window', 'store_confirm', 'complete'] as const;
type SendStage = (typeof SEND_STAGES)[number];
type StageObservers = Record<SendStage, { observe(seconds: number): void }>;

interface AppMetrics {
  sends: { inc(n?: number): void };
  ackLatency: { observe(seconds: number): void };
  pushes: { inc(n?: number): void };
}

/** Observes, per stage, the time since the previous mark (where a send's latency goes). */
function stageClock(stages: StageObservers): (stage: SendStage) => void {
  let last = performance.now();
  return (stage) => {
    const t = performance.now();
    stages[stage].observe((t - last) / 1000);
    last = t;
  };
}

export class Logic {
  private readonly reader: MessageReader;
  private readonly pushes: DownstreamBatcher;
  // Keyed by AppIds the gates verified; bounded all the same.
  private readonly apps = new LRUCache<string, { app: App | null; until: number }>({ max: 10_000 });
  /** Reads of message pages running at once (each can hold a page of bodies in memory). */
  private readonly reads: LimitFunction;
  /** Upstream requests, served app by app in turn. */
  private readonly scheduler: FairScheduler<UpstreamRequest>;
  private subscription?: Subscription;
  private ids?: IdGenerator;
  /** Per-stage histogram children, resolved once (no label lookup per send). */
  private readonly stages: StageObservers;
  /** Per-app metric children of the send path, resolved once per app. */
  private readonly appMetrics = new Map<string, AppMetrics>();
  /** Apps whose rate limit refused a send here lately → until when their sends claim without a seq. */
  private readonly rateLimitedApps = new Map<string, number>();

  constructor(
    private readonly config: Config,
    private readonly backends: Backends,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
  ) {
    this.reader = new MessageReader(backends.window, backends.store, config.logic.emptySlotGraceMs, now);
    this.pushes = new DownstreamBatcher(backends.bus, metrics, log);
    this.stages = Object.fromEntries(SEND_STAGES.map((stage) => [stage, metrics.sendStages.labels({ stage })])) as unknown as StageObservers;
    this.reads = pLimit(config.logic.maxConcurrentReads);
    this.scheduler = new FairScheduler<UpstreamRequest>({
      maxInFlight: config.logic.maxInFlight, maxQueued: config.logic.maxQueued, minPerApp: MIN_QUEUED_PER_APP,
      run: (r) => this.process(r),
      refuse: (r) => this.refuseBusy(r),
    });
    const requests = metrics.logicRequests;
    const scheduler = this.scheduler;
    // Read when /metrics is scraped (prom-client's collect), not per request.
    (requests as unknown as { collect?: () => void }).collect = () => {
      requests.set({ state: 'running' }, scheduler.inFlight);
      requests.set({ state: 'waiting' }, scheduler.waiting);
    };
  }

  async start(idGenerator: IdGenerator, tracks: string[] = ['stable']): Promise<void> {
    this.ids = idGenerator;
    const { maxInFlight, maxQueued } = this.config.logic;
    for (const track of tracks) {
      this.subscription = await this.backends.bus.consumeUpstream(track, async (delivery) => {
        if (delivery.deliveryCount > 1) this.metrics.redeliveries.inc({ channel: 'upstream' });
        const request = this.open(delivery.body);
        if (request) await this.scheduler.submit(request.session.appId, request);
      }, { prefetch: maxInFlight + maxQueued });
    }
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
  }

  /** Handles one upstream envelope at once (tests). Client mistakes become Error frames; only backend failures throw (→ redelivery). */
  async handle(body: Uint8Array): Promise<void> {
    const request = this.open(body);
    if (request) await this.process(request);
  }

  /** Decodes an envelope and checks who sent it; null when there is nothing to do. */
  private open(body: Uint8Array): UpstreamRequest | null {
    let up: Upstream;
    try {
      up = imcloud.internal.v1.Upstream.decode(body);
    } catch (err) {
      // Not ours to retry: a broken envelope would fail the same way forever.
      this.log.error({ err: String(err) }, 'dropping undecodable upstream envelope');
      return null;
    }
    const session: Session = {
      appId: up.appId, userId: up.userId, deviceId: up.deviceId, platform: up.platform,
      connId: up.connId, gateId: up.gateId, traceId: up.traceId || randomUUID(), receivedAt: Number(up.receivedAt),
    };
    // A second wall behind the gate's: nothing acts without an authenticated app and user.
    if (!APP_ID.test(session.appId) || !USER_ID.test(session.userId) || !session.connId || !session.gateId) {
      this.metrics.upstreamHandled.inc({ type: Kind[up.kind] ?? 'unknown', result: 'IM_AUTH_REQUIRED' });
      if (session.connId && session.gateId) this.replyError(session, 0, new ImError('IM_AUTH_REQUIRED', 'this connection is not authenticated'));
      return null;
    }
    if (up.kind !== Kind.KIND_FRAME) return { up, session };
    try {
      return { up, session, frame: decodeFrameBody(up.frame) };
    } catch (err) {
      this.replyError(session, 0, toImError(err));
      return null;
    }
  }

  /** Its app had no room left among the requests waiting here: refused at once, before any work. */
  private refuseBusy(r: UpstreamRequest): void {
    const type = r.frame?.body ?? Kind[r.up.kind] ?? 'unknown';
    this.metrics.shed.inc({ type });
    const err = new ImError('IM_UNAVAILABLE', 'overloaded: too many requests of this app are waiting; retry', { retryAfterMs: SHED_RETRY_AFTER_MS });
    this.metrics.errors.inc({ code: err.code, role: 'logic' });
    // A login refused closes its connection: the client reconnects after the hint.
    this.reply(r.session, errorFrame(err, r.frame?.reqId ?? 0), { closeAfter: r.up.kind === Kind.KIND_LOGIN });
  }

  private async process({ up, session, frame }: UpstreamRequest): Promise<void> {
    if (up.kind === Kind.KIND_LOGIN) return this.login(session, up);
    if (up.kind === Kind.KIND_DISCONNECT) return this.backends.routes.remove(session.appId, session.userId, session.connId);
    if (!frame) return;
    const type = frame.body ?? 'none';
    if (SHEDDABLE.has(type) && session.receivedAt > 0) {
      const waited = this.now() - session.receivedAt;
      if (waited > this.config.logic.maxQueueDelayMs) {
        // Overload: refuse before any work (no claim, no seq), so the retry is a clean first attempt.
        this.metrics.shed.inc({ type });
        this.replyError(session, frame.reqId, new ImError('IM_UNAVAILABLE', `overloaded: this request waited ${waited} ms for a logic process; retry`, { retryAfterMs: SHED_RETRY_AFTER_MS }));
        return;
      }
    }
    try {
      await this.app(session.appId);
      await this.dispatch(session, frame);
      this.metrics.upstreamHandled.inc({ type, result: 'ok' });
    } catch (err) {
      const e = toImError(err);
      this.metrics.upstreamHandled.inc({ type, result: e.code });
      if (e.code === 'IM_INTERNAL') this.log.error({ traceId: session.traceId, type, err: (err as Error)?.stack ?? String(err) }, 'frame failed');
      // Backend trouble on a send: answer retryable; the client retries with the same clientMsgId.
      this.replyError(session, frame.reqId, e.code === 'IM_INTERNAL' ? new ImError('IM_UNAVAILABLE', undefined, { retryAfterMs: 500 }) : e);
    }
  }

  private async dispatch(s: Session, frame: Frame): Promise<void> {
    switch (frame.body) {
      case 'send': return this.send(s, frame.reqId, frame.send as imcloud.v1.Send);
      case 'pushAck': return this.pushAck(s, frame.pushAck as imcloud.v1.PushAck);
      case 'sync': return this.sync(s, frame.reqId, frame.sync as imcloud.v1.SyncRequest);
      case 'pull': return this.pull(s, frame.reqId, frame.pull as imcloud.v1.PullRequest);
      case 'history': return this.history(s, frame.reqId, frame.history as imcloud.v1.HistoryRequest);
      case 'read': return this.read(s, frame.reqId, frame.read as imcloud.v1.ReadReceipt);
      case 'recall': return this.recall(s, frame.reqId, frame.recall as imcloud.v1.Recall);
      case 'logout': return this.logout(s, frame.reqId);
      default: throw new ImError('IM_FRAME_UNKNOWN_TYPE', `frame type "${frame.body}" is not accepted from clients`);
    }
  }

  // ── replies ──────────────────────────────────────────────────────────────────────────────

  private reply(s: Session, frame: FrameInit, opts: DeliveryOptions = {}): void {
    this.pushes.add(s.gateId, [s.connId], encodeFrameBody(frame), { traceId: s.traceId, appId: s.appId, ...opts });
  }

  private replyError(s: Session, reqId: number, err: ImError): void {
    this.metrics.errors.inc({ code: err.code, role: 'logic' });
    this.reply(s, errorFrame(err, reqId), { closeAfter: err.fatal });
  }

  /** Sends one frame to every connection in `routes` except `exceptConn`, one delivery per gate. */
  private fanOut(routes: Route[], frame: Uint8Array, exceptConn: string, opts: DeliveryOptions): number {
    const byGate = new Map<string, string[]>();
    for (const r of routes) {
      if (r.connId === exceptConn) continue;
      let conns = byGate.get(r.gateId);
      if (!conns) byGate.set(r.gateId, (conns = []));
      conns.push(r.connId);
    }
    let n = 0;
    for (const [gateId, conns] of byGate) {
      this.pushes.add(gateId, conns, frame, opts);
      n += conns.length;
    }
    return n;
  }

  private async notifyUsers(s: Session, users: string[], frame: FrameInit, opts: DeliveryOptions = {}): Promise<number> {
    return this.pushTo(s, await this.backends.routes.listMany(s.appId, users), frame, opts);
  }

  /** Sends one frame to every route found for a set of users, except the connection that asked. */
  private pushTo(s: Session, routes: Map<string, Route[]>, frame: FrameInit, opts: DeliveryOptions = {}): number {
    return this.fanOut([...routes.values()].flat(), encodeFrameBody(frame), s.connId, { traceId: s.traceId, appId: s.appId, ...opts });
  }

  private async app(appId: string): Promise<App> {
    const cached = this.apps.get(appId);
    if (cached && cached.until > this.now()) {
      if (!cached.app) throw new ImError('IM_APP_NOT_FOUND');
      return cached.app;
    }
    const app = await this.backends.apps.get(appId);
    this.apps.set(appId, { app, until: this.now() + APP_CACHE_MS });
    if (!app) throw new ImError('IM_APP_NOT_FOUND');
    return app;
  }

  // ── login / logout ───────────────────────────────────────────────────────────────────────

  private async login(s: Session, up: Upstream): Promise<void> {
    let app: App;
    try {
      app = await this.app(s.appId);
    } catch (err) {
      this.replyError(s, 0, toImError(err));
      return;
    }
    const mine: Route = { connId: s.connId, gateId: s.gateId, deviceId: s.deviceId, platform: s.platform, since: s.receivedAt };
    const ttl = up.routeTtlMs || this.config.gate.idleTimeoutMs;
    const all = await this.backends.routes.add(s.appId, s.userId, mine, ttl);
    const staying = all.filter((r) => r.connId === s.connId || !displaces(app.multiLogin, mine, r));
    const cap = app.limits?.connectionsPerUser ?? this.config.logic.connectionsPerUser;
    if (staying.length > cap) {
      await this.backends.routes.remove(s.appId, s.userId, s.connId);
      this.replyError(s, 0, new ImError('IM_TOO_MANY_CONNECTIONS', `this user holds ${cap} connections already; close one first`));
      return;
    }
    // Only older logins are displaced; a newer one displaces this one when it is handled.
    for (const r of all) {
      if (r.connId === s.connId || !displaces(app.multiLogin, mine, r)) continue;
      const kick = encodeFrameBody({
        kick: { reason: imcloud.v1.KickReason.KICK_REASON_LOGIN_ELSEWHERE, message: `signed in on another device (${app.multiLogin} policy)`, byDevice: s.deviceId, byPlatform: s.platform },
      });
      this.pushes.add(r.gateId, [r.connId], kick, { closeAfter: true, traceId: s.traceId, appId: s.appId });
      await this.backends.routes.remove(s.appId, s.userId, r.connId);
    }
    this.reply(s, {
      authOk: {
        appId: s.appId, userId: s.userId, connId: s.connId, gateId: s.gateId,
        heartbeatIntervalMs: up.heartbeatIntervalMs || this.config.gate.heartbeatIntervalMs, serverTime: this.now(),
      },
    }, { authOk: true });
  }

  private async logout(s: Session, reqId: number): Promise<void> {
    await this.backends.routes.remove(s.appId, s.userId, s.connId);
    this.reply(s, { reqId, logoutOk: {} }, { closeAfter: true });
  }

  // ── send ─────────────────────────────────────────────────────────────────────────────────

  private async send(s: Session, reqId: number, req: imcloud.v1.Send): Promise<void> {
    if (!CLIENT_MSG_ID.test(req.clientMsgId)) throw new ImError('IM_BAD_REQUEST', 'client_msg_id must be 1–64 printable ASCII characters');
    assertUserId(req.to, 'to');
    if (req.body.length > this.config.logic.maxBodyBytes) {
      throw new ImError('IM_BODY_TOO_LARGE', `body of ${req.body.length} bytes exceeds ${this.config.logic.maxBodyBytes}`);
    }
    if (req.contentType.length > 64) throw new ImError('IM_BAD_REQUEST', 'content_type is longer than 64 characters');
    const conversation = singleConversation(s.userId, req.to);
    await this.accept(s, reqId, req.clientMsgId, [s.userId, req.to], {
      conversation, kind: MessageKind.MESSAGE_KIND_NORMAL, contentType: req.contentType || 'text', body: req.body, recallsSeq: 0,
    });
  }

  /**
   * The accept path shared by messages and recall events: dedupe claim with seq and id (one
   * step, ADR 0014) → recent window and conversation index → durable store queue (confirmed)
   * → ack → push, while the dedupe record is marked done.
   */
  private async accept(
    s: Session,
    reqId: number,
    clientMsgId: string,
    members: string[],
    content: Pick<StoredMessage, 'conversation' | 'kind' | 'contentType' | 'body' | 'recallsSeq'>,
    /** Accept only a retry of an earlier request; a new request fails with this reason. */
    onlyRetry?: string,
  ): Promise<void> {
    const { dedupe } = this.backends;
    if (s.receivedAt > 0) this.stages.bus_in.observe(Math.max(0, this.now() - s.receivedAt) / 1000);
    const stage = stageClock(this.stages);
    const message: StoredMessage = {
      ...content, seq: 0, msgId: this.ids!.next(), ts: this.now(), sender: s.userId, senderDevice: s.deviceId, clientMsgId, recalled: false,
    };
    // A new send takes its seq with the claim and records this draft with it (ADR 0014), except
    // when it must not take one: only a retry is acceptable, or the app's rate limit refused a
    // send lately (a drawn seq cannot be handed back, so a refused send would leave a gap).
    const draw = onlyRetry !== undefined || (this.rateLimitedApps.get(s.appId) ?? 0) > message.ts
      ? undefined
      : { conversation: content.conversation, draft: encodeStoreRecord({ appId: s.appId, message, members, traceId: s.traceId }), ttlMs: this.config.logic.dedupeTtlMs };
    // The rate limit and the dedupe claim are independent: asked together they share one write to Redis.
    const [limit, claim] = await Promise.all([
      this.backends.rateLimiter.take(`app:${s.appId}`, this.config.logic.appRateLimitPerSec, this.config.logic.appRateLimitPerSec),
      dedupe.claim(s.appId, s.userId, clientMsgId, SEND_LEASE_MS, draw),
    ]);
    stage('claim');
    const drawnSeq = claim.state === 'new' ? claim.seq : undefined;
    if (!limit.allowed) this.rateLimitedApps.set(s.appId, this.now() + RATE_LIMIT_HOLD_MS);
    else if (this.rateLimitedApps.size > 0 && (this.rateLimitedApps.get(s.appId) ?? Infinity) <= this.now()) this.rateLimitedApps.delete(s.appId);
    // A send that drew its seq goes through even when refused; the sends after it do not draw.
    if (!limit.allowed && claim.state !== 'done' && drawnSeq === undefined) {
      // Give the lease back (an allocated send stays resumable) so that the retry is not 'busy'.
      if (claim.state !== 'busy') await dedupe.release(s.appId, s.userId, clientMsgId);
      throw new ImError('IM_APP_RATE_LIMITED', undefined, { retryAfterMs: limit.retryAfterMs });
    }

    if (claim.state === 'done') {
      this.metrics.sendRetries.inc({ app_id: s.appId, outcome: 'acked-before' });
      this.reply(s, { reqId, sendAck: { ...claim.ack, duplicate: true } });
      return;
    }
    if (claim.state === 'busy') {
      this.metrics.sendRetries.inc({ app_id: s.appId, outcome: 'busy' });
      throw new ImError('IM_UNAVAILABLE', 'this message is being processed; retry shortly', { retryAfterMs: 500 });
    }

    if (onlyRetry && claim.state === 'new') {
      await dedupe.release(s.appId, s.userId, clientMsgId);
      throw new ImError('IM_BAD_REQUEST', onlyRetry);
    }
    let accepted: StoredMessage;
    let record: Uint8Array;
    if (claim.state === 'allocated') {
      // The first attempt chose seq and id and then died: finish it with the same ones.
      this.metrics.sendRetries.inc({ app_id: s.appId, outcome: 'resumed' });
      // A draft's seq was recorded beside it.
      record = claim.seq === undefined ? claim.message : withSeq(claim.message, claim.seq);
      accepted = decodeStoreRecord(record).message;
    } else if (drawnSeq !== undefined) {
      accepted = message;
      accepted.seq = drawnSeq;
      record = withSeq(draw!.draft, drawnSeq);
      stage('allocate');
    } else {
      // No seq with the claim (the conversation's block is used up, or none was asked for).
      ({ accepted, record } = await this.releasingOnFailure(s, clientMsgId, () => this.allocateNewSeq(s, clientMsgId, members, message)));
      stage('allocate');
    }

    if (this.now() - accepted.ts > this.config.logic.emptySlotGraceMs / 2) {
      // Resumed (or stalled) this long after its seq was taken: readers may already have called
      // that seq an empty slot (ADR 0004), so unless the message is visible under it, the seq
      // stays empty and the message takes a new one.
      const visible = await this.releasingOnFailure(s, clientMsgId, () => this.reader.get(s.appId, accepted.conversation, accepted.seq));
      if (!visible) {
        this.metrics.sendRetries.inc({ app_id: s.appId, outcome: 'reallocated' });
        const oldSeq = accepted.seq;
        ({ accepted, record } = await this.releasingOnFailure(s, clientMsgId, () => this.allocateNewSeq(s, clientMsgId, members, accepted)));
        this.log.warn({ traceId: s.traceId, conversation: accepted.conversation, oldSeq, seq: accepted.seq }, 'send resumed late: its old seq stays an empty slot, the message takes a new one');
      }
    }

    const ack: SendAckRecord = { clientMsgId, conversation: accepted.conversation, seq: accepted.seq, msgId: accepted.msgId, ts: accepted.ts };
    // Not acked if this fails: a retry resumes this very message (same seq and id).
    const routes = await this.releasingOnFailure(s, clientMsgId, async () => {
      await Promise.all([
        this.backends.window.append(s.appId, accepted, { size: this.config.logic.recentWindow, retentionMs: this.config.logic.recentRetentionMs }),
        // The sender has read what it sent, so its own messages never count as unread.
        this.backends.conversations.touch(s.appId, accepted.conversation, members, accepted.seq, accepted.ts, s.userId),
      ]);
      stage('window');
      // Routes are read after the window append (a device that logs in later finds the message
      // when it syncs) and while the store confirm is awaited, which takes longer.
      const [found] = await Promise.all([this.backends.routes.listMany(s.appId, members), this.backends.bus.publishStore(record)]);
      stage('store_confirm');
      return found;
    });
    // The ack does not wait for the record to say 'done' (ADR 0014). Until it does, a retry finds
    // the send allocated and resumes it: same seq and id, the same ack; the store and the
    // devices drop the repeated copy (unique seq).
    dedupe.complete(s.appId, s.userId, clientMsgId, ack, this.config.logic.dedupeTtlMs).then(
      () => stage('complete'),
      (err: unknown) => this.log.warn({ traceId: s.traceId, err: String(err) }, 'dedupe record not marked done; a retry of this send will resume it'),
    );
    this.reply(s, { reqId, sendAck: { ...ack, duplicate: claim.state === 'allocated' } });
    const perApp = this.metricsOf(s.appId);
    perApp.sends.inc();
    if (s.receivedAt > 0) perApp.ackLatency.observe((this.now() - s.receivedAt) / 1000);
    perApp.pushes.inc(this.pushTo(s, routes, { push: { messages: [toWireMessage(accepted)] } }, { sentAt: accepted.ts }));
  }

  /**
   * Runs a step of a send whose dedupe lease this logic holds. If it fails, the lease goes back
   * at once, so the client's retry need not wait for it (an allocated send stays resumable).
   */
  private async releasingOnFailure<T>(s: Session, clientMsgId: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      await this.backends.dedupe.release(s.appId, s.userId, clientMsgId).catch(() => undefined);
      throw err;
    }
  }

  /** Gives `message` the conversation's next seq (SeqAllocator.next) and records the send as allocated with it. */
  private async allocateNewSeq(s: Session, clientMsgId: string, members: string[], message: StoredMessage): Promise<{ accepted: StoredMessage; record: Uint8Array }> {
    const accepted = { ...message, seq: await this.backends.seq.next(s.appId, message.conversation), ts: this.now() };
    const record = encodeStoreRecord({ appId: s.appId, message: accepted, members, traceId: s.traceId });
    await this.backends.dedupe.allocate(s.appId, s.userId, clientMsgId, record, this.config.logic.dedupeTtlMs);
    return { accepted, record };
  }

  private metricsOf(appId: string): AppMetrics {
    let m = this.appMetrics.get(appId);
    if (!m) {
      const labels = { app_id: appId };
      m = { sends: this.metrics.sends.labels(labels), ackLatency: this.metrics.ackLatency.labels(labels), pushes: this.metrics.pushes.labels(labels) };
      this.appMetrics.set(appId, m);
    }
    return m;
  }

  // ── acks, sync, pull, history ────────────────────────────────────────────────────────────

  private async pushAck(s: Session, req: imcloud.v1.PushAck): Promise<void> {
    for (const c of req.cursors.slice(0, 100)) await this.delivered(s, c.conversation ?? "", Number(c.seq));
  }

  /** Advances the delivered cursor and tells the peer (its every device) how far it reached. */
  private async delivered(s: Session, conversation: string, seq: number): Promise<void> {
    membersFor(conversation, s.userId);
    const { value, moved } = await this.backends.conversations.advance(s.appId, s.userId, conversation, 'delivered', seq);
    if (!moved) return;
    const peer = peerOf(conversation, s.userId);
    if (peer === s.userId) return;
    await this.notifyUsers(s, [peer], { deliveryNotice: { conversation, user: s.userId, seq: value } });
  }

  /**
   * Runs a page read (sync, pull, history) in its turn among this process's reads, and only if
   * the connection that asked is still there: a reader closed for being slow, or gone, costs
   * nothing more.
   */
  private page(s: Session, read: () => Promise<FrameInit>): Promise<void> {
    return this.reads(async () => {
      const routes = await this.backends.routes.list(s.appId, s.userId);
      if (!routes.some((r) => r.connId === s.connId)) {
        this.metrics.readsSkipped.inc();
        return;
      }
      this.reply(s, await read());
    });
  }

  private async sync(s: Session, reqId: number, req: imcloud.v1.SyncRequest): Promise<void> {
    const cursors = new Map<string, number>();
    for (const c of req.cursors.slice(0, MAX_CURSORS)) cursors.set(c.conversation ?? '', Number(c.seq));
    const entries = await this.backends.conversations.list(s.appId, s.userId);
    // Asking for the next page acknowledges what the previous one delivered.
    for (const e of entries) {
      const held = cursors.get(e.conversation);
      if (held !== undefined && held > e.deliveredSeq) await this.delivered(s, e.conversation, held);
    }
    await this.page(s, async () => ({ reqId, syncPage: await this.syncPage(s, entries, cursors, Math.min(req.pageSize || 200, this.config.logic.syncPageMax)) }));
  }

  private async syncPage(s: Session, entries: ConversationEntry[], cursors: Map<string, number>, pageSize: number): Promise<imcloud.v1.SyncPage.$Properties> {
    let budget = pageSize;
    let bytes = this.config.logic.maxReplyBytes;
    const summaries: imcloud.v1.ConversationSummary.$Properties[] = [];
    const messages: imcloud.v1.Message.$Properties[] = [];
    let hasMore = false;
    let retryAfterMs = 0;
    entries.sort((a, b) => b.lastTs - a.lastTs);
    for (const e of entries) {
      const peer = peerOf(e.conversation, s.userId);
      const peerEntry = peer === s.userId ? null : await this.backends.conversations.get(s.appId, peer, e.conversation);
      const known = cursors.get(e.conversation);
      const from = known !== undefined ? known + 1 : Math.max(1, e.maxSeq - this.config.logic.newDeviceSyncDepth + 1);
      summaries.push({
        conversation: e.conversation, maxSeq: e.maxSeq, readSeq: e.readSeq, unread: Math.max(0, e.maxSeq - e.readSeq),
        peerReadSeq: peerEntry?.readSeq ?? 0, peerDeliveredSeq: peerEntry?.deliveredSeq ?? 0, lastTs: e.lastTs, peer, minSeq: known !== undefined ? 0 : from,
      });
      if (from > e.maxSeq) continue;
      if (budget === 0 || bytes <= 0) {
        hasMore = true;
        continue;
      }
      const to = Math.min(e.maxSeq, from + budget - 1);
      const range = await this.reader.range(s.appId, e.conversation, from, to);
      const slots = withinBytes(range.slots, bytes, slotBytes);
      for (const slot of slots) messages.push('message' in slot ? toWireMessage(slot.message) : emptySlot(e.conversation, slot.seq));
      budget -= slots.length;
      bytes -= slots.reduce((n, slot) => n + slotBytes(slot), 0);
      if (slots.length < range.slots.length) hasMore = true;
      else if (range.retryAfterMs > 0) retryAfterMs = Math.max(retryAfterMs, range.retryAfterMs);
      else if (to < e.maxSeq) hasMore = true;
    }
    return { conversations: summaries, messages, hasMore, retryAfterMs };
  }

  private async pull(s: Session, reqId: number, req: imcloud.v1.PullRequest): Promise<void> {
    membersFor(req.conversation, s.userId);
    await this.page(s, async () => {
      const maxSeq = await this.backends.conversations.maxSeq(s.appId, req.conversation);
      const from = Math.max(1, Number(req.fromSeq));
      const to = Math.min(Number(req.toSeq) || maxSeq, maxSeq, from + this.config.logic.historyPageMax - 1);
      const range = await this.reader.range(s.appId, req.conversation, from, to);
      // A reply cut short by size leaves the rest of the gap; the client pulls it next.
      const slots = withinBytes(range.slots, this.config.logic.maxReplyBytes, slotBytes);
      const messages = slots.map((slot) => ('message' in slot ? toWireMessage(slot.message) : emptySlot(req.conversation, slot.seq)));
      return { reqId, pullResult: { conversation: req.conversation, messages, retryAfterMs: range.retryAfterMs } };
    });
  }

  private async history(s: Session, reqId: number, req: imcloud.v1.HistoryRequest): Promise<void> {
    membersFor(req.conversation, s.userId);
    await this.page(s, async () => {
      const maxSeq = await this.backends.conversations.maxSeq(s.appId, req.conversation);
      const result = await this.reader.history(s.appId, req.conversation, {
        fromSeq: Math.max(1, Number(req.fromSeq)),
        toSeq: Math.min(Number(req.toSeq) || maxSeq, maxSeq),
        fromTs: Number(req.fromTs) || undefined,
        toTs: Number(req.toTs) || undefined,
        limit: Math.min(req.limit || 50, this.config.logic.historyPageMax),
        newestFirst: req.newestFirst,
      });
      // Paging backwards keeps the newest messages of the page; forwards, the oldest.
      const kept = withinBytes(result.messages, this.config.logic.maxReplyBytes, wireBytes, req.newestFirst);
      const hasMore = result.hasMore || kept.length < result.messages.length;
      return { reqId, historyResult: { conversation: req.conversation, messages: kept.map(toWireMessage), hasMore } };
    });
  }

  // ── read receipts and recall ─────────────────────────────────────────────────────────────

  private async read(s: Session, reqId: number, req: imcloud.v1.ReadReceipt): Promise<void> {
    membersFor(req.conversation, s.userId);
    const { conversations } = this.backends;
    const { value, moved } = await conversations.advance(s.appId, s.userId, req.conversation, 'read', Number(req.seq));
    const maxSeq = await conversations.maxSeq(s.appId, req.conversation);
    this.reply(s, { reqId, readAck: { conversation: req.conversation, readSeq: value, unread: Math.max(0, maxSeq - value) } });
    if (moved) {
      // The peer sees the read state; the reader's other devices clear their unread count.
      const users = [...new Set([peerOf(req.conversation, s.userId), s.userId])];
      await this.notifyUsers(s, users, { readNotice: { conversation: req.conversation, user: s.userId, seq: value } });
    }
  }

  private async recall(s: Session, reqId: number, req: imcloud.v1.Recall): Promise<void> {
    if (!CLIENT_MSG_ID.test(req.clientMsgId)) throw new ImError('IM_BAD_REQUEST', 'client_msg_id must be 1–64 printable ASCII characters');
    const members = membersFor(req.conversation, s.userId);
    const target = await this.reader.get(s.appId, req.conversation, Number(req.seq));
    if (!target) throw new ImError('IM_NOT_FOUND', `no message ${req.seq} in this conversation`);
    if (target.kind !== MessageKind.MESSAGE_KIND_NORMAL) throw new ImError('IM_BAD_REQUEST', 'only normal messages can be recalled');
    if (target.sender !== s.userId) throw new ImError('IM_RECALL_NOT_SENDER');
    const age = this.now() - target.ts;
    // Once recalled, only a retry of that recall (answered by dedupe) is accepted, even after
    // the window has passed.
    if (!target.recalled && age > this.config.logic.recallWindowMs) {
      throw new ImError('IM_RECALL_WINDOW_EXPIRED', `the message is ${Math.round(age / 1000)} s old; the recall window is ${Math.round(this.config.logic.recallWindowMs / 1000)} s`);
    }
    await this.accept(s, reqId, req.clientMsgId, members, {
      conversation: req.conversation, kind: MessageKind.MESSAGE_KIND_RECALL, contentType: 'recall', body: new Uint8Array(0), recallsSeq: target.seq,
    }, target.recalled ? 'the message is already recalled' : undefined);
    await this.backends.window.markRecalled(s.appId, req.conversation, target.seq);
  }
}

/** Whether a new login `mine` displaces the existing route `other` under the app's policy. */
export function displaces(policy: MultiLoginPolicy, mine: Route, other: Route): boolean {
  const older = other.since < mine.since || (other.since === mine.since && other.connId < mine.connId);
  if (!older) return false;
  switch (policy) {
    case 'single': return true;
    case 'per-platform': return other.platform === mine.platform || other.deviceId === mine.deviceId;
    case 'all': return other.deviceId === mine.deviceId;
  }
}
