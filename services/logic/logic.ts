// The logic role: consumes the client frames gates forward, and hands each to the part that
// answers it (architecture.md §2–3): logins, sends and recalls, cursors (push acks, read
// receipts), pages (sync, pull, history). Stateless: every piece of state lives behind a port,
// so any instance can handle any frame. This file keeps what every frame goes through: the
// envelope and who sent it (ADR 0022), fair service among apps (ADR 0024), shedding what waited
// too long (ADR 0012), and the frame dispatch.

import { ImError, toImError } from '../../protocol/errors.js';
import { decodeFrameBody, type Frame } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Backends } from '../ports/backends.js';
import type { Subscription } from '../ports/bus.js';
import { AppDirectory } from '../shared/app-directory.js';
import type { IdGenerator } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { LogicConfig } from '../shared/role-config.js';
import { type Caller, callerOf, isAuthenticated } from './caller.js';
import { ConversationAccess } from './conversation-access.js';
import { Cursors } from './cursors.js';
import { DownstreamBatcher } from './downstream-batcher.js';
import { FairScheduler } from './fair-scheduler.js';
import { GroupChanges } from './group-changes.js';
import { type AppPolicy, appOf, type LogicContext } from './logic-context.js';
import { Logins } from './logins.js';
import { MessageReader } from './message-reader.js';
import { Pages } from './pages.js';
import { Replies } from './replies.js';
import { SendAcceptor } from './send-acceptor.js';
import { Sends } from './sends.js';

type Upstream = imcloud.internal.v1.Upstream;
const Kind = imcloud.internal.v1.Upstream.Kind;

/** An upstream envelope, decoded: who sent it, and its frame (none for a login or disconnect). */
interface UpstreamRequest {
  up: Upstream;
  caller: Caller;
  frame?: Frame;
}

const APP_CACHE_MS = 5_000;
// Keyed by AppIds the gates verified; bounded all the same.
const APP_CACHE_ENTRIES = 10_000;
/** Frames refused when they waited too long (logic.maxQueueDelayMs): the ones that create messages. */
const SHEDDABLE = new Set(['send', 'recall', 'groupCreate', 'groupChange']);
const SHED_RETRY_AFTER_MS = 1_000;
/** A frame that failed on a backend is answered retryable after this. */
const BACKEND_RETRY_AFTER_MS = 500;
/** However many apps wait, each may keep this many requests waiting in a logic process. */
const MIN_QUEUED_PER_APP = 16;

export class Logic {
  private readonly cx: LogicContext;
  private readonly logins: Logins;
  private readonly sends: Sends;
  private readonly cursors: Cursors;
  private readonly pages: Pages;
  private readonly groups: GroupChanges;
  /** Upstream requests, served app by app in turn. */
  private readonly scheduler: FairScheduler<UpstreamRequest>;
  private subscription?: Subscription;

