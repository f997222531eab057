// The receive side of an ImClient: messages from pushes, sync pages, gap pulls and own send acks
// arrive in any order and possibly twice; each conversation's receive buffer hands them to the
// app once and in seq order. A seq gap is pulled after a short grace (a late push may still
// fill it), every connection starts with a full sync from the device's cursors, page by page,
// and moved cursors are saved and acknowledged (CursorKeeper). Notices update the conversation list.

import type { Frame, FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import type { ConversationList } from './conversation-list.js';
import type { Outgoing, SendAck } from './conversation-sender.js';
import { CursorKeeper } from './cursor-keeper.js';
import type { CursorStore } from './cursor-store.js';
import type { Link } from './gate-connection.js';
import { ReceiveBuffer } from './receive-buffer.js';
import type { ChatMessage, ImClientEvents } from './types.js';
import { chatMessageFromWire, noticeFromWire, ownMessageFromAck, summaryFromWire } from './wire-mapping.js';

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

export interface ReceiveContext {
  deviceId: string;
  list: ConversationList;
  cursorStore: CursorStore;
  /** How long a seq gap may stay open (waiting for a late push) before it is pulled. */
  gapGraceMs: number;
  syncPageSize: number;
  ackBatchMs: number;
  /** The signed-in user, once known. */
  userId(): string | undefined;
  /** The connection while the client is online. */
  online(): Link | undefined;
  /** A request on `link`; fails once that connection has ended. */
  request(body: FrameInit, link: Link): Promise<Frame>;
  emit<K extends keyof ImClientEvents>(event: K, payload: ImClientEvents[K]): void;
  conversationsChanged(): void;
  report(err: unknown): void;
  /** A connection finished its full sync: it works (the reconnect backoff starts over). */
  syncCompleted(): void;
}

export class ReceiveEngine {
  private readonly inboxes = new Map<string, Inbox>();
  private readonly cursors: CursorKeeper;
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pulling = new Set<string>();
  private syncing = false;
  /** The connection whose full sync has finished: conversations first seen after it are new. */
  private syncedLink?: Link;

  constructor(private readonly ctx: ReceiveContext) {
    this.cursors = new CursorKeeper({
      store: ctx.cursorStore,
      batchMs: ctx.ackBatchMs,
      online: () => ctx.online(),
      report: (err) => ctx.report(err),
      cursorOf: (conversation) => this.inboxes.get(conversation)?.buffer.cursor ?? 0,
    });
  }

  /** Frames the server sends unasked: pushes, and delivery and read notices. */
  handle(frame: Frame): void {
    const { list } = this.ctx;
    switch (frame.body) {
      case 'push':
        return this.ingest((frame.push as imcloud.v1.Push).messages);
      case 'deliveryNotice': {
        const e = noticeFromWire(frame.deliveryNotice as imcloud.v1.DeliveryNotice);
        if (e.user !== this.ctx.userId()) list.onPeerDelivered(e.conversation, e.seq);
        this.ctx.emit('delivered', e);
        return this.ctx.conversationsChanged();
      }
      case 'readNotice': {
        const e = noticeFromWire(frame.readNotice as imcloud.v1.ReadNotice);
        if (e.user === this.ctx.userId()) list.onOwnRead(e.conversation, e.seq);
        else list.onPeerRead(e.conversation, e.seq);
        this.ctx.emit('read', e);
        return this.ctx.conversationsChanged();
      }
    }
  }

  /** Own sends are not pushed back to the sending connection: the ack stands in for the push. */
  ownMessageAcked(out: Outgoing, ack: SendAck): void {
    if (out.body.send || out.body.recall) {
      this.receive(ack.conversation, [{ seq: ack.seq, message: ownMessageFromAck(out, ack, this.ctx.userId(), this.ctx.deviceId) }]);
      return;
    }
    // A group change: the server wrote its event; fetched like a gap (a later sync or pull
    // finds it if this fails).
    const link = this.ctx.online();
    if (link) void this.fetch(link, ack.conversation, ack.seq);
  }

  private async fetch(link: Link, conversation: string, seq: number): Promise<void> {
    try {
      const frame = await this.ctx.request({ pull: { conversation, fromSeq: seq, toSeq: seq } }, link);
      this.takePull(conversation, frame.pullResult as imcloud.v1.PullResult);
    } catch (err) {
      if (link.current) this.ctx.report(err);
    }
  }

  /** A pull's messages; seqs below its min_seq (a group joined later) will never come. */
  private takePull(conversation: string, result: imcloud.v1.PullResult): void {
    const minSeq = Number(result.minSeq);
    const inbox = this.inbox(conversation);
    if (minSeq > inbox.buffer.cursor + 1) {
      this.ctx.emit('skipped', { conversation, fromSeq: inbox.buffer.cursor + 1, toSeq: minSeq - 1, reason: 'not-member' });
      this.deliver(conversation, inbox.buffer.skipTo(minSeq - 1));
      this.cursors.cursorMoved(conversation);
    }
    this.ingest(result.messages);
  }

  /** Signed in: the buffers start at this device's stored cursors (once per user). */
  async loadCursors(appId: string, userId: string): Promise<void> {
    const stored = await this.cursors.load(appId, userId, this.ctx.deviceId);
    for (const [conversation, seq] of Object.entries(stored ?? {})) {
      const inbox = this.inbox(conversation);
      this.deliver(conversation, inbox.buffer.skipTo(seq));
      inbox.anchored = true;
    }
  }

  /** Pages through everything newer than this device's cursors; run on every connect. */
  async sync(link: Link): Promise<void> {
    this.syncing = true;
    let pages = 0;
    let messages = 0;
    try {
      for (;;) {
        const page = await this.nextSyncPage(link);
        pages += 1;
        messages += page.messages.length;
        if (!link.current) return;
        if (page.hasMore) continue;
        if (page.retryAfterMs > 0) {
          await new Promise((r) => setTimeout(r, page.retryAfterMs));
          if (!link.current) return;
          continue;
        }
        break;
      }
      this.syncDone(link);
      this.ctx.emit('synced', { conversations: this.ctx.list.size, messages, pages });
    } catch (err) {
      if (!link.current) return;
      // A connection that cannot sync is of no use: start over with a new one.
      this.ctx.report(err);
      link.close(4004, 'sync failed');
    } finally {
      if (link.current) this.syncing = false;
    }
  }

  /** The connection ended: its gap pulls and its sync end with it. */
  connectionLost(): void {
    for (const t of this.gapTimers.values()) clearTimeout(t);
    this.gapTimers.clear();
    this.syncing = false;
  }

  /** Saves and acknowledges moved cursors now (the client closes). */
  close(): Promise<void> {
    return this.cursors.close();
  }

  private inbox(conversation: string): Inbox {
    let inbox = this.inboxes.get(conversation);
    if (!inbox) {
      const online = this.ctx.online();
      const anchored = online !== undefined && this.syncedLink === online && !this.syncing;
      const onEmpty = (slot: Slot) => this.ctx.emit('skipped', { conversation, fromSeq: slot.seq, toSeq: slot.seq, reason: 'empty' });
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
      slots.push(
        m.empty ? { seq: Number(m.seq), empty: true } : { seq: Number(m.seq), message: chatMessageFromWire(m, this.ctx.userId()) },
      );
    }
    for (const [conversation, slots] of byConversation) this.receive(conversation, slots);
  }

  private receive(conversation: string, slots: Slot[]): void {
    const inbox = this.inbox(conversation);
    const before = inbox.buffer.cursor;
    this.deliver(conversation, inbox.buffer.add(slots));
    if (inbox.buffer.cursor !== before) this.cursors.cursorMoved(conversation);
    if (inbox.buffer.waiting > 0) this.scheduleGapPull(conversation);
  }

  /** Hands messages to the app; they are in seq order and new. */
  private deliver(conversation: string, slots: Slot[]): void {
    const { list } = this.ctx;
    for (const slot of slots) {
      const m = slot.message!;
      list.onMessage(m, m.kind === 'recall' ? undefined : m);
      if (m.kind === 'recall') {
        list.onRecall(conversation, m.recallsSeq);
        this.ctx.emit('recall', { conversation, seq: m.recallsSeq, eventSeq: m.seq, by: m.sender, ts: m.ts });
      } else {
        this.ctx.emit('message', m);
      }
    }
    if (slots.length > 0) this.ctx.conversationsChanged();
  }

  private scheduleGapPull(conversation: string, delay = this.ctx.gapGraceMs): void {
    const link = this.ctx.online();
    // A sync in progress fills gaps itself; gaps are checked again when it ends.
    if (this.syncing || !link || this.gapTimers.has(conversation) || this.pulling.has(conversation)) return;
    this.gapTimers.set(
      conversation,
      setTimeout(() => {
        this.gapTimers.delete(conversation);
        if (link.current) void this.pullGap(link, conversation);
      }, delay),
    );
  }

  private async pullGap(link: Link, conversation: string): Promise<void> {
    const inbox = this.inboxes.get(conversation);
    const gap = inbox?.buffer.gap();
    if (!inbox || !gap) return;
    this.pulling.add(conversation);
    let again = -1;
    try {
      const before = inbox.buffer.cursor;
      // The range reaches the first message we already hold: the server bounds a missing seq's
      // age by the next message present in the range, and only then can it call the seq empty.
      const frame = await this.ctx.request({ pull: { conversation, fromSeq: gap.from, toSeq: gap.to + 1 } }, link);
      const result = frame.pullResult as imcloud.v1.PullResult;
      this.takePull(conversation, result);
      if (inbox.buffer.gap()) {
        // In flight: ask when the server says; progress: keep going; neither: back off.
        again = result.retryAfterMs > 0 ? result.retryAfterMs : inbox.buffer.cursor > before ? 0 : 1000;
      }
    } catch (err) {
      if (link.current) {
        this.ctx.report(err);
        again = 1000;
      }
    } finally {
      this.pulling.delete(conversation);
    }
    if (again >= 0 && link.current) this.scheduleGapPull(conversation, again);
  }

  /** Asks for the next sync page, which acknowledges the last one (its cursors moved), and takes it in. */
  private async nextSyncPage(link: Link): Promise<imcloud.v1.SyncPage> {
    const sent = new Set<string>();
    const cursors: imcloud.v1.ICursor[] = [];
    for (const [conversation, inbox] of this.inboxes) {
      if (!inbox.anchored) continue;
      sent.add(conversation);
      cursors.push({ conversation, seq: inbox.buffer.cursor });
    }
    const frame = await this.ctx.request({ sync: { cursors, pageSize: this.ctx.syncPageSize } }, link);
    const page = frame.syncPage as imcloud.v1.SyncPage;
    for (const c of page.conversations as imcloud.v1.ConversationSummary[]) {
      this.ctx.list.applySummary(summaryFromWire(c));
      const inbox = this.inbox(c.conversation);
      if (!sent.has(c.conversation) && !inbox.anchored) this.startView(c.conversation, inbox, Number(c.minSeq));
    }
    this.ctx.conversationsChanged();
    this.ingest(page.messages);
    return page;
  }

  /** New to this device: its view of the conversation starts where the server says (the latest N messages). */
  private startView(conversation: string, inbox: Inbox, minSeq: number): void {
    const before = inbox.buffer.cursor;
    const viewStartsAfter = Math.max(0, minSeq - 1);
    if (viewStartsAfter > before)
      this.ctx.emit('skipped', { conversation, fromSeq: before + 1, toSeq: viewStartsAfter, reason: 'history' });
    this.deliver(conversation, inbox.buffer.skipTo(viewStartsAfter));
    if (inbox.buffer.cursor !== before) this.cursors.cursorMoved(conversation);
    inbox.anchored = true;
  }

  private syncDone(link: Link): void {
    // Conversations first seen in a push after the sync's snapshot began after it: all theirs is new.
    for (const inbox of this.inboxes.values()) inbox.anchored = true;
    this.syncing = false;
    this.syncedLink = link;
    for (const [conversation, inbox] of this.inboxes) if (inbox.buffer.waiting > 0) this.scheduleGapPull(conversation);
    this.ctx.syncCompleted();
  }
}
