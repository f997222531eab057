// The SDK's public data types: what events carry and what methods return.
import type { ImClientError } from './client-error.js';
import type { SendAck } from './conversation-sender.js';

export type ConnectionState = 'idle' | 'connecting' | 'online' | 'offline' | 'kicked';
export type PlatformName = 'web' | 'ios' | 'android' | 'desktop' | 'server';
export type MessageKindName = 'normal' | 'recall' | 'system';
export type KickReasonName = 'login-elsewhere' | 'token-revoked' | 'token-expired' | 'admin' | 'unspecified';

export interface ChatMessage {
  conversation: string;
  /** Position in the conversation: the order every device shows. */
  seq: number;
  /** 64-bit time-ordered id, decimal. */
  msgId: string;
  sender: string;
  senderDevice: string;
  clientMsgId: string;
  /** Server time, ms since epoch. */
  ts: number;
  kind: MessageKindName;
  contentType: string;
  body: Uint8Array;
  /** The body as UTF-8 text when contentType is "text". */
  text?: string;
  /** The message was recalled; its body is gone. */
  recalled: boolean;
  /** For kind "recall": the seq it recalls. */
  recallsSeq: number;
  /** Sent by the signed-in user (from this or another device). */
  own: boolean;
  /** Sent by the app's backend as the system sender (sender "@system"), never by a user: show it as the app's own notice. */
  system?: true;
  /** For kind "system" in a group: the membership or settings change it records. */
  groupEvent?: GroupEvent;
  /** Group chat: the members this message @mentions. */
  mentions?: string[];
  /** It @mentions the signed-in user. */
  mentionsMe?: boolean;
  /** contentType "file" or "image": the file it carries, as the server recorded it. */
  file?: FileInfo;
}

/** A stored file, as a file message carries it (ChatMessage.file). */
export interface FileInfo {
  fileId: string;
  name: string;
  size: number;
  /** Hex MD5 of the whole file. */
  md5: string;
  /** The file's own MIME type, e.g. "image/png". */
  contentType: string;
  /** Images: pixels. */
  width?: number;
  height?: number;
  /** A thumbnail exists: fileUrl(fileId, { thumbnail: true }). */
  thumbnail: boolean;
}

/** What upload() resolves with: the file's record, ready for sendFile(). */
export interface UploadedFile extends FileInfo {
  /** The app held these bytes already: nothing was sent but the proof of possession. */
  deduplicated: boolean;
}

export interface UploadOptions {
  /** The file name the receivers see. */
  name: string;
  /** The file's MIME type, e.g. "image/png" ("application/octet-stream" when unknown). */
  contentType: string;
  /** Bytes the server holds of `total`, after each accepted chunk (and at the start of a resumed upload). */
  onProgress?(sent: number, total: number): void;
  /** Stops the upload (it rejects with the signal's reason, an AbortError); what was sent stays for a later upload() to resume. */
  signal?: AbortSignal;
}

export interface FileUrlOptions {
  /** The thumbnail (a WebP image) instead of the original. */
  thumbnail?: boolean;
  /**
   * A conversation the file was sent in, where the server finds the caller's grant. Default:
   * the conversation of the last file message with this file that this client saw.
   */
  conversation?: string;
}

/** Who of a group has read one of its messages. */
export interface ReadersResult {
  conversation: string;
  seq: number;
  readCount: number;
  /** Members at that seq, besides the asker. */
  memberCount: number;
  /** Who read it; absent for a group above the app's threshold (counts only). */
  readers?: string[];
}

export type GroupRoleName = 'owner' | 'admin' | 'member';
export type GroupEventName = 'created' | 'joined' | 'left' | 'removed' | 'role' | 'muted' | 'unmuted' | 'renamed' | 'dissolved';

/** A change of a group, as every member sees it at its seq. */
export interface GroupEvent {
  type: GroupEventName;
  actor: string;
  users: string[];
  /** created, renamed */
  name?: string;
  /** role */
  role?: GroupRoleName;
  /** muted / unmuted: the whole group (only owner and admins may send). */
  all?: boolean;
}

