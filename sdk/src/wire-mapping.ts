// Protocol messages (protocol/im.proto, as protobufjs decodes them) turned into the SDK's own
// types, and the platform names the app uses turned into the protocol's enum.
import { imcloud } from '../../protocol/gen/im.js';
import { ImClientError } from './client-error.js';
import type { SummaryInput } from './conversation-list.js';
import type { Outgoing, SendAck } from './conversation-sender.js';
import { FILE_CONTENT_TYPES, fileFromBody } from './file-ref.js';
import type {
  ChatMessage,
  DeliveredEvent,
  GroupEvent,
  GroupEventName,
  GroupMembersPage,
  GroupRoleName,
  KickInfo,
  KickReasonName,
  MessageKindName,
  PlatformName,
  ReadersResult,
} from './types.js';

export const PLATFORMS: Record<PlatformName, imcloud.v1.Platform> = {
  web: imcloud.v1.Platform.PLATFORM_WEB,
  ios: imcloud.v1.Platform.PLATFORM_IOS,
  android: imcloud.v1.Platform.PLATFORM_ANDROID,
  desktop: imcloud.v1.Platform.PLATFORM_DESKTOP,
  server: imcloud.v1.Platform.PLATFORM_SERVER,
};
const KINDS: Record<number, MessageKindName> = { 0: 'normal', 1: 'recall', 2: 'system' };
const GROUP_EVENTS: Record<number, GroupEventName> = {
  1: 'created',
  2: 'joined',
  3: 'left',
  4: 'removed',
  5: 'role',
  6: 'muted',
  7: 'unmuted',
  8: 'renamed',
  9: 'dissolved',
};
export const GROUP_ROLES: Record<number, GroupRoleName> = { 0: 'member', 1: 'admin', 2: 'owner' };
const KICK_REASONS: Record<number, KickReasonName> = { 1: 'login-elsewhere', 2: 'token-revoked', 3: 'admin', 4: 'token-expired' };

/** A received message; `own` when `userId` (the signed-in user) sent it. */
export function chatMessageFromWire(m: imcloud.v1.IMessage, userId: string | undefined): ChatMessage {
  // A plain Uint8Array view everywhere (protobufjs hands out Buffers in Node).
  const body = m.body instanceof Uint8Array ? new Uint8Array(m.body.buffer, m.body.byteOffset, m.body.byteLength) : new Uint8Array(0);
  const message: ChatMessage = {
    conversation: m.conversation ?? '',
    seq: Number(m.seq ?? 0),
    msgId: m.msgId ?? '',
    sender: m.sender ?? '',
    senderDevice: m.senderDevice ?? '',
    clientMsgId: m.clientMsgId ?? '',
    ts: Number(m.ts ?? 0),
    kind: KINDS[m.kind ?? 0] ?? 'normal',
    contentType: m.contentType ?? '',
    body,
    recalled: m.recalled ?? false,
    recallsSeq: Number(m.recallsSeq ?? 0),
    own: m.sender === userId,
  };
  if (m.system) message.system = true;
  if (message.contentType === 'text' && !message.recalled) message.text = new TextDecoder().decode(body);
  addFile(message);
  if (message.kind === 'system' && message.contentType === 'group-event') message.groupEvent = groupEventFromBody(body);
  if (m.mentions?.length) {
    message.mentions = m.mentions;
    if (userId !== undefined && m.mentions.includes(userId)) message.mentionsMe = true;
  }
  return message;
}

/** A file message (contentType "file" or "image") names its file in a FileRef body. */
function addFile(message: ChatMessage): void {
  if (message.kind !== 'normal' || message.recalled || !FILE_CONTENT_TYPES.has(message.contentType)) return;
  const file = fileFromBody(message.body);
  if (file) message.file = file;
}

