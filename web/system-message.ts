// Messages of the app itself (ChatMessage.system: sent by the app's backend as "@system",
// docs/adr/0035-server-side-send.md): a notice across the thread, never a user's bubble, and a
// conversation named for what it is.
import { SYSTEM_SENDER } from '../protocol/conversation-id.js';

/** What the conversation list and the thread's header call the system sender. */
export const SYSTEM_TITLE = 'System';

/** A peer's name as shown: the system sender by its title, a user by their id. */
export function peerTitle(peer: string): string {
  return peer === SYSTEM_SENDER ? SYSTEM_TITLE : peer;
}

/** One system message as a line of the thread. */
export function systemItem(m: { seq?: number; text: string; ts: number; recalled: boolean }): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'system';
  li.dataset.testid = 'system-message';
  if (m.seq !== undefined) li.dataset.seq = String(m.seq);
  const label = document.createElement('span');
  label.className = 'system-label';
  label.textContent = SYSTEM_TITLE;
  const text = document.createElement('span');
  text.dataset.testid = 'message-text';
  text.textContent = m.recalled ? 'This notice was withdrawn' : m.text;
  const time = document.createElement('time');
  time.textContent = new Date(m.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  li.append(label, text, time);
  return li;
}
