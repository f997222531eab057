// Groups per app and their members (architecture.md §2a). Membership is kept per member with the
// seqs of the group's conversation that bound it: a member reads from the seq of the event that
// made them a member (joinedSeq) up to the seq of the event that ended it (leftSeq), so every
// member agrees on who was a member at each seq. Former members are kept, with their leftSeq.

export type GroupRole = 'owner' | 'admin' | 'member';
/** How a group's messages reach its members' conversation indexes (ADR 0030). */
export type Diffusion = 'write' | 'read';

export interface Group {
  groupId: string;
  name: string;
  owner: string;
  createdAt: number;
  /** Only the owner and admins may send. */
  muteAll: boolean;
  /** The seq of the event that dissolved the group; 0 while it lives. */
  dissolvedSeq: number;
  /** write: every message touches every member's index; read: only the sender's (by size, ADR 0030). */
  diffusion: Diffusion;
}

export interface GroupMember {
  userId: string;
  role: GroupRole;
  /** Reads start at this seq of the group's conversation. */
  joinedSeq: number;
  /** 0 while a member; else the last seq this user may read. */
  leftSeq: number;
  muted: boolean;
}

/** A user's membership of one group (current or former). */
export interface Membership extends GroupMember {
  groupId: string;
}

export interface GroupPageOptions {
  /** Members whose user id sorts after this one. */
  after?: string;
  limit: number;
  /** Only current members (leftSeq 0). */
  current?: boolean;
}

export type GroupPatch = Partial<Pick<Group, 'name' | 'muteAll' | 'dissolvedSeq' | 'diffusion'>>;

export interface GroupDirectory {
  /** Stores a new group; false (and nothing written) if the app has a group with that id. */
  create(appId: string, group: Group): Promise<boolean>;
  get(appId: string, groupId: string): Promise<Group | null>;
  update(appId: string, groupId: string, patch: GroupPatch): Promise<void>;
  /** Writes these member records, replacing any of the same users. */
  putMembers(appId: string, groupId: string, members: GroupMember[]): Promise<void>;
  member(appId: string, groupId: string, userId: string): Promise<GroupMember | null>;
  /** A page of members in user id order. */
  members(appId: string, groupId: string, page: GroupPageOptions): Promise<GroupMember[]>;
  /** How many current members the group has. */
  count(appId: string, groupId: string): Promise<number>;
  /** Every group the user is or was a member of (at most `limit`). */
  membershipsOf(appId: string, userId: string, limit: number): Promise<Membership[]>;
}

/** Members read per page when a whole group is walked (memberPages). */
export const MEMBER_PAGE = 1_000;

/** Every member of a group (current only with `current`), a page at a time, in user id order. */
export async function* memberPages(
  groups: Pick<GroupDirectory, 'members'>,
  appId: string,
  groupId: string,
  opts: { current?: boolean } = {},
): AsyncGenerator<GroupMember[]> {
  for (let after: string | undefined; ; ) {
    const page = await groups.members(appId, groupId, { after, limit: MEMBER_PAGE, current: opts.current });
    if (page.length > 0) yield page;
    if (page.length < MEMBER_PAGE) return;
    after = page[page.length - 1]!.userId;
  }
}

/** Whether `member` was a member at `seq` of the group's conversation (joined at or before it, not gone before it). */
export function memberAt(member: Pick<GroupMember, 'joinedSeq' | 'leftSeq'>, seq: number): boolean {
  return member.joinedSeq <= seq && (member.leftSeq === 0 || seq <= member.leftSeq);
}
