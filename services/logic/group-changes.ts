// Group membership and settings (architecture.md §2a). Every change is a system message in the
// group's own seq, accepted like any message (dedupe by client_msg_id, ack after the store's
// confirm), so a retry gets the first ack and every member agrees on who was a member at each
// seq. Member records are written around the event so that nobody reads or receives a seq they
// may not: a joiner is recorded (from the next seq) before the event and moved to its seq after;
// a leaver is closed at the current max seq before the event and moved to its seq after.

import { createHash } from 'node:crypto';
import { assertGroupId, assertUserId, groupConversation, SYSTEM_SENDER } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Group, GroupMember, GroupRole } from '../ports/group-directory.js';
import type { Caller } from './caller.js';
import type { ConversationAccess, GroupSeat } from './conversation-access.js';
import { nextDiffusion, writeDiffusionMax } from './diffusion.js';
import { fanOutToGroup } from './group-fan-out.js';
import type { LogicContext } from './logic-context.js';
import type { Ack, SendAcceptor } from './send-acceptor.js';
import { checkClientMsgId } from './sends.js';

const EventType = imcloud.v1.GroupEventType;
/** Events that change a group's size. */
const RESIZING = new Set<number>([EventType.GROUP_EVENT_JOINED, EventType.GROUP_EVENT_LEFT, EventType.GROUP_EVENT_REMOVED]);
const MAX_NAME = 100;
const MEMBERS_PAGE_MAX = 500;

export const ROLE_OF: Record<number, GroupRole> = { 0: 'member', 1: 'admin', 2: 'owner' };
export const WIRE_ROLE: Record<GroupRole, imcloud.v1.GroupRole> = { member: 0, admin: 1, owner: 2 };

/** One change: the event to store, the users it touches, and the member records to write before and after. */
interface Change {
  event: imcloud.v1.IGroupEvent;
  /** Their conversation index lists the group (and the actor's read cursor moves). */
  touch: string[];
  /** Users no longer members who still get this event. */
  alsoTo?: string[];
  before?: GroupMember[];
  after?: (seq: number) => GroupMember[];
  /** Only a retry is acceptable (the change is already in effect): why a new one is refused. */
  onlyRetry?: string | ImError;
}

export class GroupChanges {
  constructor(
    private readonly cx: LogicContext,
    private readonly access: ConversationAccess,
    private readonly acceptor: SendAcceptor,
  ) {}

  async create(c: Caller, reqId: number, req: imcloud.v1.GroupCreate): Promise<void> {
    checkClientMsgId(req.clientMsgId);
    const groupId = req.groupId || derivedGroupId(c.userId, req.clientMsgId);
    assertGroupId(groupId);
    const name = checkName(req.name || groupId);
    const invited = this.users(req.members, c.userId);
    await this.checkCapacity(c, invited.length + 1, 0);
    const diffusion = nextDiffusion('write', invited.length + 1, await writeDiffusionMax(this.cx, c.appId));
    const group: Group = { groupId, name, owner: c.userId, createdAt: this.cx.now(), muteAll: false, dissolvedSeq: 0, diffusion };
    const { groups } = this.cx.backends;
    const exists = new ImError('IM_GROUP_EXISTS', `group "${groupId}" exists already`);
    const created = await groups.create(c.appId, group);
    if (!created && (await groups.get(c.appId, groupId))?.owner !== c.userId) throw exists;
    const members = [{ userId: c.userId, role: 'owner' as const }, ...invited.map((userId) => ({ userId, role: 'member' as const }))];
    const fresh = await this.unrecorded(
      c,
      groupId,
      members.map((m) => m.userId),
    );
    const records = (seq: number) => members.filter((m) => fresh.has(m.userId)).map((m) => seatAt(m.userId, m.role, seq));
    await this.apply(c, reqId, req.clientMsgId, groupId, {
      event: { type: EventType.GROUP_EVENT_CREATED, actor: c.userId, users: invited, name },
      touch: members.map((m) => m.userId),
      before: records(1),
      after: records,
      // A group of this owner that exists with its owner recorded: only a retry of the create
      // that made it is answered (with its ack); a new create of the same id is refused. One
      // whose first create stopped before recording anyone is completed.
      onlyRetry: !created && !fresh.has(c.userId) ? exists : undefined,
    });
  }