/** A group's system message body; undefined when it cannot be read (a newer server's event). */
function groupEventFromBody(body: Uint8Array): GroupEvent | undefined {
  try {
    const e = imcloud.v1.GroupEvent.decode(body);
    const type = GROUP_EVENTS[e.type];
    if (!type) return undefined;
    const event: GroupEvent = { type, actor: e.actor, users: e.users };
    if (e.name) event.name = e.name;
    if (type === 'role') event.role = GROUP_ROLES[e.role] ?? 'member';
    if (e.all) event.all = true;
    return event;
  } catch {
    return undefined;
  }
}

/**
 * The message an own send (or recall) became, built from the request and its ack: the server
 * does not push it back to the connection that sent it.
 */
export function ownMessageFromAck(out: Outgoing, ack: SendAck, userId: string | undefined, deviceId: string): ChatMessage {
  const send = out.body.send;
  const recall = out.body.recall;
  const message: ChatMessage = {
    conversation: ack.conversation,
    seq: ack.seq,
    msgId: ack.msgId,
    sender: userId ?? '',
    senderDevice: deviceId,
    clientMsgId: ack.clientMsgId,
    ts: ack.ts,
    kind: recall ? 'recall' : 'normal',
    contentType: recall ? 'recall' : (out.ownView?.contentType ?? send?.contentType ?? 'text'),
    body: out.ownView?.body ?? send?.body ?? new Uint8Array(0),
    recalled: false,
    recallsSeq: recall ? Number(recall.seq) : 0,
    own: true,
  };
  if (message.contentType === 'text') message.text = new TextDecoder().decode(message.body);
  addFile(message);
  if (send?.mentions?.length) message.mentions = send.mentions;
  return message;
}

export function sendAckFromWire(a: imcloud.v1.SendAck): SendAck {
  return {
    clientMsgId: a.clientMsgId,
    conversation: a.conversation,
    seq: Number(a.seq),
    msgId: a.msgId,
    ts: Number(a.ts),
    duplicate: a.duplicate,
  };
}

/** A DeliveryNotice or a ReadNotice: `user` holds (or has read) the conversation up to `seq`. */
export function noticeFromWire(n: imcloud.v1.DeliveryNotice | imcloud.v1.ReadNotice): DeliveredEvent {
  return { conversation: n.conversation, user: n.user, seq: Number(n.seq) };
}

export function summaryFromWire(c: imcloud.v1.ConversationSummary): SummaryInput {
  return {
    conversation: c.conversation,
    peer: c.peer,
    maxSeq: Number(c.maxSeq),
    readSeq: Number(c.readSeq),
    peerReadSeq: Number(c.peerReadSeq),
    peerDeliveredSeq: Number(c.peerDeliveredSeq),
    lastTs: Number(c.lastTs),
    mentionedSeq: Number(c.mentionedSeq),
  };
}

export function kickFromWire(k: imcloud.v1.Kick): KickInfo {
  return {
    reason: KICK_REASONS[k.reason] ?? 'unspecified',
    message: k.message,
    byDevice: k.byDevice,
    byPlatform: (Object.keys(PLATFORMS) as PlatformName[]).find((p) => PLATFORMS[p] === k.byPlatform) ?? 'unspecified',
  };
}

export function errorFromWire(e: imcloud.v1.Error): ImClientError {
  return new ImClientError(e.code, e.message, e.retryAfterMs, e.fatal);
}

export function groupMembersFromWire(p: imcloud.v1.GroupMembersPage): GroupMembersPage {
  return {
    groupId: p.groupId,
    name: p.name,
    owner: p.owner,
    memberCount: p.memberCount,
    muteAll: p.muteAll,
    members: (p.members as imcloud.v1.GroupMember[]).map((m) => ({
      userId: m.userId,
      role: GROUP_ROLES[m.role] ?? 'member',
      joinedSeq: Number(m.joinedSeq),
      muted: m.muted,
    })),
    ...(p.nextAfter && { next: p.nextAfter }),
  };
}

export function readersFromWire(r: imcloud.v1.ReadersResult): ReadersResult {
  return {
    conversation: r.conversation,
    seq: Number(r.seq),
    readCount: r.readCount,
    memberCount: r.memberCount,
    ...(!r.countedOnly && { readers: r.readers }),
  };
}
