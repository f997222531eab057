import type { GateInfo, Route, Routes } from '../../ports/routes.js';
import { redisKeys } from '../../shared/topology.js';
import { script, type Redis } from './redis-client.js';

// A user's routes are one hash, connId → JSON {route, expiresAt}. Redis 7.0 has no per-field
// TTL, so each entry carries its own expiry, readers skip and purge expired ones, and the key
// itself expires after the longest TTL so that a dead user's hash disappears.
// Returns the live entries of hash KEYS[1] (ARGV[1] = now) and deletes the expired ones, in one
// step, so a fresh write is never deleted by a reader.
const LIVE_ENTRIES = `
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local e = cjson.decode(all[i + 1])
  if e.expiresAt <= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]) else table.insert(out, all[i + 1]) end
end
return out`;

const ADD = `
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
${LIVE_ENTRIES}`;

const REFRESH = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local e = cjson.decode(raw)
local now = tonumber(ARGV[2])
if e.expiresAt <= now then redis.call('HDEL', KEYS[1], ARGV[1]) return 0 end
e.expiresAt = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export class RedisRoutes implements Routes {
  private readonly addScript;
  private readonly refreshScript;
  private readonly gatesScript;

  constructor(private readonly redis: Redis, private readonly now: () => number = Date.now) {
    this.addScript = script(redis, 'imcloudRoutesAdd', 1, ADD);
    this.refreshScript = script(redis, 'imcloudRoutesRefresh', 1, REFRESH);
    this.gatesScript = script(redis, 'imcloudLiveEntries', 1, LIVE_ENTRIES);
  }

  async add(appId: string, userId: string, route: Route, ttlMs: number): Promise<Route[]> {
    const now = this.now();
    const entry: Entry<Route> = { value: route, expiresAt: now + ttlMs };
    const raw = (await this.addScript.run([redisKeys.routes(appId, userId)], [now, route.connId, JSON.stringify(entry), ttlMs])) as string[];
    return raw.map((r) => (JSON.parse(r) as Entry<Route>).value);
  }

  async refresh(appId: string, userId: string, connId: string, ttlMs: number): Promise<boolean> {
    return (await this.refreshScript.run([redisKeys.routes(appId, userId)], [connId, this.now(), ttlMs])) === 1;
  }

  async remove(appId: string, userId: string, connId: string): Promise<void> {
    await this.redis.hdel(redisKeys.routes(appId, userId), connId);
  }

  async list(appId: string, userId: string): Promise<Route[]> {
    return (await this.listMany(appId, [userId])).get(userId) ?? [];
  }

  async listMany(appId: string, userIds: string[]): Promise<Map<string, Route[]>> {
    const out = new Map<string, Route[]>();
    if (userIds.length === 0) return out;
    // Separate commands, not a pipeline of their own: they join the client's automatic pipeline
    // together with every other send's commands of this tick.
    const hashes = await Promise.all(userIds.map((u) => this.redis.hgetall(redisKeys.routes(appId, u))));
    const now = this.now();
    hashes.forEach((hash, i) => {
      const routes = Object.values(hash)
        .map((r) => JSON.parse(r) as Entry<Route>)
        .filter((e) => e.expiresAt > now)
        .map((e) => e.value);
      if (routes.length > 0) out.set(userIds[i]!, routes);
    });
    return out;
  }

  // Gates: one hash (topology.ts redisKeys.gates), gate id → flat JSON GateInfo with reportedAt
  // and expiresAt. The operator reads the same hash for connection-based autoscaling.
  async reportGate(gate: GateInfo, ttlMs: number): Promise<void> {
    const now = this.now();
    await this.redis.hset(redisKeys.gates, gate.id, JSON.stringify({ ...gate, reportedAt: now, expiresAt: now + ttlMs }));
  }

  async removeGate(gateId: string): Promise<void> {
    await this.redis.hdel(redisKeys.gates, gateId);
  }

  async listGates(): Promise<GateInfo[]> {
    const now = this.now();
    const raw = (await this.gatesScript.run([redisKeys.gates], [now])) as string[];
    return raw.map((r) => {
      const { expiresAt: _expiresAt, ...gate } = JSON.parse(r) as GateInfo & { expiresAt: number };
      return gate;
    });
  }
}
