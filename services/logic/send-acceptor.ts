// The accept path shared by messages and recall events (architecture.md §2, steps 3–6): the
// dedupe claim, which draws the seq in the same step (ADR 0003, 0014), asked together with the
// app's rate limit; then one function per claim outcome; a seq taken too long ago given up for a
// new one (ADR 0004); the recent window and the conversation index; the durable store queue
// (confirmed); then the ack and the push, while the dedupe record is marked done.

import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { DedupeClaim, SendAckRecord, SeqDraw } from '../ports/dedupe.js';
import type { Route } from '../ports/routes.js';
import type { StoredMessage } from '../ports/stored-message.js';
import type { IdGenerator } from '../shared/ids.js';
import { initializeAppSeries } from '../shared/metrics.js';
import { AppEvents } from './app-events.js';
import { BeforeSend } from './before-send.js';
import type { Caller } from './caller.js';
import type { LogicContext } from './logic-context.js';
import { decodeStoreRecord, encodeStoreRecord, toWireMessage, withSeq } from './message-codec.js';
import type { MessageReader } from './message-reader.js';
import { RateLimitHold } from './rate-limit-hold.js';
import { type SendStage, type StageObservers, stageClock, stageObservers } from './send-stages.js';

const MessageKind = imcloud.v1.MessageKind;
/** How long a send's dedupe lease lasts before a retry may take it over. */
const SEND_LEASE_MS = 10_000;
/** A retry of a send that another logic process works on right now comes back after this. */
const BUSY_RETRY_AFTER_MS = 500;

/** What a Send or Recall frame asks to store, before it is a message. */
export type MessageContent = Pick<StoredMessage, 'conversation' | 'kind' | 'contentType' | 'body' | 'recallsSeq' | 'mentions'>;

/** The ack a send got: a retry of one acked before says duplicate. */
export type Ack = SendAckRecord & { duplicate: boolean };

export interface AcceptOptions {
  /** Set when only a retry of an earlier request is acceptable: why a new one is refused (IM_BAD_REQUEST), or the error to refuse it with. */
  onlyRetry?: string | ImError;
  /**
   * Pushes the stored message to its audience; how many connections it went to. Default: every
   * route of `members` (single chat). A group pages through its members (group-fan-out.ts).
   */
  fanOut?: (message: StoredMessage) => Promise<number>;
  /** The caller answers the sender itself, with the ack accept() returns (a group change: after its records are written). */
  callerAnswers?: boolean;
}

/** One send on its way through the accept path. */
interface SendAttempt {
  caller: Caller;
  reqId: number;
  clientMsgId: string;
  /** Their conversation index is touched, and, unless fanOut says otherwise, they get the push. */
  members: string[];
  onlyRetry: string | ImError | undefined;
  fanOut: AcceptOptions['fanOut'];
  callerAnswers: boolean;
  stage: (stage: SendStage) => void;
}

/** The message with its seq, and the store record that carries it. */
interface Allocation {
  message: StoredMessage;
  record: Uint8Array;
}

interface AppMetrics {
  sends: { inc(n?: number): void };
  ackLatency: { observe(seconds: number): void };
  pushes: { inc(n?: number): void };
}

export class SendAcceptor {
  private readonly stages: StageObservers;
  /** Per-app metric children of the send path, resolved once per app. */
  private readonly appMetrics = new Map<string, AppMetrics>();
  private readonly rateLimitHold = new RateLimitHold();
  /** The app's webhook: asked before a new message is accepted, told once it is (ADR 0037). */
  private readonly beforeSend: BeforeSend;
  private readonly events: AppEvents;

  constructor(
    private readonly cx: LogicContext,
    private readonly reader: MessageReader,
    private readonly ids: IdGenerator,
  ) {
    this.stages = stageObservers(cx.metrics);
    this.beforeSend = new BeforeSend(cx);
    this.events = new AppEvents(cx);
  }