export interface GroupMemberInfo {
  userId: string;
  role: GroupRoleName;
  /** The member reads the group's messages from this seq on. */
  joinedSeq: number;
  muted: boolean;
}

export interface GroupMembersPage {
  groupId: string;
  name: string;
  owner: string;
  memberCount: number;
  muteAll: boolean;
  members: GroupMemberInfo[];
  /** Pass as `after` for the next page; undefined on the last page. */
  next?: string;
}

export interface CreatedGroup {
  groupId: string;
  /** "g:<groupId>" */
  conversation: string;
  /** The seq of the "created" event. */
  seq: number;
}

export interface RecallEvent {
  conversation: string;
  /** The seq of the recalled message. */
  seq: number;
  /** The seq of the recall event itself. */
  eventSeq: number;
  by: string;
  ts: number;
}

/** `user` holds the conversation up to `seq` on at least one device. */
export interface DeliveredEvent {
  conversation: string;
  user: string;
  seq: number;
}

/** `user` has read the conversation up to `seq` (the peer, or this user on another device). */
export interface ReadEvent {
  conversation: string;
  user: string;
  seq: number;
}

export interface ConversationInfo {
  conversation: string;
  /** Single chat: the other user; "" in a group. */
  peer: string;
  /** Group chat: the group id. */
  group?: string;
  maxSeq: number;
  readSeq: number;
  /** maxSeq - readSeq, never negative. */
  unread: number;
  peerReadSeq: number;
  peerDeliveredSeq: number;
  lastTs: number;
  /** Group chat: the last seq that @mentions this user, and whether it is still unread. */
  mentionedSeq: number;
  mentioned: boolean;
  lastMessage?: ChatMessage;
}

export interface KickInfo {
  reason: KickReasonName;
  message: string;
  byDevice: string;
  byPlatform: PlatformName | 'unspecified';
}

export interface StateEvent {
  state: ConnectionState;
  /** Why the state changed, e.g. an error code or "kicked". */
  reason?: string;
  /** offline: whether the client will reconnect by itself. */
  willReconnect: boolean;
  /** When it reconnects (ms from now). */
  retryInMs?: number;
  kick?: KickInfo;
}

export interface SyncedEvent {
  /** Conversations this user has. */
  conversations: number;
  /** Messages (incl. recall events and empty slots) the sync delivered. */
  messages: number;
  /** Sync requests it took. */
  pages: number;
}

/**
 * Seqs this device will never receive as messages: `empty` (allocated but never acknowledged,
 * as the server declared once its grace period passed), or `history` (before where a sync
 * started this device's view of a conversation it had no cursor for).
 */
export interface SkippedEvent {
  conversation: string;
  fromSeq: number;
  toSeq: number;
  reason: 'empty' | 'history' | 'not-member';
}

export interface HistoryQuery {
  fromSeq?: number;
  /** 0 or absent: up to the newest. */
  toSeq?: number;
  fromTs?: number;
  /** 0 or absent: up to now. */
  toTs?: number;
  limit?: number;
  /** Page backwards from toSeq / toTs (the page is still ascending). */
  newestFirst?: boolean;
}

export interface HistoryPage {
  conversation: string;
  /** Ascending seq; includes recall events (kind "recall") and recalled messages. */
  messages: ChatMessage[];
  hasMore: boolean;
}

export interface ReadResult {
  conversation: string;
  /** Clamped by the server to the conversation's max seq. */
  readSeq: number;
  unread: number;
}

export type SendResult = SendAck;

export interface ImClientEvents {
  message: ChatMessage;
  recall: RecallEvent;
  delivered: DeliveredEvent;
  read: ReadEvent;
  conversations: ConversationInfo[];
  state: StateEvent;
  error: ImClientError;
  synced: SyncedEvent;
  skipped: SkippedEvent;
}
