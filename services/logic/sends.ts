// The Send and Recall frames: what each may carry, then the accept path they share
// (SendAcceptor). A recall is a message of its own (kind RECALL, its own seq) that empties the
// recalled one in the window and the store (ADR 0003).

import {
  assertGroupId,
  assertUserId,
  groupConversation,
  groupOf,
  membersFor,
  SYSTEM_SENDER,
  singleConversation,
} from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import { type Group, memberAt } from '../ports/group-directory.js';
import { FileAccess } from '../shared/file-access.js';
import type { Caller } from './caller.js';
import type { ConversationAccess } from './conversation-access.js';
import { writeDiffusionMax } from './diffusion.js';
import { FILE_CONTENT_TYPES, fileMessage } from './file-messages.js';
import { fanOutToGroup } from './group-fan-out.js';
import type { LogicContext } from './logic-context.js';
import type { MessageReader } from './message-reader.js';
import type { SendAcceptor } from './send-acceptor.js';
import { isSystemSend, SystemSends } from './system-sends.js';

const MessageKind = imcloud.v1.MessageKind;
const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/;
const MAX_CONTENT_TYPE = 64;
const MAX_MENTIONS = 100;

export class Sends {
  private readonly files: FileAccess;
  private readonly systemSends: SystemSends;

  constructor(
    private readonly cx: LogicContext,
    private readonly reader: MessageReader,
    private readonly acceptor: SendAcceptor,
    private readonly access: ConversationAccess,
  ) {
    this.files = new FileAccess(cx.backends.files, cx.backends.groups);
    this.systemSends = new SystemSends(cx, acceptor);
  }

  async send(c: Caller, reqId: number, req: imcloud.v1.Send): Promise<void> {
    checkClientMsgId(req.clientMsgId);
    const { maxBodyBytes } = this.cx.config.logic;
    if (req.body.length > maxBodyBytes) throw new ImError('IM_BODY_TOO_LARGE', `body of ${req.body.length} bytes exceeds ${maxBodyBytes}`);
    if (req.contentType.length > MAX_CONTENT_TYPE)
      throw new ImError('IM_BAD_REQUEST', `content_type is longer than ${MAX_CONTENT_TYPE} characters`);
    if (isSystemSend(c, req)) return this.systemSends.send(c, reqId, req);
    if (req.groupId) return this.sendToGroup(c, reqId, req);
    assertUserId(req.to, 'to');
    const conversation = singleConversation(c.userId, req.to);
    // A reply to the app: the system sender keeps no conversation list (it would hold every user).
    const indexedBy = req.to === SYSTEM_SENDER ? [c.userId] : [c.userId, req.to];
    await this.acceptor.accept(c, reqId, req.clientMsgId, indexedBy, {
      conversation,
      kind: MessageKind.MESSAGE_KIND_NORMAL,
      ...(await this.content(c, conversation, req)),
      recallsSeq: 0,
    });
  }

  /** The message's content type and body; a file message's body is rebuilt from the file's record. */
  private async content(c: Caller, conversation: string, req: imcloud.v1.Send): Promise<{ contentType: string; body: Uint8Array }> {
    if (FILE_CONTENT_TYPES.has(req.contentType)) return fileMessage(this.cx, this.files, c, conversation, req.body);
    return { contentType: req.contentType || 'text', body: req.body };
  }

  /**
   * A group message: from a current member who may speak; pushed to the members page by page.
   * Each member it @mentions who was a member at its seq has their mention cursor moved to it.
   */
  private async sendToGroup(c: Caller, reqId: number, req: imcloud.v1.Send): Promise<void> {
    assertGroupId(req.groupId);
    const mentions = checkMentions(req.mentions, c.userId);
    const { group, member } = await this.access.currentSeat(c, req.groupId);
    if (member.muted || (group.muteAll && member.role === 'member'))
      throw new ImError('IM_GROUP_MUTED', member.muted ? 'you are muted in this group' : 'only the owner and admins may send here');
    const ack = await this.acceptor.accept(
      c,
      reqId,
      req.clientMsgId,
      await this.indexedBy(c, group),
      {
        conversation: groupConversation(req.groupId),
        kind: MessageKind.MESSAGE_KIND_NORMAL,
        ...(await this.content(c, groupConversation(req.groupId), req)),
        recallsSeq: 0,
        ...(mentions.length > 0 && { mentions }),
      },
      { fanOut: (m) => fanOutToGroup(this.cx, c, req.groupId, m) },
    );
    if (mentions.length > 0) await this.markMentions(c, req.groupId, mentions, ack.seq);
  }