  /** Accepts one message (or answers a retry of one); the ack the sender got. */
  async accept(
    caller: Caller,
    reqId: number,
    clientMsgId: string,
    members: string[],
    content: MessageContent,
    opts: AcceptOptions = {},
  ): Promise<Ack> {
    if (caller.receivedAt > 0) this.stages.bus_in.observe(Math.max(0, this.cx.now() - caller.receivedAt) / 1000);
    const { onlyRetry, fanOut, callerAnswers = false } = opts;
    // The app's backend (the admin API) is not asked about its own messages (ADR 0037).
    const asks = content.kind === MessageKind.MESSAGE_KIND_NORMAL && !onlyRetry && !caller.admin && (await this.beforeSend.enabled(caller));
    const attempt: SendAttempt = { caller, reqId, clientMsgId, members, onlyRetry, fanOut, callerAnswers, stage: stageClock(this.stages) };
    let message = this.newMessage(attempt, content);
    // A message the app is asked about draws its seq only once allowed: a refusal leaves no gap.
    const draw = asks ? undefined : this.seqDraw(attempt, message);
    const claim = await this.claim(attempt, draw);
    let allocation: Allocation;
    switch (claim.state) {
      case 'done':
        return this.answerAckedBefore(attempt, claim.ack);
      case 'busy':
        return this.refuseBusy(attempt);
      case 'allocated':
        allocation = this.resume(attempt, claim);
        break;
      case 'new':
        if (attempt.onlyRetry) return this.refuseNew(attempt);
        // Only a new message is asked about: a retry of one accepted before is answered as before.
        if (asks) message = await this.askBeforeSend(attempt, message);
        allocation =
          claim.seq !== undefined ? this.takeDrawnSeq(attempt, message, draw!, claim.seq) : await this.allocateNew(attempt, message);
        break;
    }
    allocation = await this.reallocateIfLate(attempt, allocation);
    const routes = await this.store(attempt, allocation);
    return this.answer(attempt, allocation, routes, claim.state === 'allocated');
  }

  private newMessage(a: SendAttempt, content: MessageContent): StoredMessage {
    return {
      ...content,
      seq: 0,
      msgId: this.ids.next(),
      ts: this.cx.now(),
      sender: a.caller.userId,
      senderDevice: a.caller.deviceId,
      clientMsgId: a.clientMsgId,
      recalled: false,
    };
  }

  /**
   * A new send takes its seq with the claim and records this draft with it (ADR 0014), except
   * when it must not take one: only a retry is acceptable, or the app's rate limit refused a
   * send lately (a drawn seq cannot be handed back, so a refused send would leave a gap).
   */
  private seqDraw(a: SendAttempt, message: StoredMessage): SeqDraw | undefined {
    if (a.onlyRetry !== undefined || !this.rateLimitHold.mayDraw(a.caller.appId, message.ts)) return undefined;
    const draft = encodeStoreRecord({ appId: a.caller.appId, message, members: a.members, traceId: a.caller.traceId });
    return { conversation: message.conversation, draft, ttlMs: this.cx.config.logic.dedupeTtlMs };
  }

  /** The dedupe claim and the app's rate limit; a refused send that drew no seq goes no further. */
  private async claim(a: SendAttempt, draw: SeqDraw | undefined): Promise<DedupeClaim> {
    const { caller: c } = a;
    const { backends, config } = this.cx;
    // Independent of each other: asked together they share one write to Redis.
    const [limit, claim] = await Promise.all([
      backends.rateLimiter.take(`app:${c.appId}`, config.logic.appRateLimitPerSec, config.logic.appRateLimitPerSec),
      backends.dedupe.claim(c.appId, c.userId, a.clientMsgId, SEND_LEASE_MS, draw),
    ]);
    a.stage('claim');
    this.rateLimitHold.note(c.appId, limit.allowed, this.cx.now());
    const drewSeq = claim.state === 'new' && claim.seq !== undefined;
    // A send that drew its seq goes through even when refused; the sends after it do not draw.
    if (!limit.allowed && claim.state !== 'done' && !drewSeq) {
      // Give the lease back (an allocated send stays resumable) so that the retry is not 'busy'.
      if (claim.state !== 'busy') await backends.dedupe.release(c.appId, c.userId, a.clientMsgId);
      throw new ImError('IM_APP_RATE_LIMITED', undefined, { retryAfterMs: limit.retryAfterMs });
    }
    return claim;
  }

  /** The message as the app's before-send webhook lets it through; a refusal gives the claim back. */
  private async askBeforeSend(a: SendAttempt, message: StoredMessage): Promise<StoredMessage> {
    try {
      const { contentType, body } = await this.beforeSend.check(a.caller, message);
      return { ...message, contentType, body };
    } catch (err) {
      await this.cx.backends.dedupe.release(a.caller.appId, a.caller.userId, a.clientMsgId);
      throw err;
    }
  }