  async change(c: Caller, reqId: number, req: imcloud.v1.GroupChange): Promise<void> {
    checkClientMsgId(req.clientMsgId);
    assertGroupId(req.groupId);
    const seat = await this.access.currentSeat(c, req.groupId);
    const change = await this.plan(c, seat, req);
    await this.apply(c, reqId, req.clientMsgId, req.groupId, change);
  }

  /** A page of the group's current members, for a current or former member. */
  async members(c: Caller, reqId: number, req: imcloud.v1.GroupMembersRequest): Promise<void> {
    assertGroupId(req.groupId);
    if (req.after) assertUserId(req.after, 'after');
    const { group } = await this.access.seat(c, req.groupId);
    const limit = Math.min(req.limit || 100, MEMBERS_PAGE_MAX);
    const { groups } = this.cx.backends;
    const [page, count] = await Promise.all([
      groups.members(c.appId, req.groupId, { after: req.after || undefined, limit, current: true }),
      groups.count(c.appId, req.groupId),
    ]);
    this.cx.replies.reply(c, {
      reqId,
      groupMembersPage: {
        groupId: group.groupId,
        name: group.name,
        owner: group.owner,
        memberCount: count,
        muteAll: group.muteAll,
        members: page.map((m) => ({ userId: m.userId, role: WIRE_ROLE[m.role], joinedSeq: m.joinedSeq, muted: m.muted })),
        nextAfter: page.length === limit ? page[page.length - 1]!.userId : '',
      },
    });
  }

  /** What one GroupChange does, after checking that the caller's role allows it. */
  private async plan(c: Caller, seat: GroupSeat, req: imcloud.v1.GroupChange): Promise<Change> {
    const actor = c.userId;
    const manager = seat.member.role !== 'member';
    const must = (allowed: boolean, what: string) => {
      if (!allowed) throw new ImError('IM_GROUP_FORBIDDEN', `a group ${seat.member.role} may not ${what}`);
    };
    switch (req.change) {
      case 'add':
        must(manager, 'add members');
        return this.planAdd(c, seat, this.users(req.add?.userIds ?? [], actor));
      case 'remove':
        must(manager, 'remove members');
        return this.planRemove(c, seat, this.users(req.remove?.userIds ?? [], actor), EventType.GROUP_EVENT_REMOVED);
      case 'leave':
        if (seat.member.role === 'owner') throw new ImError('IM_GROUP_FORBIDDEN', 'the owner cannot leave; dissolve the group instead');
        return this.planRemove(c, seat, [actor], EventType.GROUP_EVENT_LEFT);
      case 'role':
        must(seat.member.role === 'owner', 'change roles');
        return this.planRole(c, seat, req.role as imcloud.v1.GroupRoleChange);
      case 'mute':
        must(manager, 'mute');
        return this.planMute(c, seat, req.mute as imcloud.v1.GroupMute);
      case 'rename':
        must(manager, 'rename the group');
        return { event: { type: EventType.GROUP_EVENT_RENAMED, actor, name: checkName(req.rename?.name ?? '') }, touch: [actor] };
      case 'dissolve':
        must(seat.member.role === 'owner', 'dissolve the group');
        return {
          event: { type: EventType.GROUP_EVENT_DISSOLVED, actor },
          touch: [actor],
          after: () => [],
        };
      default:
        throw new ImError('IM_BAD_REQUEST', 'a GroupChange must name one change');
    }
  }

  private async planAdd(c: Caller, seat: GroupSeat, users: string[]): Promise<Change> {
    const { groupId } = seat.group;
    const current = await this.currentOf(c, groupId, users);
    const joining = users.filter((u) => !current.has(u));
    await this.checkCapacity(c, joining.length, await this.cx.backends.groups.count(c.appId, groupId));
    const from = (await this.cx.backends.conversations.maxSeq(c.appId, groupConversation(groupId))) + 1;
    return {
      event: { type: EventType.GROUP_EVENT_JOINED, actor: c.userId, users: joining },
      touch: [c.userId, ...joining],
      before: joining.map((u) => seatAt(u, 'member', from)),
      after: (seq) => joining.map((u) => seatAt(u, 'member', seq)),
      onlyRetry: joining.length === 0 ? 'every user named is a member already' : undefined,
    };
  }

