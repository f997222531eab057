// The GroupDirectory contract (services/ports/group-directory.ts), written once and run against
// every adapter: the in-memory one in the `unit` project, MongoDB on FerretDB in the integration
// suites. Every test uses fresh AppIds and group ids, so one server can serve them all.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Group, GroupDirectory, GroupMember } from './group-directory.js';

export interface GroupDirectoryFixture {
  groups: GroupDirectory;
  cleanup(): Promise<void>;
}

const member = (userId: string, overrides: Partial<GroupMember> = {}): GroupMember => ({
  userId,
  role: 'member',
  joinedSeq: 1,
  leftSeq: 0,
  muted: false,
  ...overrides,
});

export function groupDirectoryContract(name: string, make: () => Promise<GroupDirectoryFixture>): void {
  describe(`GroupDirectory contract: ${name}`, () => {
    let fx: GroupDirectoryFixture;
    let groups: GroupDirectory;
    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const newGroup = (overrides: Partial<Group> = {}): Group => ({
      groupId: id('g'),
      name: 'Cats',
      owner: 'alice',
      createdAt: 1_700_000_000_123,
      muteAll: false,
      dissolvedSeq: 0,
      diffusion: 'write',
      ...overrides,
    });

    beforeEach(async () => {
      fx = await make();
      groups = fx.groups;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('create then get returns the group; a second create of the id is refused and changes nothing', async () => {
      const app = id('app');
      const g = newGroup();
      expect(await groups.create(app, g)).toBe(true);
      expect(await groups.create(app, { ...g, name: 'Dogs', owner: 'mallory' })).toBe(false);
      expect(await groups.get(app, g.groupId)).toEqual(g);
      expect(await groups.get(app, id('g'))).toBeNull();
    });

    it('a group id belongs to one app: another app neither sees it nor is refused its own', async () => {
      const [a, b] = [id('app'), id('app')];
      const g = newGroup();
      await groups.create(a, g);
      await groups.putMembers(a, g.groupId, [member('alice', { role: 'owner' })]);
      expect(await groups.get(b, g.groupId)).toBeNull();
      expect(await groups.member(b, g.groupId, 'alice')).toBeNull();
      expect(await groups.membershipsOf(b, 'alice', 10)).toEqual([]);
      expect(await groups.create(b, { ...g, name: 'Theirs' })).toBe(true);
      expect((await groups.get(a, g.groupId))?.name).toBe('Cats');
    });

    it('update changes only the fields given', async () => {
      const app = id('app');
      const g = newGroup();
      await groups.create(app, g);
      await groups.update(app, g.groupId, { muteAll: true });
      await groups.update(app, g.groupId, { name: 'Big cats' });
      await groups.update(app, g.groupId, { dissolvedSeq: 42 });
      await groups.update(app, g.groupId, { diffusion: 'read' });
      expect(await groups.get(app, g.groupId)).toEqual({ ...g, name: 'Big cats', muteAll: true, dissolvedSeq: 42, diffusion: 'read' });
    });

    it('putMembers writes and replaces member records; member reads one back', async () => {
      const app = id('app');
      const g = newGroup();
      await groups.create(app, g);
      await groups.putMembers(app, g.groupId, [member('alice', { role: 'owner' }), member('bob')]);
      await groups.putMembers(app, g.groupId, [member('bob', { role: 'admin', muted: true, joinedSeq: 1 })]);
      expect(await groups.member(app, g.groupId, 'bob')).toEqual(member('bob', { role: 'admin', muted: true }));
      expect(await groups.member(app, g.groupId, 'carol')).toBeNull();
    });

    it('members pages in user id order; current leaves out former members; count counts current ones', async () => {
      const app = id('app');
      const g = newGroup();
      await groups.create(app, g);
      const users = ['u05', 'u01', 'u04', 'u02', 'u03'];
      await groups.putMembers(
        app,
        g.groupId,
        users.map((u) => member(u)),
      );
      await groups.putMembers(app, g.groupId, [member('u02', { leftSeq: 7 })]);
      const first = await groups.members(app, g.groupId, { limit: 2 });
      expect(first.map((m) => m.userId)).toEqual(['u01', 'u02']);
      const next = await groups.members(app, g.groupId, { after: 'u02', limit: 10 });
      expect(next.map((m) => m.userId)).toEqual(['u03', 'u04', 'u05']);
      const current = await groups.members(app, g.groupId, { limit: 10, current: true });
      expect(current.map((m) => m.userId)).toEqual(['u01', 'u03', 'u04', 'u05']);
      expect(await groups.count(app, g.groupId)).toBe(4);
      expect(await groups.count(app, id('g'))).toBe(0);
    });

    it("membershipsOf lists a user's current and former groups with their seqs", async () => {
      const app = id('app');
      const [g1, g2, g3] = [newGroup(), newGroup(), newGroup()];
      for (const g of [g1, g2, g3]) await groups.create(app, g);
      await groups.putMembers(app, g1.groupId, [member('dave', { joinedSeq: 3 })]);
      await groups.putMembers(app, g2.groupId, [member('dave', { joinedSeq: 1, leftSeq: 9 })]);
      await groups.putMembers(app, g3.groupId, [member('erin')]);
      const mine = (await groups.membershipsOf(app, 'dave', 10)).sort((a, b) => a.joinedSeq - b.joinedSeq);
      expect(mine).toEqual([
        { ...member('dave', { joinedSeq: 1, leftSeq: 9 }), groupId: g2.groupId },
        { ...member('dave', { joinedSeq: 3 }), groupId: g1.groupId },
      ]);
      expect(await groups.membershipsOf(app, 'dave', 1)).toHaveLength(1);
    });
  });
}
