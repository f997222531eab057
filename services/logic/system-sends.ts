// Messages the app's backend sends as the system sender (ADR 0035), through the admin API: to a
// user, in the single chat of "@system" and that user, or to a group without being a member. They
// take the accept path a client's send takes (dedupe, seq, store, push); the stored sender is
// "@system", which is what marks them system on the wire (message-codec.ts).

import { assertGroupId, assertUserId, groupConversation, SYSTEM_SENDER, singleConversation } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Group } from '../ports/group-directory.js';
import type { Caller } from './caller.js';
import { writeDiffusionMax } from './diffusion.js';
import { FILE_CONTENT_TYPES } from './file-messages.js';
import { fanOutToGroup } from './group-fan-out.js';
import type { LogicContext } from './logic-context.js';
import type { SendAcceptor } from './send-acceptor.js';

const MessageKind = imcloud.v1.MessageKind;

/**
 * Whether a Send is the system sender's. Only a frame of the admin role acting as "@system" may
 * mark a message system, and nothing else is sent as "@system". A user may send TO "@system": a
 * reply to the app, which its backend hears of through its webhook (ADR 0035).
 */
export function isSystemSend(c: Caller, req: imcloud.v1.Send): boolean {
  const asSystem = c.admin && c.userId === SYSTEM_SENDER;
  if (req.system !== asSystem) throw new ImError('IM_SYSTEM_SENDER_RESERVED', 'only the admin API sends system messages');
  return asSystem;
}

export class SystemSends {
  constructor(
    private readonly cx: LogicContext,
    private readonly acceptor: SendAcceptor,
  ) {}

  /** A system message, its body and content type already checked by the caller. */
  async send(c: Caller, reqId: number, req: imcloud.v1.Send): Promise<void> {
    // A file message names a file of its sender; the system sender owns none.
    if (FILE_CONTENT_TYPES.has(req.contentType)) throw new ImError('IM_BAD_REQUEST', 'a system message cannot carry a file');
    const content = { kind: MessageKind.MESSAGE_KIND_NORMAL, contentType: req.contentType || 'text', body: req.body, recallsSeq: 0 };
    if (req.groupId) return this.sendToGroup(c, reqId, req, content);
    assertUserId(req.to, 'to');
    // Only the user's conversation index is touched: the system sender keeps none, which would
    // grow with every user of the app.
    await this.acceptor.accept(c, reqId, req.clientMsgId, [req.to], {
      conversation: singleConversation(SYSTEM_SENDER, req.to),
      ...content,
    });
  }

  private async sendToGroup(
    c: Caller,
    reqId: number,
    req: imcloud.v1.Send,
    content: { kind: number; contentType: string; body: Uint8Array; recallsSeq: number },
  ): Promise<void> {
    assertGroupId(req.groupId);
    const group = await this.cx.backends.groups.get(c.appId, req.groupId);
    if (!group) throw new ImError('IM_GROUP_NOT_FOUND', `no group "${req.groupId}" in this app`);
    if (group.dissolvedSeq > 0) throw new ImError('IM_GROUP_DISSOLVED');
    await this.acceptor.accept(
      c,
      reqId,
      req.clientMsgId,
      await this.indexedBy(c, group),
      { conversation: groupConversation(req.groupId), ...content },
      { fanOut: (m) => fanOutToGroup(this.cx, c, req.groupId, m) },
    );
  }

  /** In write diffusion every current member's index (read up to twice the threshold, ADR 0030); in read diffusion nobody's. */
  private async indexedBy(c: Caller, group: Group): Promise<string[]> {
    if (group.diffusion === 'read') return [];
    const limit = 2 * (await writeDiffusionMax(this.cx, c.appId));
    const members = await this.cx.backends.groups.members(c.appId, group.groupId, { limit, current: true });
    return members.map((m) => m.userId);
  }
}
