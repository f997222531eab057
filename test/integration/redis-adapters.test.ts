// The port contracts against the Redis adapters (and Redis + MongoDB where an adapter uses both).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryConversationArchive } from '../../services/adapters/memory/memory-conversation-archive.js';
import { MemoryGroupDirectory } from '../../services/adapters/memory/memory-group-directory.js';
import { MemorySeqHighWater } from '../../services/adapters/memory/memory-seq-high-water.js';
import { MongoConversationArchive } from '../../services/adapters/mongodb/mongo-conversation-archive.js';
import type { MongoDatabase } from '../../services/adapters/mongodb/mongo-database.js';
import { MongoGroupDirectory } from '../../services/adapters/mongodb/mongo-group-directory.js';
import { MongoSeqHighWater } from '../../services/adapters/mongodb/mongo-seq-high-water.js';
import { RedisConversationState } from '../../services/adapters/redis/redis-conversation-state.js';
import { RedisDedupe } from '../../services/adapters/redis/redis-dedupe.js';
import { RedisGroupCache } from '../../services/adapters/redis/redis-group-cache.js';
import { RedisRateLimiter } from '../../services/adapters/redis/redis-rate-limiter.js';
import { RedisRecentWindow } from '../../services/adapters/redis/redis-recent-window.js';
import { RedisRoutes } from '../../services/adapters/redis/redis-routes.js';
import { RedisSeqAllocator } from '../../services/adapters/redis/redis-seq-allocator.js';
import { RedisWorkerIds } from '../../services/adapters/redis/redis-worker-ids.js';
import { conversationStateContract } from '../../services/ports/conversation-state.contract.js';
import { dedupeContract } from '../../services/ports/dedupe.contract.js';
import { groupDirectoryContract } from '../../services/ports/group-directory.contract.js';
import type { Group, GroupMember } from '../../services/ports/group-directory.js';
import { rateLimiterContract } from '../../services/ports/rate-limiter.contract.js';
import { recentWindowContract } from '../../services/ports/recent-window.contract.js';
import { routesContract } from '../../services/ports/routes.contract.js';
import { seqAllocatorContract } from '../../services/ports/seq-allocator.contract.js';
import { workerIdsContract } from '../../services/ports/worker-ids.contract.js';
import { redisKeys } from '../../services/shared/topology.js';
import { connectMongo, connectRedis, requireEnv, silentLog } from './real-clients.js';

let redis: Redis;
let mongo: MongoDatabase;

beforeAll(async () => {
  redis = await connectRedis();
  mongo = await connectMongo();
});
afterAll(async () => {
  await mongo?.db.dropDatabase();
  await mongo?.close();
  redis?.disconnect();
});

const none = async () => {};

type Method = (...args: unknown[]) => unknown;

/** `target` with one method replaced by `wrap(original)`; everything else as it is. */
function withMethod<T extends object>(target: T, method: string, wrap: (original: Method) => Method): T {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop, t) as unknown;
      if (typeof value !== 'function') return value;
      const bound = (value as Method).bind(t);
      return prop === method ? wrap(bound) : bound;
    },
  });
}

