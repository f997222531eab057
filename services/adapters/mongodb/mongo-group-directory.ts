import type { Collection } from 'mongodb';
import type {
  Group,
  GroupDirectory,
  GroupMember,
  GroupPageOptions,
  GroupPatch,
  GroupRole,
  Membership,
} from '../../ports/group-directory.js';
import { DUPLICATE_KEY, docId, type GroupDoc, type GroupMemberDoc, ONE_BATCH, upsertEach } from './mongo-database.js';

function toGroup(d: GroupDoc): Group {
  return {
    groupId: d.groupId,
    name: d.name,
    owner: d.owner,
    createdAt: d.createdAt,
    muteAll: d.muteAll,
    dissolvedSeq: d.dissolvedSeq,
    diffusion: d.diffusion === 'read' ? 'read' : 'write',
  };
}

function toMember(d: GroupMemberDoc): GroupMember {
  return { userId: d.userId, role: d.role as GroupRole, joinedSeq: d.joinedSeq, leftSeq: d.leftSeq, muted: d.muted };
}

/** Groups and members as documents, one per member, so that a group of any size is never one document. */
export class MongoGroupDirectory implements GroupDirectory {
  constructor(
    private readonly groups: Collection<GroupDoc>,
    private readonly groupMembers: Collection<GroupMemberDoc>,
  ) {}

  async create(appId: string, group: Group): Promise<boolean> {
    try {
      await this.groups.insertOne({ _id: docId(appId, group.groupId), appId, ...group });
      return true;
    } catch (err) {
      if ((err as { code?: unknown })?.code === DUPLICATE_KEY) return false;
      throw err;
    }
  }

  async get(appId: string, groupId: string): Promise<Group | null> {
    const d = await this.groups.findOne({ _id: docId(appId, groupId) });
    return d ? toGroup(d) : null;
  }

  async update(appId: string, groupId: string, patch: GroupPatch): Promise<void> {
    const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length > 0) await this.groups.updateOne({ _id: docId(appId, groupId) }, { $set: set });
  }

  async putMembers(appId: string, groupId: string, members: GroupMember[]): Promise<void> {
    await upsertEach(
      this.groupMembers,
      members.map((m) => ({ filter: { _id: docId(appId, groupId, m.userId) }, update: { $set: { appId, groupId, ...m } } })),
      8,
    );
  }

  async member(appId: string, groupId: string, userId: string): Promise<GroupMember | null> {
    const d = await this.groupMembers.findOne({ _id: docId(appId, groupId, userId) });
    return d ? toMember(d) : null;
  }

  async members(appId: string, groupId: string, page: GroupPageOptions): Promise<GroupMember[]> {
    const filter = {
      appId,
      groupId,
      ...(page.after !== undefined && { userId: { $gt: page.after } }),
      ...(page.current && { leftSeq: 0 }),
    };
    const docs = await this.groupMembers.find(filter, { batchSize: ONE_BATCH }).sort({ userId: 1 }).limit(page.limit).toArray();
    return docs.map(toMember);
  }

  async count(appId: string, groupId: string): Promise<number> {
    return this.groupMembers.countDocuments({ appId, groupId, leftSeq: 0 });
  }

  async membershipsOf(appId: string, userId: string, limit: number): Promise<Membership[]> {
    const docs = await this.groupMembers.find({ appId, userId }, { batchSize: ONE_BATCH }).limit(limit).toArray();
    return docs.map((d) => ({ ...toMember(d), groupId: d.groupId }));
  }
}