  // ── one function per claim outcome ─────────────────────────────────────────────────────

  /** 'done': acked before; the same ack again, nothing stored or pushed. */
  private answerAckedBefore(a: SendAttempt, ack: SendAckRecord): Ack {
    this.cx.metrics.sendRetries.inc({ app_id: a.caller.appId, outcome: 'acked-before' });
    const duplicate = { ...ack, duplicate: true };
    if (!a.callerAnswers) this.cx.replies.reply(a.caller, { reqId: a.reqId, sendAck: duplicate });
    return duplicate;
  }

  /** 'busy': another logic process holds the lease; the client retries with the same clientMsgId. */
  private refuseBusy(a: SendAttempt): never {
    this.cx.metrics.sendRetries.inc({ app_id: a.caller.appId, outcome: 'busy' });
    throw new ImError('IM_UNAVAILABLE', 'this message is being processed; retry shortly', { retryAfterMs: BUSY_RETRY_AFTER_MS });
  }

  /** 'allocated': an earlier attempt chose seq and id and then failed or died; finish it with the same ones. */
  private resume(a: SendAttempt, claim: Extract<DedupeClaim, { state: 'allocated' }>): Allocation {
    this.cx.metrics.sendRetries.inc({ app_id: a.caller.appId, outcome: 'resumed' });
    // A draft's seq was recorded beside it.
    const record = claim.seq === undefined ? claim.message : withSeq(claim.message, claim.seq);
    return { message: decodeStoreRecord(record).message, record };
  }

  /** 'new' where only a retry is acceptable (a recall of what is already recalled): nothing to resume. */
  private async refuseNew(a: SendAttempt): Promise<never> {
    await this.cx.backends.dedupe.release(a.caller.appId, a.caller.userId, a.clientMsgId);
    throw a.onlyRetry instanceof ImError ? a.onlyRetry : new ImError('IM_BAD_REQUEST', a.onlyRetry);
  }

  /** 'new' with a seq: the claim drew it and recorded the draft with it. */
  private takeDrawnSeq(a: SendAttempt, message: StoredMessage, draw: SeqDraw, seq: number): Allocation {
    message.seq = seq;
    a.stage('allocate');
    return { message, record: withSeq(draw.draft, seq) };
  }

  /** 'new' without a seq (the conversation's block is used up, or none was drawn): the allocator's next. */
  private async allocateNew(a: SendAttempt, message: StoredMessage): Promise<Allocation> {
    const allocation = await this.releasingOnFailure(a, () => this.allocateNewSeq(a, message));
    a.stage('allocate');
    return allocation;
  }

  // ── after the claim ────────────────────────────────────────────────────────────────────

  /**
   * Resumed (or stalled) longer than half the empty-slot grace period after its seq was taken:
   * readers may already have called that seq an empty slot (ADR 0004), so unless the message is
   * visible under it, the seq stays empty and the message takes a new one (same id).
   */
  private async reallocateIfLate(a: SendAttempt, allocation: Allocation): Promise<Allocation> {
    const { message } = allocation;
    if (this.cx.now() - message.ts <= this.cx.config.logic.emptySlotGraceMs / 2) return allocation;
    const visible = await this.releasingOnFailure(a, () => this.reader.get(a.caller.appId, message.conversation, message.seq));
    if (visible) return allocation;
    this.cx.metrics.sendRetries.inc({ app_id: a.caller.appId, outcome: 'reallocated' });
    const moved = await this.releasingOnFailure(a, () => this.allocateNewSeq(a, message));
    this.cx.log.warn(
      { traceId: a.caller.traceId, conversation: message.conversation, oldSeq: message.seq, seq: moved.message.seq },
      'send resumed late: its old seq stays an empty slot, the message takes a new one',
    );
    return moved;
  }