routesContract('redis', async () => ({ routes: new RedisRoutes(redis), peer: new RedisRoutes(redis), cleanup: none }));
seqAllocatorContract('redis + mongodb high-water mark', async () => ({
  seq: new RedisSeqAllocator(redis, new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks), 100),
  cleanup: none,
}));
// The Redis allocator needs no MongoDB: its durable half is a port.
seqAllocatorContract('redis + in-memory high-water mark', async () => ({
  seq: new RedisSeqAllocator(redis, new MemorySeqHighWater(), 100),
  cleanup: none,
}));
dedupeContract('redis (seqs: redis + mongodb high-water mark)', async () => {
  const seq = new RedisSeqAllocator(redis, new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks), 100);
  return { dedupe: new RedisDedupe(redis, seq), seq, cleanup: none };
});
recentWindowContract('redis', async () => ({ window: new RedisRecentWindow(redis), cleanup: none }));
/** The conversation archive on this file's MongoDB database. */
const mongoArchive = () => new MongoConversationArchive(mongo.conversations, mongo.userConversations, mongo.messages);
conversationStateContract('redis + mongodb', async () => {
  const state = new RedisConversationState(redis, mongoArchive(), silentLog);
  return { conversations: state, cleanup: () => state.close() };
});
// The Redis conversation state needs no MongoDB: its durable half is a port.
conversationStateContract('redis + in-memory archive', async () => {
  const state = new RedisConversationState(redis, new MemoryConversationArchive(), silentLog);
  return { conversations: state, cleanup: () => state.close() };
});
rateLimiterContract('redis', async () => ({ rateLimiter: new RedisRateLimiter(redis), cleanup: none }));
groupDirectoryContract('redis cache + mongodb', async () => ({
  groups: new RedisGroupCache(redis, new MongoGroupDirectory(mongo.groups, mongo.groupMembers)),
  cleanup: none,
}));
// The cache needs no MongoDB: the durable directory is a port.
groupDirectoryContract('redis cache + in-memory directory', async () => ({
  groups: new RedisGroupCache(redis, new MemoryGroupDirectory()),
  cleanup: none,
}));

describe('RedisGroupCache: every process sees every write at once; losing Redis loses nothing', () => {
  const group = (groupId: string): Group => ({
    groupId,
    name: 'G',
    owner: 'ann',
    createdAt: 1,
    muteAll: false,
    dissolvedSeq: 0,
    diffusion: 'write',
  });
  const member = (userId: string, leftSeq = 0): GroupMember => ({ userId, role: 'member', joinedSeq: 1, leftSeq, muted: false });
  const ids = (ms: GroupMember[]) => ms.map((m) => m.userId);

  it('a write through one process is seen by another that had the group cached', async () => {
    const durable = new MemoryGroupDirectory();
    const [a, b] = [new RedisGroupCache(redis, durable), new RedisGroupCache(redis, durable)];
    const [app, g] = [`app-${randomUUID()}`, `g-${randomUUID()}`];
    await a.create(app, group(g));
    await a.putMembers(app, g, [member('ann'), member('bob')]);
    expect(ids(await b.members(app, g, { limit: 10, current: true }))).toEqual(['ann', 'bob']);
    expect(await redis.exists(redisKeys.group(app, g))).toBe(1); // b's read filled the cache
    await a.putMembers(app, g, [member('bob', 7), member('cat')]);
    expect(ids(await b.members(app, g, { limit: 10, current: true }))).toEqual(['ann', 'cat']);
    expect(await b.member(app, g, 'bob')).toEqual(member('bob', 7));
    expect(await b.count(app, g)).toBe(2);
    await a.update(app, g, { diffusion: 'read' });
    expect((await b.get(app, g))?.diffusion).toBe('read');
  });

  it('a copy loaded while a write happened is not installed over it', async () => {
    const durable = new MemoryGroupDirectory();
    const writer = new RedisGroupCache(redis, durable);
    const [app, g] = [`app-${randomUUID()}`, `g-${randomUUID()}`];
    await writer.create(app, group(g));
    await writer.putMembers(app, g, [member('ann')]);
    // A reader whose load reads the old members, then a write lands before it installs its copy.
    let raced = false;
    const racing = new RedisGroupCache(
      redis,
      withMethod(durable, 'members', (original) => async (...args: unknown[]) => {
        const page = await original(...args);
        if (!raced) await writer.putMembers(app, g, [member('dan')]);
        raced = true;
        return page;
      }),
    );
    expect(ids(await racing.members(app, g, { limit: 10, current: true }))).toEqual(['ann', 'dan']);
    expect(ids(await new RedisGroupCache(redis, durable).members(app, g, { limit: 10, current: true }))).toEqual(['ann', 'dan']);
  });

  it('reads come from the durable directory when Redis lost the cache and its version', async () => {
    const durable = new MemoryGroupDirectory();
    const cache = new RedisGroupCache(redis, durable);
    const [app, g] = [`app-${randomUUID()}`, `g-${randomUUID()}`];
    await cache.create(app, group(g));
    await cache.putMembers(app, g, [member('ann'), member('eve', 3)]);
    expect(await cache.count(app, g)).toBe(1);
    await redis.del(redisKeys.group(app, g), redisKeys.groupMembers(app, g), redisKeys.groupVersion(app, g));
    expect(await cache.member(app, g, 'eve')).toEqual(member('eve', 3));
    await redis.del(redisKeys.group(app, g), redisKeys.groupMembers(app, g));
    expect(ids(await cache.members(app, g, { limit: 10, current: true }))).toEqual(['ann']);
    expect(await cache.get(app, g)).toEqual(group(g));
  });
});
// Worker ids are one global space: each test gets its own key prefix.
workerIdsContract('redis', async () => {
  const prefixed = new Redis(requireEnv('IMCLOUD_REDIS_URL'), { keyPrefix: `t-${randomUUID()}:` });
  return { workerIds: new RedisWorkerIds(prefixed), cleanup: async () => prefixed.disconnect() };
});

