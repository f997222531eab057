// Delivered and read cursors (architecture.md §2, step 7): a device's cumulative PushAck moves
// its user's delivered cursor and tells the peer (DeliveryNotice); a ReadReceipt moves the read
// cursor, answers ReadAck and tells the peer and the reader's other devices (ReadNotice).

import { groupOf, peerOf } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { memberAt, memberPages } from '../ports/group-directory.js';
import { AppEvents } from './app-events.js';
import type { Caller } from './caller.js';
import type { ConversationAccess } from './conversation-access.js';
import { writeDiffusionMax } from './diffusion.js';
import type { LogicContext } from './logic-context.js';

/** Conversations one PushAck may move; more are ignored. */
const MAX_PUSH_ACK_CURSORS = 100;

export class Cursors {
  /** Read receipts are webhook events too (ADR 0037). */
  private readonly events: AppEvents;

  constructor(
    private readonly cx: LogicContext,
    private readonly access: ConversationAccess,
  ) {
    this.events = new AppEvents(cx);
  }

  async pushAck(c: Caller, req: imcloud.v1.PushAck): Promise<void> {
    for (const cursor of req.cursors.slice(0, MAX_PUSH_ACK_CURSORS)) await this.delivered(c, cursor.conversation ?? '', Number(cursor.seq));
  }

  /** Advances the delivered cursor and tells the peer (its every device) how far it reached. */
  async delivered(c: Caller, conversation: string, seq: number): Promise<void> {
    const readable = await this.access.readable(c, conversation);
    const { value, moved } = await this.cx.backends.conversations.advance(
      c.appId,
      c.userId,
      conversation,
      'delivered',
      Math.min(seq, readable.to),
    );
    // A group's members are not told of each other's deliveries (one notice per member per message).
    if (!moved || groupOf(conversation) !== null) return;
    const peer = peerOf(conversation, c.userId);
    if (peer === c.userId) return;
    await this.cx.replies.toUsers(c, [peer], { deliveryNotice: { conversation, user: c.userId, seq: value } });
  }

  /**
   * Who of a group has read `seq`: the members at that seq besides the caller whose read cursor
   * reached it, counted a page of members at a time; named only up to the app's
   * write-diffusion threshold.
   */
  async readers(c: Caller, reqId: number, req: imcloud.v1.ReadersRequest): Promise<void> {
    const groupId = groupOf(req.conversation);
    if (groupId === null) throw new ImError('IM_BAD_REQUEST', 'readers are counted for group conversations; single chat has read notices');
    const seq = Number(req.seq);
    const readable = await this.access.readable(c, req.conversation);
    if (seq < readable.from || seq > readable.to) throw new ImError('IM_GROUP_NOT_MEMBER', `seq ${seq} is not readable to ${c.userId}`);
    const nameUpTo = await writeDiffusionMax(this.cx, c.appId);
    const { groups, conversations } = this.cx.backends;
    const readers: string[] = [];
    let memberCount = 0;
    for await (const page of memberPages(groups, c.appId, groupId)) {
      const then = page.filter((m) => m.userId !== c.userId && memberAt(m, seq)).map((m) => m.userId);
      const cursors = await conversations.readCursors(c.appId, req.conversation, then);
      memberCount += then.length;
      readers.push(...then.filter((_, i) => cursors[i]! >= seq));
    }
    const countedOnly = memberCount > nameUpTo;
    this.cx.replies.reply(c, {
      reqId,
      readersResult: {
        conversation: req.conversation,
        seq,
        readCount: readers.length,
        memberCount,
        readers: countedOnly ? [] : readers,
        countedOnly,
      },
    });
  }

  async read(c: Caller, reqId: number, req: imcloud.v1.ReadReceipt): Promise<void> {
    const readable = await this.access.readable(c, req.conversation);
    const { conversations } = this.cx.backends;
    const seq = Math.min(Number(req.seq), readable.to);
    const { value, moved } = await conversations.advance(c.appId, c.userId, req.conversation, 'read', seq);
    const maxSeq = Math.min(await conversations.maxSeq(c.appId, req.conversation), readable.to);
    // Also when the cursor was already there: a retry after a failed publish publishes it again (same id).
    if (value > 0 && (moved || value === seq)) await this.events.publishRead(c.appId, c.userId, req.conversation, value);
    this.cx.replies.reply(c, { reqId, readAck: { conversation: req.conversation, readSeq: value, unread: Math.max(0, maxSeq - value) } });
    if (moved) {
      // The peer sees the read state; the reader's other devices clear their unread count.
      const group = groupOf(req.conversation) !== null;
      const users = group ? [c.userId] : [...new Set([peerOf(req.conversation, c.userId), c.userId])];
      await this.cx.replies.toUsers(c, users, { readNotice: { conversation: req.conversation, user: c.userId, seq: value } });
    }
  }
}
