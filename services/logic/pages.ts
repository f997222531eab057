// Reading (architecture.md §3): sync, pull and history, each answered with a page of messages
// bounded in count and in bytes (logic.maxReplyBytes), read through MessageReader (the recent
// window, then the store; empty slots per ADR 0004). Page reads run a bounded number at a time
// and are skipped when the connection that asked is gone by their turn (ADR 0024).
import pLimit, { type LimitFunction } from 'p-limit';
import { groupOf, peerOf } from '../../protocol/conversation-id.js';
import type { FrameInit } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import type { ConversationEntry } from '../ports/conversation-state.js';
import type { Membership } from '../ports/group-directory.js';
import type { Caller } from './caller.js';
import { type ConversationAccess, lastReadable } from './conversation-access.js';
import type { Cursors } from './cursors.js';
import type { LogicContext } from './logic-context.js';
import { emptySlot, toWireMessage } from './message-codec.js';
import type { MessageReader, Slot } from './message-reader.js';
import { wireBytes, withinBytes } from './reply-size.js';

/** Cursors a sync request may carry; more are ignored (one per conversation the client holds). */
const MAX_CURSORS = 10_000;
const slotBytes = (slot: Slot) => ('message' in slot ? wireBytes(slot.message) : 64);

export class Pages {
  /** Reads of message pages running at once (each can hold a page of bodies in memory). */
  private readonly reads: LimitFunction;

  constructor(
    private readonly cx: LogicContext,
    private readonly reader: MessageReader,
    private readonly cursors: Cursors,
    private readonly access: ConversationAccess,
  ) {
    this.reads = pLimit(cx.config.logic.maxConcurrentReads);
  }

  async sync(c: Caller, reqId: number, req: imcloud.v1.SyncRequest): Promise<void> {
    const cursors = new Map<string, number>();
    for (const cursor of req.cursors.slice(0, MAX_CURSORS)) cursors.set(cursor.conversation ?? '', Number(cursor.seq));
    const [all, memberships] = await Promise.all([this.cx.backends.conversations.list(c.appId, c.userId), this.access.memberships(c)]);
    const entries = readableEntries(all, memberships);
    // Asking for the next page acknowledges what the previous one delivered.
    for (const e of entries) {
      const held = cursors.get(e.conversation);
      if (held !== undefined && held > e.deliveredSeq) await this.cursors.delivered(c, e.conversation, held);
    }
    const pageSize = Math.min(req.pageSize || 200, this.cx.config.logic.syncPageMax);
    await this.page(c, async () => ({ reqId, syncPage: await this.syncPage(c, entries, cursors, pageSize) }));
  }

  async pull(c: Caller, reqId: number, req: imcloud.v1.PullRequest): Promise<void> {
    const readable = await this.access.readable(c, req.conversation);
    const { logic } = this.cx.config;
    await this.page(c, async () => {
      const maxSeq = Math.min(await this.cx.backends.conversations.maxSeq(c.appId, req.conversation), readable.to);
      const from = Math.max(readable.from, Number(req.fromSeq));
      const to = Math.min(Number(req.toSeq) || maxSeq, maxSeq, from + logic.historyPageMax - 1);
      const range = await this.reader.range(c.appId, req.conversation, from, to);
      // A reply cut short by size leaves the rest of the gap; the client pulls it next.
      const slots = withinBytes(range.slots, logic.maxReplyBytes, slotBytes);
      const messages = slots.map((slot) => ('message' in slot ? toWireMessage(slot.message) : emptySlot(req.conversation, slot.seq)));
      return {
        reqId,
        pullResult: { conversation: req.conversation, messages, retryAfterMs: range.retryAfterMs, minSeq: readable.from },
      };
    });
  }

  async history(c: Caller, reqId: number, req: imcloud.v1.HistoryRequest): Promise<void> {
    const readable = await this.access.readable(c, req.conversation);
    const { logic } = this.cx.config;
    await this.page(c, async () => {
      const maxSeq = Math.min(await this.cx.backends.conversations.maxSeq(c.appId, req.conversation), readable.to);
      const result = await this.reader.history(c.appId, req.conversation, {
        fromSeq: Math.max(readable.from, Number(req.fromSeq)),
        toSeq: Math.min(Number(req.toSeq) || maxSeq, maxSeq),
        fromTs: Number(req.fromTs) || undefined,
        toTs: Number(req.toTs) || undefined,
        limit: Math.min(req.limit || 50, logic.historyPageMax),
        newestFirst: req.newestFirst,
      });
      // Paging backwards keeps the newest messages of the page; forwards, the oldest.
      const kept = withinBytes(result.messages, logic.maxReplyBytes, wireBytes, req.newestFirst);
      const hasMore = result.hasMore || kept.length < result.messages.length;
      return { reqId, historyResult: { conversation: req.conversation, messages: kept.map(toWireMessage), hasMore } };
    });
  }