  constructor(
    private readonly config: LogicConfig,
    private readonly backends: Backends,
    ids: IdGenerator,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    now: () => number = Date.now,
  ) {
    const replies = new Replies(new DownstreamBatcher(backends.bus, metrics, log), backends.routes, metrics);
    const apps = new AppDirectory<AppPolicy>(
      backends.apps,
      { maxEntries: APP_CACHE_ENTRIES, ttlMs: APP_CACHE_MS },
      ({ multiLogin, limits, webhook }) => ({ multiLogin, limits, ...(webhook && { webhook }) }),
    );
    this.cx = { config, backends, replies, apps, metrics, log, now };
    const reader = new MessageReader(backends.window, backends.store, config.logic.emptySlotGraceMs, now);
    const access = new ConversationAccess(this.cx);
    const acceptor = new SendAcceptor(this.cx, reader, ids);
    this.logins = new Logins(this.cx);
    this.sends = new Sends(this.cx, reader, acceptor, access);
    this.cursors = new Cursors(this.cx, access);
    this.pages = new Pages(this.cx, reader, this.cursors, access);
    this.groups = new GroupChanges(this.cx, access, acceptor);
    this.scheduler = new FairScheduler<UpstreamRequest>({
      maxInFlight: config.logic.maxInFlight,
      maxQueued: config.logic.maxQueued,
      minPerApp: MIN_QUEUED_PER_APP,
      run: (r) => this.serve(r),
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

  /** Consumes the upstream queue of this process's track. */
  async start(): Promise<void> {
    const { maxInFlight, maxQueued } = this.config.logic;
    this.subscription = await this.backends.bus.consumeUpstream(
      this.config.node.track,
      async (delivery) => {
        if (delivery.deliveryCount > 1) this.metrics.redeliveries.inc({ channel: 'upstream' });
        const request = this.open(delivery.body);
        if (request) await this.scheduler.submit(request.caller.appId, request);
      },
      { prefetch: maxInFlight + maxQueued },
    );
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
  }

  /** Handles one upstream envelope at once (tests). Client mistakes become Error frames; only backend failures throw (→ redelivery). */
  async handle(body: Uint8Array): Promise<void> {
    const request = this.open(body);
    if (request) await this.serve(request);
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
    const caller = callerOf(up);
    // A second wall behind the gate's: nothing acts without an authenticated app and user.
    if (!isAuthenticated(caller)) {
      this.metrics.upstreamHandled.inc({ type: Kind[up.kind] ?? 'unknown', result: 'IM_AUTH_REQUIRED' });
      if (caller.connId && caller.gateId)
        this.cx.replies.error(caller, 0, new ImError('IM_AUTH_REQUIRED', 'this connection is not authenticated'));
      return null;
    }
    if (up.kind !== Kind.KIND_FRAME) return { up, caller };
    try {
      return { up, caller, frame: decodeFrameBody(up.frame) };
    } catch (err) {
      this.cx.replies.error(caller, 0, toImError(err));
      return null;
    }
  }

  /** Its app had no room left among the requests waiting here: refused at once, before any work. */
  private refuseBusy(r: UpstreamRequest): void {
    this.metrics.shed.inc({ type: r.frame?.body ?? Kind[r.up.kind] ?? 'unknown' });
    const err = new ImError('IM_UNAVAILABLE', 'overloaded: too many requests of this app are waiting; retry', {
      retryAfterMs: SHED_RETRY_AFTER_MS,
    });
    // A login refused closes its connection: the client reconnects after the hint.
    this.cx.replies.error(r.caller, r.frame?.reqId ?? 0, err, { closeAfter: r.up.kind === Kind.KIND_LOGIN });
  }

  private async serve({ up, caller, frame }: UpstreamRequest): Promise<void> {
    if (up.kind === Kind.KIND_LOGIN) return this.logins.login(caller, up);
    if (up.kind === Kind.KIND_DISCONNECT) return this.backends.routes.remove(caller.appId, caller.userId, caller.connId);
    if (!frame) return;
    const type = frame.body ?? 'none';
    if (SHEDDABLE.has(type) && this.shed(caller, frame, type)) return;
    try {
      await appOf(this.cx, caller.appId);
      await this.handleFrame(caller, frame);
      this.metrics.upstreamHandled.inc({ type, result: 'ok' });
    } catch (err) {
      const e = toImError(err);
      this.metrics.upstreamHandled.inc({ type, result: e.code });
      if (e.code === 'IM_INTERNAL')
        this.log.error({ traceId: caller.traceId, type, err: (err as Error)?.stack ?? String(err) }, 'frame failed');
      // Backend trouble on a send: answer retryable; the client retries with the same clientMsgId.
      const answer = e.code === 'IM_INTERNAL' ? new ImError('IM_UNAVAILABLE', undefined, { retryAfterMs: BACKEND_RETRY_AFTER_MS }) : e;
      if (type === 'send') this.metrics.sendErrors.inc({ app_id: caller.appId, code: answer.code });
      this.cx.replies.error(caller, frame.reqId, answer);
    }
  }

  /**
   * Overload: a frame that creates a message and waited too long is refused before any work (no
   * claim, no seq), so the client's retry is a clean first attempt (ADR 0012).
   */
  private shed(caller: Caller, frame: Frame, type: string): boolean {
    if (caller.receivedAt <= 0) return false;
    const waited = this.cx.now() - caller.receivedAt;
    if (waited <= this.config.logic.maxQueueDelayMs) return false;
    this.metrics.shed.inc({ type });
    if (type === 'send') this.metrics.sendErrors.inc({ app_id: caller.appId, code: 'IM_UNAVAILABLE' });
    this.cx.replies.error(
      caller,
      frame.reqId,
      new ImError('IM_UNAVAILABLE', `overloaded: this request waited ${waited} ms for a logic process; retry`, {
        retryAfterMs: SHED_RETRY_AFTER_MS,
      }),
    );
    return true;
  }

  /** Hands a client frame to the part of logic that answers it. */
  private async handleFrame(c: Caller, frame: Frame): Promise<void> {
    switch (frame.body) {
      case 'send':
        return this.sends.send(c, frame.reqId, frame.send as imcloud.v1.Send);
      case 'recall':
        return this.sends.recall(c, frame.reqId, frame.recall as imcloud.v1.Recall);
      case 'pushAck':
        return this.cursors.pushAck(c, frame.pushAck as imcloud.v1.PushAck);
      case 'read':
        return this.cursors.read(c, frame.reqId, frame.read as imcloud.v1.ReadReceipt);
      case 'readers':
        return this.cursors.readers(c, frame.reqId, frame.readers as imcloud.v1.ReadersRequest);
      case 'sync':
        return this.pages.sync(c, frame.reqId, frame.sync as imcloud.v1.SyncRequest);
      case 'pull':
        return this.pages.pull(c, frame.reqId, frame.pull as imcloud.v1.PullRequest);
      case 'history':
        return this.pages.history(c, frame.reqId, frame.history as imcloud.v1.HistoryRequest);
      case 'groupCreate':
        return this.groups.create(c, frame.reqId, frame.groupCreate as imcloud.v1.GroupCreate);
      case 'groupChange':
        return this.groups.change(c, frame.reqId, frame.groupChange as imcloud.v1.GroupChange);
      case 'groupMembers':
        return this.groups.members(c, frame.reqId, frame.groupMembers as imcloud.v1.GroupMembersRequest);
      case 'logout':
        return this.logins.logout(c, frame.reqId);
      default:
        throw new ImError('IM_FRAME_UNKNOWN_TYPE', `frame type "${frame.body}" is not accepted from clients`);
    }
  }
}
