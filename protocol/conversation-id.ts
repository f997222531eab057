// Conversation ids. A single chat between a and b is "s:" + the two user ids sorted, joined by
// ":"; user ids therefore may not contain ":" (see USER_ID). A group's conversation is "g:" +
// its group id.
import { ImError } from './errors.js';

export const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
export const APP_ID = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;
export const GROUP_ID = /^[A-Za-z0-9_.@-]{1,64}$/;
/**
 * The system sender: the app's backend sending as the platform (ADR 0035). A well-formed user id,
 * so that its conversations with users are ordinary single chats, but reserved: no client acts as it.
 */
export const SYSTEM_SENDER = '@system';

export function assertUserId(userId: string, field = 'user id'): void {
  if (!USER_ID.test(userId)) throw new ImError('IM_BAD_REQUEST', `${field} must match ${USER_ID.source}`);
}

export function assertGroupId(groupId: string): void {
  if (!GROUP_ID.test(groupId)) throw new ImError('IM_BAD_REQUEST', `group id must match ${GROUP_ID.source}`);
}

export function groupConversation(groupId: string): string {
  return `g:${groupId}`;
}

/** The group id of a group conversation id, or null if it is not one. */
export function groupOf(conversation: string): string | null {
  if (!conversation.startsWith('g:')) return null;
  const groupId = conversation.slice(2);
  return GROUP_ID.test(groupId) ? groupId : null;
}

export function singleConversation(a: string, b: string): string {
  return a < b ? `s:${a}:${b}` : `s:${b}:${a}`;
}

/** The members of a single-chat conversation id, or null if it is not a well-formed one. */
export function conversationMembers(conversation: string): string[] | null {
  const parts = conversation.split(':');
  if (parts.length !== 3 || parts[0] !== 's') return null;
  const [, a, b] = parts as [string, string, string];
  if (!USER_ID.test(a) || !USER_ID.test(b) || a > b) return null;
  return [a, b];
}

/** The members, after checking that `userId` is one of them (else IM_FORBIDDEN). */
export function membersFor(conversation: string, userId: string): string[] {
  const members = conversationMembers(conversation);
  if (!members) throw new ImError('IM_BAD_REQUEST', `invalid conversation id "${conversation.slice(0, 80)}"`);
  if (!members.includes(userId)) throw new ImError('IM_FORBIDDEN', 'not a member of this conversation');
  return members;
}

export function peerOf(conversation: string, userId: string): string {
  const members = conversationMembers(conversation) ?? [];
  return members.find((m) => m !== userId) ?? userId;
}
