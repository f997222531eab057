// Who may read and write which seqs of a conversation (architecture.md §2a). A single chat is
// open to its two members from its first seq on. A group is open to a member from the seq of the
// event that made them a member to the seq of the event that ended it (or the group), and
// closed to everyone else, in its own app and from any other app (a group id is per app).

import { groupOf, membersFor } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { Group, GroupMember, Membership } from '../ports/group-directory.js';
import type { Caller } from './caller.js';
import type { LogicContext } from './logic-context.js';

/** The seqs a user may read of one conversation: from … to, both inclusive. */
export interface ReadableRange {
  from: number;
  /** Infinity while the user stays a member. */
  to: number;
}

/** A current or former member of a group, with the group. */
export interface GroupSeat {
  group: Group;
  member: GroupMember;
}

const OPEN: ReadableRange = { from: 1, to: Number.POSITIVE_INFINITY };
/** Groups one sync looks at; a user in more sees the first ones (the rest by pull and history). */
export const MAX_GROUPS_PER_USER = 10_000;

/** The last seq a member may read: where their membership, or the group, ended. */
export function lastReadable(member: Pick<GroupMember, 'leftSeq'>, group?: Pick<Group, 'dissolvedSeq'>): number {
  const ends = [member.leftSeq, group?.dissolvedSeq ?? 0].filter((s) => s > 0);
  return ends.length > 0 ? Math.min(...ends) : Number.POSITIVE_INFINITY;
}

export function readableOf(member: GroupMember | Membership, group?: Group): ReadableRange {
  return { from: member.joinedSeq, to: lastReadable(member, group) };
}

export class ConversationAccess {
  constructor(private readonly cx: LogicContext) {}

  /** The seqs of `conversation` the caller may read; IM_FORBIDDEN / IM_GROUP_* when none. */
  async readable(c: Caller, conversation: string): Promise<ReadableRange> {
    const groupId = groupOf(conversation);
    if (groupId === null) {
      membersFor(conversation, c.userId);
      return OPEN;
    }
    const { group, member } = await this.seat(c, groupId);
    return readableOf(member, group);
  }

  /** The group and the caller's (current or former) membership; IM_GROUP_NOT_FOUND / IM_GROUP_NOT_MEMBER otherwise. */
  async seat(c: Caller, groupId: string): Promise<GroupSeat> {
    const { groups } = this.cx.backends;
    const [group, member] = await Promise.all([groups.get(c.appId, groupId), groups.member(c.appId, groupId, c.userId)]);
    if (!group) throw new ImError('IM_GROUP_NOT_FOUND', `no group "${groupId}" in this app`);
    if (!member) throw new ImError('IM_GROUP_NOT_MEMBER', `${c.userId} is not a member of group "${groupId}"`);
    return { group, member };
  }

  /** As seat(), for a member now, of a group that lives: who may send and change it. */
  async currentSeat(c: Caller, groupId: string): Promise<GroupSeat> {
    const seat = await this.seat(c, groupId);
    if (seat.group.dissolvedSeq > 0) throw new ImError('IM_GROUP_DISSOLVED');
    if (seat.member.leftSeq > 0) throw new ImError('IM_GROUP_NOT_MEMBER', `${c.userId} left group "${groupId}"`);
    return seat;
  }

  /** The caller's memberships by group id (one read for a whole sync). */
  async memberships(c: Caller): Promise<Map<string, Membership>> {
    const list = await this.cx.backends.groups.membershipsOf(c.appId, c.userId, MAX_GROUPS_PER_USER);
    return new Map(list.map((m) => [m.groupId, m]));
  }
}
