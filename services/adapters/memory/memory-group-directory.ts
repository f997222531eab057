import type { Group, GroupDirectory, GroupMember, GroupPageOptions, Membership } from '../../ports/group-directory.js';

/** Groups in memory, for the embedded mode and unit tests. Returns copies: callers cannot change what is stored. */
export class MemoryGroupDirectory implements GroupDirectory {
  /** appId\0groupId → group */
  private readonly groups = new Map<string, Group>();
  /** appId\0groupId → userId → member */
  private readonly memberships = new Map<string, Map<string, GroupMember>>();
  /** appId\0userId → groupIds */
  private readonly byUser = new Map<string, Set<string>>();

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

  async update(appId: string, groupId: string, patch: Partial<Pick<Group, 'name' | 'muteAll' | 'dissolvedSeq'>>): Promise<void> {
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
    const all = [...(this.memberships.get(`${appId}\u0000${groupId}`)?.values() ?? [])];
    return all
      .filter((m) => (page.after === undefined || m.userId > page.after) && (!page.current || m.leftSeq === 0))
      .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0))
      .slice(0, page.limit)
      .map((m) => ({ ...m }));
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