  /**
   * The recent window and the conversation index, then the store queue's confirm, with the
   * members' routes read meanwhile. Not acked if this fails: a retry resumes this very message.
   */
  private store(a: SendAttempt, { message, record }: Allocation): Promise<Map<string, Route[]>> {
    const { caller: c, members } = a;
    const { backends, config } = this.cx;
    return this.releasingOnFailure(a, async () => {
      await Promise.all([
        backends.window.append(c.appId, message, { size: config.logic.recentWindow, retentionMs: config.logic.recentRetentionMs }),
        // The sender has read what it sent, so its own messages never count as unread.
        backends.conversations.touch(c.appId, message.conversation, members, message.seq, message.ts, c.userId),
      ]);
      a.stage('window');
      // Routes are read after the window append (a device that logs in later finds the message
      // when it syncs) and while the store confirm is awaited, which takes longer. A fan-out of
      // its own reads them after the confirm.
      const routes = a.fanOut ? Promise.resolve(new Map<string, Route[]>()) : backends.routes.listMany(c.appId, members);
      // The app's webhook event is queued before the ack too: an acked message is an event queued.
      const [found] = await Promise.all([routes, backends.bus.publishStore(record), this.events.publish(c.appId, message)]);
      a.stage('store_confirm');
      return found;
    });
  }

  /** The ack to the sender, the push to every other connection of both members; the dedupe record is marked done meanwhile. */
  private answer(a: SendAttempt, { message }: Allocation, routes: Map<string, Route[]>, resumed: boolean): Ack {
    const { caller: c } = a;
    const ack: SendAckRecord = {
      clientMsgId: a.clientMsgId,
      conversation: message.conversation,
      seq: message.seq,
      msgId: message.msgId,
      ts: message.ts,
    };
    // The ack does not wait for the record to say 'done' (ADR 0014). Until it does, a retry finds
    // the send allocated and resumes it: same seq and id, the same ack; the store and the
    // devices drop the repeated copy (unique seq).
    this.cx.backends.dedupe.complete(c.appId, c.userId, a.clientMsgId, ack, this.cx.config.logic.dedupeTtlMs).then(
      () => a.stage('complete'),
      (err: unknown) =>
        this.cx.log.warn({ traceId: c.traceId, err: String(err) }, 'dedupe record not marked done; a retry of this send will resume it'),
    );
    if (!a.callerAnswers) this.cx.replies.reply(c, { reqId: a.reqId, sendAck: { ...ack, duplicate: resumed } });
    const perApp = this.metricsOf(c.appId);
    perApp.sends.inc();
    if (c.receivedAt > 0) perApp.ackLatency.observe((this.cx.now() - c.receivedAt) / 1000);
    if (!a.fanOut) {
      perApp.pushes.inc(this.cx.replies.toRoutes(c, routes, { push: { messages: [toWireMessage(message)] } }, { sentAt: message.ts }));
      return { ...ack, duplicate: resumed };
    }
    // The message is stored and acked: a push that fails here is repaired by sync.
    a.fanOut(message).then(
      (n) => perApp.pushes.inc(n),
      (err: unknown) =>
        this.cx.log.warn({ traceId: c.traceId, err: String(err) }, 'group fan-out failed; members find the message by sync'),
    );
    return { ...ack, duplicate: resumed };
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────

  /** Gives `message` the conversation's next seq (SeqAllocator.next) and records the send as allocated with it. */
  private async allocateNewSeq(a: SendAttempt, message: StoredMessage): Promise<Allocation> {
    const { caller: c } = a;
    const { backends, config } = this.cx;
    const allocated = { ...message, seq: await backends.seq.next(c.appId, message.conversation), ts: this.cx.now() };
    const record = encodeStoreRecord({ appId: c.appId, message: allocated, members: a.members, traceId: c.traceId });
    await backends.dedupe.allocate(c.appId, c.userId, a.clientMsgId, record, config.logic.dedupeTtlMs);
    return { message: allocated, record };
  }

  /**
   * Runs a step of a send whose dedupe lease this process holds. If it fails, the lease goes back
   * at once, so that the client's retry need not wait for it (an allocated send stays resumable).
   */
  private async releasingOnFailure<T>(a: SendAttempt, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      await this.cx.backends.dedupe.release(a.caller.appId, a.caller.userId, a.clientMsgId).catch(() => undefined);
      throw err;
    }
  }

  private metricsOf(appId: string): AppMetrics {
    let m = this.appMetrics.get(appId);
    if (!m) {
      const labels = { app_id: appId };
      const { metrics } = this.cx;
      m = { sends: metrics.sends.labels(labels), ackLatency: metrics.ackLatency.labels(labels), pushes: metrics.pushes.labels(labels) };
      initializeAppSeries(metrics, appId, 'logic');
      this.appMetrics.set(appId, m);
    }
    return m;
  }
}