  /**
   * Runs a page read in its turn among this process's reads, and only if the connection that
   * asked is still there: a reader closed for being slow, or gone, costs nothing more.
   */
  private page(c: Caller, read: () => Promise<FrameInit>): Promise<void> {
    return this.reads(async () => {
      const routes = await this.cx.backends.routes.list(c.appId, c.userId);
      if (!routes.some((r) => r.connId === c.connId)) {
        this.cx.metrics.readsSkipped.inc();
        return;
      }
      this.cx.replies.reply(c, await read());
    });
  }

  /** A summary of every conversation of the user, and the messages after each cursor, within the page's count and bytes. */
  private async syncPage(
    c: Caller,
    entries: ReadableEntry[],
    cursors: Map<string, number>,
    pageSize: number,
  ): Promise<imcloud.v1.SyncPage.$Properties> {
    let budget = pageSize;
    let bytes = this.cx.config.logic.maxReplyBytes;
    const summaries: imcloud.v1.ConversationSummary.$Properties[] = [];
    const messages: imcloud.v1.Message.$Properties[] = [];
    let hasMore = false;
    let retryAfterMs = 0;
    entries.sort((a, b) => b.lastTs - a.lastTs);
    for (const e of entries) {
      const known = cursors.get(e.conversation);
      const first = known !== undefined ? known + 1 : Math.max(1, e.maxSeq - this.cx.config.logic.newDeviceSyncDepth + 1);
      const from = Math.max(first, e.firstSeq);
      summaries.push(await this.summary(c, e, known, from));
      if (from > e.maxSeq) continue;
      if (budget === 0 || bytes <= 0) {
        hasMore = true;
        continue;
      }
      const to = Math.min(e.maxSeq, from + budget - 1);
      const range = await this.reader.range(c.appId, e.conversation, from, to);
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

  /** One conversation as the sync page sums it up, with the peer's cursors; minSeq when the device starts it from `from`. */
  private async summary(
    c: Caller,
    e: ReadableEntry,
    known: number | undefined,
    from: number,
  ): Promise<imcloud.v1.ConversationSummary.$Properties> {
    const peer = groupOf(e.conversation) === null ? peerOf(e.conversation, c.userId) : '';
    const peerEntry = peer === c.userId || peer === '' ? null : await this.cx.backends.conversations.get(c.appId, peer, e.conversation);
    return {
      conversation: e.conversation,
      maxSeq: e.maxSeq,
      readSeq: e.readSeq,
      unread: Math.max(0, e.maxSeq - e.readSeq),
      peerReadSeq: peerEntry?.readSeq ?? 0,
      peerDeliveredSeq: peerEntry?.deliveredSeq ?? 0,
      lastTs: e.lastTs,
      peer,
      minSeq: known !== undefined ? 0 : from,
      mentionedSeq: e.mentionSeq > e.readSeq ? e.mentionSeq : 0,
    };
  }
}

/** A conversation entry cut to the seqs its user may read: firstSeq … maxSeq. */
interface ReadableEntry extends ConversationEntry {
  firstSeq: number;
}

/** The user's conversations as they may read them: a group from joining to leaving; groups without a membership left out. */
function readableEntries(entries: ConversationEntry[], memberships: Map<string, Membership>): ReadableEntry[] {
  const out: ReadableEntry[] = [];
  for (const e of entries) {
    const groupId = groupOf(e.conversation);
    if (groupId === null) {
      out.push({ ...e, firstSeq: 1 });
      continue;
    }
    const m = memberships.get(groupId);
    if (!m) continue;
    const maxSeq = Math.min(e.maxSeq, lastReadable(m));
    out.push({ ...e, maxSeq, readSeq: Math.min(e.readSeq, maxSeq), firstSeq: m.joinedSeq });
  }
  return out;
}
