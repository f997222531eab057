// The events a webhook receives (docs/webhooks.md, ADR 0037): built by logic from a message it
// accepted, carried on the bus as the very JSON the receiver gets, so the deliverer signs and
// sends the bytes it took off the queue. Each has an idempotency id: a redelivery sends it again
// with the same id.
import { createHash } from 'node:crypto';
import { groupOf } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { WebhookEventType } from '../ports/app-registry.js';
import type { StoredMessage } from '../ports/stored-message.js';

const Kind = imcloud.v1.MessageKind;
const KIND_NAMES: Record<number, string> = {
  [Kind.MESSAGE_KIND_NORMAL]: 'normal',
  [Kind.MESSAGE_KIND_RECALL]: 'recall',
  [Kind.MESSAGE_KIND_SYSTEM]: 'system',
};

export interface WebhookEvent {
  /** The idempotency id: the same for every delivery of this event. */
  id: string;
  type: WebhookEventType;
  appId: string;
  /** When the event happened (the message's time, ms). */
  createdAt: number;
  conversation: string;
  seq: number;
  message: {
    msgId: string;
    sender: string;
    senderDevice: string;
    kind: string;
    contentType: string;
    /** The body, base64. */
    body: string;
    ts: number;
    recallsSeq?: number;
    mentions?: string[];
  };
}

/** Which event an accepted message is: a recall, a group's system message (a change of the group), or a message. */
export function eventTypeOf(m: Pick<StoredMessage, 'kind' | 'conversation'>): WebhookEventType {
  if (m.kind === Kind.MESSAGE_KIND_RECALL) return 'message.recalled';
  if (m.kind === Kind.MESSAGE_KIND_SYSTEM && groupOf(m.conversation) !== null) return 'group.changed';
  return 'message.sent';
}

export function eventOf(appId: string, m: StoredMessage): WebhookEvent {
  const type = eventTypeOf(m);
  return {
    id: `${type}.${m.msgId}`,
    type,
    appId,
    createdAt: m.ts,
    conversation: m.conversation,
    seq: m.seq,
    message: {
      msgId: m.msgId,
      sender: m.sender,
      senderDevice: m.senderDevice,
      kind: KIND_NAMES[m.kind] ?? 'normal',
      contentType: m.contentType,
      body: Buffer.from(m.body).toString('base64'),
      ts: m.ts,
      ...(m.recallsSeq > 0 && { recallsSeq: m.recallsSeq }),
      ...(m.mentions && m.mentions.length > 0 && { mentions: m.mentions }),
    },
  };
}

/** A read receipt: `user` has read `conversation` up to `seq`. */
export interface ReadEvent {
  id: string;
  type: 'message.read';
  appId: string;
  createdAt: number;
  conversation: string;
  seq: number;
  user: string;
}

export function readEventOf(appId: string, user: string, conversation: string, seq: number, now: number): ReadEvent {
  // The same receipt (user, conversation, seq) has the same id, however often it is reported.
  const key = createHash('sha256').update(`${user}\u0000${conversation}\u0000${seq}`).digest('hex').slice(0, 32);
  return { id: `message.read.${key}`, type: 'message.read', appId, createdAt: now, conversation, seq, user };
}

/**
 * A user's presence: `user.online` when a connection logs in and is the user's only one,
 * `user.offline` when the user's last connection closes. The deliverer debounces them (ADR 0037).
 */
export interface PresenceEvent {
  id: string;
  type: 'user.online' | 'user.offline';
  appId: string;
  createdAt: number;
  /** Empty: a presence event belongs to no conversation; its lane is the user's. */
  conversation: '';
  seq: 0;
  user: string;
  deviceId: string;
}

export function presenceEventOf(
  appId: string,
  type: PresenceEvent['type'],
  user: string,
  connId: string,
  deviceId: string,
  now: number,
): PresenceEvent {
  const key = createHash('sha256').update(`${user}\u0000${connId}`).digest('hex').slice(0, 32);
  return { id: `${type}.${key}`, type, appId, createdAt: now, conversation: '', seq: 0, user, deviceId };
}

/** A file uploaded (or added by a proof of possession) to the app: its record, not its bytes. */
export interface FileEvent {
  id: string;
  type: 'file.uploaded';
  appId: string;
  createdAt: number;
  /** Empty: a file belongs to no conversation; its lane is the uploader's. */
  conversation: '';
  seq: 0;
  user: string;
  file: { fileId: string; md5: string; size: number; name: string; contentType: string; deduplicated: boolean };
}

export function fileEventOf(
  appId: string,
  file: { fileId: string; md5: string; size: number; name: string; contentType: string; uploader: string; createdAt: number },
  deduplicated: boolean,
): FileEvent {
  const { fileId, md5, size, name, contentType } = file;
  return {
    id: `file.uploaded.${fileId}`,
    type: 'file.uploaded',
    appId,
    createdAt: file.createdAt,
    conversation: '',
    seq: 0,
    user: file.uploader,
    file: { fileId, md5, size, name, contentType, deduplicated },
  };
}

/** The order an event keeps: its conversation's, or for presence its user's. */
export function laneOf(e: { conversation: string; user?: string }): string {
  return e.conversation || `user:${e.user ?? ''}`;
}

export function encodeEvent(e: WebhookEvent | ReadEvent | PresenceEvent | FileEvent): Uint8Array {
  return Buffer.from(JSON.stringify(e));
}

/** What the deliverer needs of an event off the bus; throws on anything that is not one (it is dead-lettered). */
export type EventHead = Pick<WebhookEvent, 'id' | 'type' | 'appId' | 'createdAt' | 'conversation' | 'seq'> & { user?: string };

export function decodeEvent(body: Uint8Array): EventHead {
  const e = JSON.parse(Buffer.from(body).toString('utf8')) as Partial<WebhookEvent> & { user?: unknown };
  if (typeof e.id !== 'string' || !/^[\w.-]{1,120}$/.test(e.id)) throw new Error('webhook event without a valid id');
  if (typeof e.type !== 'string' || typeof e.appId !== 'string' || typeof e.conversation !== 'string')
    throw new Error('webhook event without type, appId or conversation');
  if (typeof e.createdAt !== 'number' || typeof e.seq !== 'number') throw new Error('webhook event without createdAt or seq');
  const user = typeof e.user === 'string' ? { user: e.user } : {};
  return { id: e.id, type: e.type, appId: e.appId, createdAt: e.createdAt, conversation: e.conversation, seq: e.seq, ...user };
}