  private async planRemove(c: Caller, seat: GroupSeat, users: string[], type: imcloud.v1.GroupEventType): Promise<Change> {
    const { groupId } = seat.group;
    const current = await this.currentOf(c, groupId, users);
    const leaving = users.filter((u) => current.has(u));
    for (const u of leaving) {
      const role = current.get(u)!.role;
      if (role === 'owner' || (role === 'admin' && seat.member.role !== 'owner'))
        throw new ImError('IM_GROUP_FORBIDDEN', `a group ${seat.member.role} may not remove the group's ${role} ${u}`);
    }
    const maxSeq = await this.cx.backends.conversations.maxSeq(c.appId, groupConversation(groupId));
    const closeAt = (seq: number) => leaving.map((u) => ({ ...current.get(u)!, leftSeq: seq }));
    return {
      event: { type, actor: c.userId, users: leaving },
      touch: [c.userId],
      alsoTo: leaving,
      // Out of every fan-out from now on; they read up to the event once it has its seq.
      before: closeAt(Math.max(1, maxSeq)),
      after: closeAt,
      onlyRetry: leaving.length === 0 ? 'none of the users named is a member' : undefined,
    };
  }

  private async planRole(c: Caller, seat: GroupSeat, req: imcloud.v1.GroupRoleChange): Promise<Change> {
    assertUserId(req.userId, 'user_id');
    const role = ROLE_OF[req.role];
    if (role === undefined || role === 'owner') throw new ImError('IM_BAD_REQUEST', 'role must be GROUP_ROLE_MEMBER or GROUP_ROLE_ADMIN');
    const target = (await this.currentOf(c, seat.group.groupId, [req.userId])).get(req.userId);
    if (!target) throw new ImError('IM_GROUP_NOT_MEMBER', `${req.userId} is not a member of this group`);
    if (target.role === 'owner') throw new ImError('IM_GROUP_FORBIDDEN', "the owner's role does not change");
    return {
      event: { type: EventType.GROUP_EVENT_ROLE, actor: c.userId, users: [req.userId], role: req.role },
      touch: [c.userId],
      after: () => [{ ...target, role }],
    };
  }

  private async planMute(c: Caller, seat: GroupSeat, req: imcloud.v1.GroupMute): Promise<Change> {
    const type = req.muted ? EventType.GROUP_EVENT_MUTED : EventType.GROUP_EVENT_UNMUTED;
    if (req.all) return { event: { type, actor: c.userId, all: true }, touch: [c.userId] };
    const users = this.users(req.userIds, '');
    const current = await this.currentOf(c, seat.group.groupId, users);
    const targets = users.filter((u) => current.has(u) && current.get(u)!.role === 'member');
    return {
      event: { type, actor: c.userId, users: targets },
      touch: [c.userId],
      after: () => targets.map((u) => ({ ...current.get(u)!, muted: req.muted })),
      onlyRetry: targets.length === 0 ? 'none of the users named is a plain member' : undefined,
    };
  }

  /** Stores the change's event in the group's seq, writing member records before and after it. */
  private async apply(c: Caller, reqId: number, clientMsgId: string, groupId: string, change: Change): Promise<Ack> {
    const { groups } = this.cx.backends;
    if (change.before && !change.onlyRetry) await groups.putMembers(c.appId, groupId, change.before);
    const ack = await this.acceptor.accept(
      c,
      reqId,
      clientMsgId,
      change.touch,
      {
        conversation: groupConversation(groupId),
        kind: imcloud.v1.MessageKind.MESSAGE_KIND_SYSTEM,
        contentType: 'group-event',
        body: imcloud.v1.GroupEvent.encode(change.event).finish(),
        recallsSeq: 0,
      },
      {
        onlyRetry: change.onlyRetry,
        fanOut: (m) => fanOutToGroup(this.cx, c, groupId, m, change.alsoTo),
        // Answered below, once the member records and the group say what the event says.
        callerAnswers: true,
      },
    );
    // Also on a retry: the records then say what the first attempt's event said.
    const records = change.after?.(ack.seq) ?? [];
    if (records.length > 0) await groups.putMembers(c.appId, groupId, records);
    if (change.event.type === EventType.GROUP_EVENT_DISSOLVED) await groups.update(c.appId, groupId, { dissolvedSeq: ack.seq });
    if (change.event.type === EventType.GROUP_EVENT_RENAMED) await groups.update(c.appId, groupId, { name: change.event.name ?? '' });
    if (change.event.all) await groups.update(c.appId, groupId, { muteAll: change.event.type === EventType.GROUP_EVENT_MUTED });
    if (RESIZING.has(change.event.type ?? 0)) await this.rediffuse(c, groupId);
    this.cx.replies.reply(c, { reqId, sendAck: ack });
    return ack;
  }