  /**
   * Whose conversation index a group message touches: in write diffusion every current member's
   * (read up to twice the threshold, in case a switch is on its way), in read diffusion the
   * sender's only (ADR 0030).
   */
  private async indexedBy(c: Caller, group: Group): Promise<string[]> {
    if (group.diffusion === 'read') return [c.userId];
    const limit = 2 * (await writeDiffusionMax(this.cx, c.appId));
    const members = await this.cx.backends.groups.members(c.appId, group.groupId, { limit, current: true });
    return [c.userId, ...members.map((m) => m.userId).filter((u) => u !== c.userId)];
  }

  /** Moves the mention cursor of every mentioned member who was one at `seq` (a retry moves nothing further). */
  private async markMentions(c: Caller, groupId: string, users: string[], seq: number): Promise<void> {
    const { groups, conversations } = this.cx.backends;
    const conversation = groupConversation(groupId);
    const records = await Promise.all(users.map((u) => groups.member(c.appId, groupId, u)));
    const mentioned = users.filter((_, i) => records[i] && memberAt(records[i], seq));
    await Promise.all(mentioned.map((u) => conversations.advance(c.appId, u, conversation, 'mention', seq)));
  }

  async recall(c: Caller, reqId: number, req: imcloud.v1.Recall): Promise<void> {
    checkClientMsgId(req.clientMsgId);
    const groupId = groupOf(req.conversation);
    const members = groupId === null ? membersFor(req.conversation, c.userId) : [c.userId];
    // In a group the owner and admins may recall anyone's message, at any time.
    const moderator = groupId !== null && (await this.access.currentSeat(c, groupId)).member.role !== 'member';
    const target = await this.reader.get(c.appId, req.conversation, Number(req.seq));
    if (!target) throw new ImError('IM_NOT_FOUND', `no message ${req.seq} in this conversation`);
    if (target.kind !== MessageKind.MESSAGE_KIND_NORMAL) throw new ImError('IM_BAD_REQUEST', 'only normal messages can be recalled');
    if (target.sender !== c.userId && !moderator) throw new ImError('IM_RECALL_NOT_SENDER');
    const age = this.cx.now() - target.ts;
    const { recallWindowMs } = this.cx.config.logic;
    // Once recalled, only a retry of that recall (answered by dedupe) is accepted, even after
    // the window has passed.
    if (!target.recalled && !moderator && age > recallWindowMs) {
      throw new ImError(
        'IM_RECALL_WINDOW_EXPIRED',
        `the message is ${Math.round(age / 1000)} s old; the recall window is ${Math.round(recallWindowMs / 1000)} s`,
      );
    }
    await this.acceptor.accept(
      c,
      reqId,
      req.clientMsgId,
      members,
      {
        conversation: req.conversation,
        kind: MessageKind.MESSAGE_KIND_RECALL,
        contentType: 'recall',
        body: new Uint8Array(0),
        recallsSeq: target.seq,
      },
      {
        onlyRetry: target.recalled ? 'the message is already recalled' : undefined,
        ...(groupId !== null && { fanOut: (m) => fanOutToGroup(this.cx, c, groupId, m) }),
      },
    );
    await this.cx.backends.window.markRecalled(c.appId, req.conversation, target.seq);
  }
}

function checkMentions(mentions: string[], sender: string): string[] {
  if (mentions.length > MAX_MENTIONS) throw new ImError('IM_BAD_REQUEST', `a message may mention at most ${MAX_MENTIONS} members`);
  for (const u of mentions) assertUserId(u, 'mention');
  return [...new Set(mentions)].filter((u) => u !== sender);
}

export function checkClientMsgId(clientMsgId: string): void {
  if (!CLIENT_MSG_ID.test(clientMsgId)) throw new ImError('IM_BAD_REQUEST', 'client_msg_id must be 1–64 printable ASCII characters');
}
