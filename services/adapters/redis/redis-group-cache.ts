// A read-through cache in Redis in front of the durable GroupDirectory (MongoDB in
// real-backends.ts), so that a group send's checks and its fan-out's member pages do not query
// MongoDB (architecture.md §2a). Losing Redis loses nothing: the durable directory has every
// group and member, and the cache fills again on the next read.
//
// Per group: a hash (the group as `g`, every member record as `m:<user>`, current or former) and
// a sorted set of the current members' ids (paged by ZRANGEBYLEX; it also holds "", which no
// user id is, so that it exists for a group without members), both with a TTL, and a version
// counter. A read uses the cache only when both keys are there. Every write goes to the durable directory first, then bumps the version and
// drops the cached copy. A read that misses loads the durable copy and installs it only if the
// version has not moved since it started reading, so a copy read before a write is never
// installed after it.

import {
  type Group,
  type GroupDirectory,
  type GroupMember,
  type GroupPageOptions,
  type GroupPatch,
  type Membership,
  memberPages,
} from '../../ports/group-directory.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

/** A cached group lives this long after it was loaded (a bound on memory, not on staleness). */
const TTL_SEC = 300;

// KEYS: hash, ids, version. ARGV: the version read before loading, ttl, group JSON, then
// (userId, record JSON, current 0/1) triples. Installs the copy only if the version is unchanged.
const INSTALL = `
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'g', ARGV[3])
redis.call('ZADD', KEYS[2], 0, '')
for i = 4, #ARGV, 3 do
  redis.call('HSET', KEYS[1], 'm:' .. ARGV[i], ARGV[i + 1])
  if ARGV[i + 2] == '1' then redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1`;

export class RedisGroupCache implements GroupDirectory {
  private readonly installScript;

  constructor(
    private readonly redis: Redis,
    private readonly durable: GroupDirectory,
  ) {
    this.installScript = script(redis, 'imcloudGroupInstall', 3, INSTALL);
  }

  async create(appId: string, group: Group): Promise<boolean> {
    const created = await this.durable.create(appId, group);
    if (created) await this.invalidate(appId, group.groupId);
    return created;
  }

  async update(appId: string, groupId: string, patch: GroupPatch): Promise<void> {
    await this.durable.update(appId, groupId, patch);
    await this.invalidate(appId, groupId);
  }

  async putMembers(appId: string, groupId: string, members: GroupMember[]): Promise<void> {
    await this.durable.putMembers(appId, groupId, members);
    await this.invalidate(appId, groupId);
  }

  async get(appId: string, groupId: string): Promise<Group | null> {
    const cached = await this.redis.hget(redisKeys.group(appId, groupId), 'g');
    if (cached !== null) return parse<Group | null>(cached);
    return (await this.load(appId, groupId)).group;
  }

  async member(appId: string, groupId: string, userId: string): Promise<GroupMember | null> {
    const [g, m] = await this.redis.hmget(redisKeys.group(appId, groupId), 'g', `m:${userId}`);
    if (g !== null) return m === null ? null : parse<GroupMember>(m);
    return (await this.load(appId, groupId)).members.get(userId) ?? null;
  }

  async members(appId: string, groupId: string, page: GroupPageOptions): Promise<GroupMember[]> {
    // Former members are only in the hash: a page of everyone goes to the durable directory.
    if (!page.current) return this.durable.members(appId, groupId, page);
    const hash = redisKeys.group(appId, groupId);
    // After "", the placeholder: (after) excludes it, and so does starting past it.
    const from = `(${page.after ?? ''}`;
    const idsKey = redisKeys.groupMembers(appId, groupId);
    const [[, hashThere], [, idsThere], [, ids]] = (await this.redis
      .pipeline()
      .hexists(hash, 'g')
      .exists(idsKey)
      .zrangebylex(idsKey, from, '+', 'LIMIT', 0, page.limit)
      .exec()) as [[null, number], [null, number], [null, string[]]];
    if (hashThere !== 1 || idsThere !== 1) {
      await this.load(appId, groupId);
      return this.durable.members(appId, groupId, page);
    }
    if (ids.length === 0) return [];
    const records = await this.redis.hmget(hash, ...ids.map((id) => `m:${id}`));
    return records.filter((r): r is string => r !== null).map((r) => parse<GroupMember>(r));
  }

  async count(appId: string, groupId: string): Promise<number> {
    const [[, hashThere], [, n]] = (await this.redis
      .pipeline()
      .hexists(redisKeys.group(appId, groupId), 'g')
      .zcard(redisKeys.groupMembers(appId, groupId))
      .exec()) as [[null, number], [null, number]];
    // n counts the placeholder; 0 means the set is gone.
    return hashThere === 1 && n > 0 ? n - 1 : this.durable.count(appId, groupId);
  }

  membershipsOf(appId: string, userId: string, limit: number): Promise<Membership[]> {
    return this.durable.membershipsOf(appId, userId, limit);
  }

  /** After a durable write: a new version, and no cached copy (the next read loads one). */
  private async invalidate(appId: string, groupId: string): Promise<void> {
    await this.redis
      .multi()
      .incr(redisKeys.groupVersion(appId, groupId))
      .del(redisKeys.group(appId, groupId), redisKeys.groupMembers(appId, groupId))
      .exec();
  }

  /** The durable copy of a group and all its member records, installed in the cache unless a write came meanwhile. */
  private async load(appId: string, groupId: string): Promise<{ group: Group | null; members: Map<string, GroupMember> }> {
    const version = (await this.redis.get(redisKeys.groupVersion(appId, groupId))) ?? '0';
    const group = await this.durable.get(appId, groupId);
    const members = new Map<string, GroupMember>();
    if (!group) return { group, members };
    for await (const page of memberPages(this.durable, appId, groupId)) for (const m of page) members.set(m.userId, m);
    const args: Array<string | number> = [version, TTL_SEC, JSON.stringify(group)];
    for (const m of members.values()) args.push(m.userId, JSON.stringify(m), m.leftSeq === 0 ? '1' : '0');
    const keys = [redisKeys.group(appId, groupId), redisKeys.groupMembers(appId, groupId), redisKeys.groupVersion(appId, groupId)];
    await this.installScript.run(keys, args);
    return { group, members };
  }
}

function parse<T>(json: string): T {
  return JSON.parse(json) as T;
}
