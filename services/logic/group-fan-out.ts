// A group message's push (architecture.md §2a): the current members are read a page at a time,
// never all at once, and each page's routes get one downstream batch per gate; the frame is
// encoded once per message. Members whose membership starts after the message do not get it.

import { encodeFrameBody } from '../../protocol/frame-codec.js';
import { memberPages } from '../ports/group-directory.js';
import type { StoredMessage } from '../ports/stored-message.js';
import type { Caller } from './caller.js';
import type { LogicContext } from './logic-context.js';
import { toWireMessage } from './message-codec.js';

/**
 * Pushes `message` to every connection of the group's current members (and of `alsoTo`: the
 * users a change removes still get the event that removes them), except the sender's own
 * connection. Returns how many connections it went to.
 */
export async function fanOutToGroup(
  cx: LogicContext,
  c: Caller,
  groupId: string,
  message: StoredMessage,
  alsoTo: string[] = [],
): Promise<number> {
  const frame = encodeFrameBody({ push: { messages: [toWireMessage(message)] } });
  const opts = { sentAt: message.ts };
  const { groups, routes } = cx.backends;
  let pushed = 0;
  for await (const page of memberPages(groups, c.appId, groupId, { current: true })) {
    const users = page.filter((m) => m.joinedSeq <= message.seq).map((m) => m.userId);
    if (users.length > 0) pushed += cx.replies.toRoutes(c, await routes.listMany(c.appId, users), frame, opts);
  }
  if (alsoTo.length > 0) pushed += cx.replies.toRoutes(c, await routes.listMany(c.appId, alsoTo), frame, opts);
  return pushed;
}