describe('Redis routes: what a reader holds when the hash is lost or has no version', () => {
  const route = (connId: string) => ({ connId, gateId: 'gate-a', deviceId: `dev-${connId}`, platform: 2, since: 1_700_000_000_000 });

  it('a hash that Redis lost is no route for a reader that held it, and a new one is seen', async () => {
    const [writer, reader] = [new RedisRoutes(redis), new RedisRoutes(redis)];
    const [app, user] = [`app-${randomUUID()}`, `user-${randomUUID()}`];
    await writer.add(app, user, route('c1'), 30_000);
    expect(await reader.list(app, user)).toEqual([route('c1')]);
    await redis.del(redisKeys.routes(app, user));
    expect(await reader.list(app, user)).toEqual([]);
    await writer.add(app, user, route('c2'), 30_000);
    expect(await reader.list(app, user)).toEqual([route('c2')]);
  });

  it('a hash written without a version (an older release) is read in full every time', async () => {
    const [writer, reader] = [new RedisRoutes(redis), new RedisRoutes(redis)];
    const [app, user] = [`app-${randomUUID()}`, `user-${randomUUID()}`];
    const key = redisKeys.routes(app, user);
    await redis.hset(key, 'old', JSON.stringify({ value: route('old'), expiresAt: Date.now() + 30_000 }));
    expect(await reader.list(app, user)).toEqual([route('old')]);
    await redis.hset(key, 'old2', JSON.stringify({ value: route('old2'), expiresAt: Date.now() + 30_000 }));
    expect((await reader.list(app, user)).map((r) => r.connId).sort()).toEqual(['old', 'old2']);
    await writer.remove(app, user, 'old');
    expect(await reader.list(app, user)).toEqual([route('old2')]);
    await redis.del(key);
  });
});