  /** After a change of size: the group's diffusion for its new member count (ADR 0030). */
  private async rediffuse(c: Caller, groupId: string): Promise<void> {
    const { groups } = this.cx.backends;
    const [group, count, threshold] = await Promise.all([
      groups.get(c.appId, groupId),
      groups.count(c.appId, groupId),
      writeDiffusionMax(this.cx, c.appId),
    ]);
    if (!group) return;
    const diffusion = nextDiffusion(group.diffusion, count, threshold);
    if (diffusion === group.diffusion) return;
    await groups.update(c.appId, groupId, { diffusion });
    this.cx.metrics.groupDiffusionSwitches.inc({ to: diffusion });
    this.cx.log.info({ appId: c.appId, groupId, members: count, threshold, diffusion }, 'group diffusion switched');
  }

  /** User ids of a change: checked, without repeats, without `except`, and not too many. */
  private users(ids: string[], except: string): string[] {
    const max = this.cx.config.logic.groupChangeMaxUsers;
    if (ids.length > max) throw new ImError('IM_BAD_REQUEST', `one change may name at most ${max} users`);
    for (const id of ids) assertUserId(id, 'member');
    // It keeps no conversation index, and no client acts as it (ADR 0035).
    if (ids.includes(SYSTEM_SENDER)) throw new ImError('IM_SYSTEM_SENDER_RESERVED', 'the system sender is no member of a group');
    return [...new Set(ids)].filter((id) => id !== except);
  }

  /** Which of `users` are current members, with their records. */
  private async currentOf(c: Caller, groupId: string, users: string[]): Promise<Map<string, GroupMember>> {
    const records = await this.recordsOf(c, groupId, users);
    return new Map(records.filter((m): m is GroupMember => m !== null && m.leftSeq === 0).map((m) => [m.userId, m]));
  }

  /** Of `users`, those without any member record in the group. */
  private async unrecorded(c: Caller, groupId: string, users: string[]): Promise<Set<string>> {
    const records = await this.recordsOf(c, groupId, users);
    return new Set(users.filter((_, i) => records[i] === null));
  }

  /** The member records of `users` (null where a user has none), in their order. */
  private recordsOf(c: Caller, groupId: string, users: string[]): Promise<Array<GroupMember | null>> {
    const { groups } = this.cx.backends;
    return Promise.all(users.map((u) => groups.member(c.appId, groupId, u)));
  }

  private async checkCapacity(c: Caller, adding: number, current: number): Promise<void> {
    const app = await this.cx.apps.get(c.appId);
    const max = app?.limits?.groupMaxMembers ?? this.cx.config.logic.groupMaxMembers;
    if (current + adding > max) throw new ImError('IM_GROUP_FULL', `the group would have ${current + adding} members; at most ${max}`);
  }
}

function seatAt(userId: string, role: GroupRole, seq: number): GroupMember {
  return { userId, role, joinedSeq: seq, leftSeq: 0, muted: false };
}

function checkName(name: string): string {
  if (name.length === 0 || name.length > MAX_NAME) throw new ImError('IM_BAD_REQUEST', `a group name has 1–${MAX_NAME} characters`);
  return name;
}

/** A group id for a create without one: the same for the creator's retries of it. */
export function derivedGroupId(userId: string, clientMsgId: string): string {
  return `g${createHash('sha256').update(`${userId}\n${clientMsgId}`).digest('base64url').slice(0, 22)}`;
}
