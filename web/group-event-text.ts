// A group's membership or settings change as one line of the thread.
import type { GroupEvent } from '../sdk/src/index.js';

export const EVENT_TEXT: Record<GroupEvent['type'], (e: GroupEvent) => string> = {
  created: (e) => `${e.actor} created the group "${e.name}"${e.users.length ? ` with ${e.users.join(', ')}` : ''}`,
  joined: (e) => `${e.actor} added ${e.users.join(', ')}`,
  left: (e) => `${e.actor} left`,
  removed: (e) => `${e.actor} removed ${e.users.join(', ')}`,
  role: (e) => `${e.actor} made ${e.users.join(', ')} ${e.role === 'admin' ? 'an admin' : 'a member'}`,
  muted: (e) => (e.all ? `${e.actor} muted the group` : `${e.actor} muted ${e.users.join(', ')}`),
  unmuted: (e) => (e.all ? `${e.actor} unmuted the group` : `${e.actor} unmuted ${e.users.join(', ')}`),
  renamed: (e) => `${e.actor} renamed the group to "${e.name}"`,
  dissolved: (e) => `${e.actor} dissolved the group`,
};