describe('Redis seq allocator: what only several processes show', () => {
  it('a process whose block reservation is slow never lets a later block start the conversation above 1', async () => {
    // Two clients and two allocators stand for two logic processes. A's MongoDB answers late, so
    // B reserves the second block while A still holds the first; B must not install its block first.
    const other = await connectRedis();
    try {
      const highWater = new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks);
      // A's reservation is written, then its answer is late: B starts exactly then.
      let reservedByA!: () => void;
      const aReserved = new Promise<void>((resolve) => (reservedByA = resolve));
      const slowHighWater = withMethod(highWater, 'reserve', (original) => async (...args) => {
        const result = await original(...args);
        reservedByA();
        await new Promise((r) => setTimeout(r, 150));
        return result;
      });
      const a = new RedisSeqAllocator(redis, slowHighWater, 100);
      const b = new RedisSeqAllocator(other, highWater, 100);
      const app = `app-${randomUUID().slice(0, 8)}`;
      const first = a.next(app, 's:u1:v1');
      await aReserved;
      const second = b.next(app, 's:u1:v1');
      expect([await first, await second].sort((x, y) => x - y)).toEqual([1, 2]);
      const rest = await Promise.all(Array.from({ length: 148 }, (_, i) => (i % 2 ? a : b).next(app, 's:u1:v1')));
      expect(rest.sort((x, y) => x - y)).toEqual(Array.from({ length: 148 }, (_, i) => i + 3));
    } finally {
      other.disconnect();
    }
  });

  it('grows the blocks of a busy conversation (fewer MongoDB reservations) and keeps a quiet one at the base size', async () => {
    let now = 1_000_000;
    const seq = new RedisSeqAllocator(redis, new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks), 100, 1_000, () => now);
    const app = `app-${randomUUID().slice(0, 8)}`;
    const hwm = async (conversation: string) => (await mongo.seqHighWater.findOne({ _id: `${app}/${conversation}` }))?.hwm;
    // The next block is reserved in the background: wait for it (the first block alone is 100).
    const reserved = async (conversation: string) => {
      await expect.poll(() => hwm(conversation), { timeout: 10_000 }).toBeGreaterThan(100);
      return hwm(conversation);
    };
    // Busy: 60 sends within a second; at half the first block the next is reserved for ~30 s of sends.
    for (let i = 0; i < 60; i++) {
      now += 10;
      await seq.next(app, 's:a:b');
    }
    expect(await reserved('s:a:b')).toBe(1_100);
    // Quiet: one send every 2 s (15 in 30 s); the next block stays at the base size.
    for (let i = 0; i < 60; i++) {
      now += 2_000;
      await seq.next(app, 's:c:d');
    }
    expect(await reserved('s:c:d')).toBe(200);
    expect(seq.blockSizeFor('never-seen', 5)).toBe(100);
  });

  it('conversations that start together reserve their next blocks at different seqs, none later than half the block (ADR 0018)', async () => {
    // 40 conversations send in lockstep, as the benchmark's pairs do. Reserving every next block at
    // half the first made 40 slow MongoDB writes in one moment; now each conversation reserves
    // once a fifth to a half of its block is used, at its own point.
    let round = 0;
    const reservedInRound = new Map<string, number>();
    const recorded = withMethod(new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks), 'reserve', (original) => async (...args) => {
      const id = `${args[0] as string}/${args[1] as string}`;
      if (round > 0 && !reservedInRound.has(id)) reservedInRound.set(id, round);
      return original(...args);
    });
    const seq = new RedisSeqAllocator(redis, recorded, 100);
    const app = `app-${randomUUID().slice(0, 8)}`;
    const conversations = Array.from({ length: 40 }, (_, i) => `s:u${i}:v${i}`);
    await Promise.all(conversations.map((c) => seq.next(app, c))); // the first blocks
    for (let r = 2; r <= 50; r++) {
      round = r; // a reservation's write may start a round after its trigger: counted as 50 at most
      await Promise.all(conversations.map((c) => seq.next(app, c)));
    }
    // A reservation triggered in the last round may start after it: wait until every one has.
    await expect.poll(() => conversations.every((c) => reservedInRound.has(`${app}/${c}`)), { timeout: 10_000 }).toBe(true);
    const rounds = conversations.map((c) => reservedInRound.get(`${app}/${c}`));
    // Every one reserved its next block by seq 50 (as before), none before seq 21 ...
    expect(rounds.every((r) => r !== undefined && r >= 21 && r <= 50)).toBe(true);
    // ... and they did not all do it at once.
    expect(new Set(rounds).size).toBeGreaterThanOrEqual(15);
    expect(Math.max(...(rounds as number[])) - Math.min(...(rounds as number[]))).toBeGreaterThanOrEqual(20);
  });
});

