import type { Group, GroupDirectory, GroupMember, GroupPageOptions, GroupPatch, Membership } from '../../ports/group-directory.js';

/** Groups in memory, for the embedded mode and unit tests. Returns copies: callers cannot change what is stored. */
export class MemoryGroupDirectory implements GroupDirectory {
  /** appId\0groupId → group */
  private readonly groups = new Map<string, Group>();
  /** appId\0groupId → userId → member */
  private readonly memberships = new Map<string, Map<string, GroupMember>>();
  /** appId\0userId → groupIds */
  private readonly byUser = new Map<string, Set<string>>();
  /** appId\0groupId → its user ids in order (members are never deleted, so the size tells when it is stale). */
  private readonly sorted = new Map<string, string[]>();

  async create(appId: string, group: Group): Promise<boolean> {
    const key = `${appId}\u0000${group.groupId}`;
    if (this.groups.has(key)) return false;
    this.groups.set(key, { ...group });
    this.memberships.set(key, new Map());
    return true;
  }

  async get(appId: string, groupId: string): Promise<Group | null> {
    const g = this.groups.get(`${appId}\u0000${groupId}`);
    return g ? { ...g } : null;
  }

  async update(appId: string, groupId: string, patch: GroupPatch): Promise<void> {
    const g = this.groups.get(`${appId}\u0000${groupId}`);
    if (g) Object.assign(g, Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
  }

  async putMembers(appId: string, groupId: string, members: GroupMember[]): Promise<void> {
    const key = `${appId}\u0000${groupId}`;
    let group = this.memberships.get(key);
    if (!group) this.memberships.set(key, (group = new Map()));
    for (const m of members) {
      group.set(m.userId, { ...m });
      const userKey = `${appId}\u0000${m.userId}`;
      let ids = this.byUser.get(userKey);
      if (!ids) this.byUser.set(userKey, (ids = new Set()));
      ids.add(groupId);
    }
  }

  async member(appId: string, groupId: string, userId: string): Promise<GroupMember | null> {
    const m = this.memberships.get(`${appId}\u0000${groupId}`)?.get(userId);
    return m ? { ...m } : null;
  }

  async members(appId: string, groupId: string, page: GroupPageOptions): Promise<GroupMember[]> {
    const key = `${appId}\u0000${groupId}`;
    const group = this.memberships.get(key);
    if (!group) return [];
    const ids = this.sortedIds(key, group);
    const out: GroupMember[] = [];
    // A page starts by binary search, not by sorting the group: a fan-out reads every page.
    for (let i = page.after === undefined ? 0 : upperBound(ids, page.after); i < ids.length && out.length < page.limit; i++) {
      const m = group.get(ids[i]!)!;
      if (!page.current || m.leftSeq === 0) out.push({ ...m });
    }
    return out;
  }

  /** The group's user ids in order, sorted again only after the membership changed. */
  private sortedIds(key: string, group: Map<string, GroupMember>): string[] {
    let ids = this.sorted.get(key);
    if (!ids || ids.length !== group.size) {
      ids = [...group.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.sorted.set(key, ids);
    }
    return ids;
  }

  async count(appId: string, groupId: string): Promise<number> {
    let n = 0;
    for (const m of this.memberships.get(`${appId}\u0000${groupId}`)?.values() ?? []) if (m.leftSeq === 0) n++;
    return n;
  }

  async membershipsOf(appId: string, userId: string, limit: number): Promise<Membership[]> {
    const out: Membership[] = [];
    for (const groupId of this.byUser.get(`${appId}\u0000${userId}`) ?? []) {
      if (out.length >= limit) break;
      const m = this.memberships.get(`${appId}\u0000${groupId}`)?.get(userId);
      if (m) out.push({ ...m, groupId });
    }
    return out;
  }
}

/** The index of the first id greater than `after`. */
function upperBound(ids: string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
