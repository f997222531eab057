// Replies that carry message pages are bounded by bytes, not only by message count: a page of
// 200 bodies of 32 KB each would be a 6 MB frame for a 40-byte request.
import type { StoredMessage } from '../ports/stored-message.js';

/** A message's share of a reply: its body and the fields around it (a generous estimate). */
export function wireBytes(
  m: Pick<StoredMessage, 'body' | 'conversation' | 'sender' | 'senderDevice' | 'clientMsgId' | 'contentType'>,
): number {
  return m.body.length + m.conversation.length + m.sender.length + m.senderDevice.length + m.clientMsgId.length + m.contentType.length + 48;
}

/**
 * The first messages (the last ones when `fromEnd`) that fit in `maxBytes`, and always at least
 * one, so that a reader makes progress whatever the size of one message.
 */
export function withinBytes<T>(items: T[], maxBytes: number, size: (item: T) => number, fromEnd = false): T[] {
  let used = 0;
  let n = 0;
  for (; n < items.length; n++) {
    const item = items[fromEnd ? items.length - 1 - n : n]!;
    used += size(item);
    if (used > maxBytes && n > 0) break;
  }
  return fromEnd ? items.slice(items.length - n) : items.slice(0, n);
}