describe('Redis conversation state: cursor write-behind', () => {
  /** The MongoDB archive, counting cursor writes (one upsert each). */
  function counted() {
    const calls = { upserts: 0 };
    const archive = withMethod(mongoArchive(), 'saveCursors', (original) => (...args) => {
      calls.upserts++;
      return original(...args);
    });
    return { archive, calls };
  }
  const stored = async (app: string, user: string, conversation: string) =>
    mongo.userConversations.findOne({ _id: `${app}/${user}/${conversation}` });

  it('writes a cursor that several processes move once, with its highest value', async () => {
    const { archive, calls } = counted();
    const [a, b] = [0, 1].map(() => new RedisConversationState(redis, archive, silentLog, 60_000));
    const app = `app-${randomUUID().slice(0, 8)}`;
    await a!.touch(app, 's:u:v', ['u', 'v'], 40, 1);
    for (let seq = 1; seq <= 20; seq++) await (seq % 2 ? a! : b!).advance(app, 'v', 's:u:v', 'delivered', seq);
    await a!.close();
    await b!.close();
    expect(calls.upserts).toBe(1);
    expect(await stored(app, 'v', 's:u:v')).toMatchObject({ deliveredSeq: 20, readSeq: 0 });
  });

  it('writes moves behind by itself, and a user hash lost from Redis comes back from MongoDB', async () => {
    const state = new RedisConversationState(redis, mongoArchive(), silentLog, 100);
    const app = `app-${randomUUID().slice(0, 8)}`;
    try {
      await state.touch(app, 's:u:v', ['u', 'v'], 7, 1, 'u');
      await state.advance(app, 'v', 's:u:v', 'read', 5);
      const deadline = Date.now() + 10_000;
      while (
        !((await stored(app, 'v', 's:u:v'))?.readSeq === 5 && (await stored(app, 'u', 's:u:v'))?.readSeq === 7) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await stored(app, 'u', 's:u:v')).toMatchObject({ readSeq: 7 });
      expect(await stored(app, 'v', 's:u:v')).toMatchObject({ readSeq: 5 });
      await redis.del(`imcloud:{${app}}:convs:v`);
      expect(await state.get(app, 'v', 's:u:v')).toMatchObject({ readSeq: 5, maxSeq: 7 });
    } finally {
      await state.close();
    }
  });

  it('a sweep spaces its writes out instead of sending them back to back; closing writes the rest at once (ADR 0018)', async () => {
    const app = `app-${randomUUID().slice(0, 8)}`;
    const starts: number[] = [];
    const ends: number[] = [];
    const archive = withMethod(mongoArchive(), 'saveCursors', (original) => async (...args) => {
      starts.push(performance.now());
      try {
        return await original(...args);
      } finally {
        ends.push(performance.now());
      }
    });
    const gaps = () =>
      starts
        .slice(1)
        .map((t, i) => t - starts[i]!)
        .sort((a, b) => a - b);
    /** From the end of one write to the start of the next: the time the writer chose to wait. */
    const idle = () =>
      starts
        .slice(1)
        .map((t, i) => t - ends[i]!)
        .sort((a, b) => a - b);
    const allStored = async (users: string[], conversation: (u: string) => string) =>
      (await Promise.all(users.map((u) => stored(app, u, conversation(u))))).every((d) => d?.readSeq === 3);

    // Swept by its timer: 20 due cursors in a 500 ms interval are written 20 ms apart (at most).
    const paced = new RedisConversationState(redis, archive, silentLog, 500);
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    try {
      for (const u of users) await paced.touch(app, `s:${u}:w`, [u, 'w'], 3, 1, u);
      const deadline = Date.now() + 10_000;
      while (!(await allStored(users, (u) => `s:${u}:w`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(starts).toHaveLength(20);
      expect(gaps()[0]).toBeGreaterThanOrEqual(15);
    } finally {
      await paced.close();
    }

    // Closing does not pace: what is still due goes out back to back, each write starting as the
    // one before ends. (Measured from the end of a write, not its start: how long a write to
    // FerretDB takes on a busy machine is not the writer's choice.)
    starts.length = 0;
    ends.length = 0;
    const closing = new RedisConversationState(redis, archive, silentLog, 60_000);
    const others = Array.from({ length: 20 }, (_, i) => `x${i}`);
    for (const u of others) await closing.touch(app, `s:${u}:w`, [u, 'w'], 3, 1, u);
    await closing.close();
    expect(await allStored(others, (u) => `s:${u}:w`)).toBe(true);
    expect(starts).toHaveLength(20);
    expect(idle()[Math.floor(idle().length / 2)]).toBeLessThan(15);
  });
});
