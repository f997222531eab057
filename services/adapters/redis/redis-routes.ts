import { randomBytes } from 'node:crypto';
import type { GateInfo, Route, Routes } from '../../ports/routes.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

// A user's routes are one hash, connId → JSON {route, expiresAt}. Redis 7.0 has no per-field
// TTL, so each entry carries its own expiry, readers skip and purge expired ones, and the key
// itself expires after the longest TTL so that a dead user's hash disappears.
//
// Every write to a user's hash also sets its field VERSION to a token never used before, so a
// reader that holds the hash as of a version knows it is current while the field says so
// (ADR 0015): sends' reads move and parse the entries only when they changed.
const VERSION = '~v';

// Returns the live entries of hash KEYS[1] (ARGV[1] = now) and deletes the expired ones, in one
// step, so a fresh write is never deleted by a reader.
const LIVE_ENTRIES = `
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if all[i] ~= '${VERSION}' then
    local e = cjson.decode(all[i + 1])
    if e.expiresAt <= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]) else table.insert(out, all[i + 1]) end
  end
end
return out`;

// ARGV: now, connId, entry, ttl, version token.
const ADD = `
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], '${VERSION}', ARGV[5])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
${LIVE_ENTRIES}`;

// ARGV: connId, now, ttl, version token.
const REFRESH = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local e = cjson.decode(raw)
local now = tonumber(ARGV[2])
if e.expiresAt <= now then redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('HSET', KEYS[1], '${VERSION}', ARGV[4]) return 0 end
e.expiresAt = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e), '${VERSION}', ARGV[4])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

// ARGV: connId, version token.
const REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], '${VERSION}', ARGV[2]) end
return 1`;

// Per key: {version} when the hash's version equals ARGV[i] (the reader's copy is current),
// else {version, entry, entry, …}. Version '0': no hash (no routes). Version '': a hash written
// without one (by an older release), never equal to a reader's.
const LIST_CHANGED = `
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HGET', KEYS[i], '${VERSION}')
  if not v then v = redis.call('EXISTS', KEYS[i]) == 1 and '' or '0' end
  if v ~= '' and v == ARGV[i] then
    out[i] = {v}
  else
    local reply = {v}
    local all = redis.call('HGETALL', KEYS[i])
    for j = 1, #all, 2 do
      if all[j] ~= '${VERSION}' then table.insert(reply, all[j + 1]) end
    end
    out[i] = reply
  end
end
return out`;

/** Users whose routes one process keeps (a bound on memory; the oldest are dropped first). */
const CACHED_USERS = 50_000;

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export class RedisRoutes implements Routes {
  private readonly addScript;
  private readonly refreshScript;
  private readonly removeScript;
  private readonly listChangedScript;
  private readonly gatesScript;
  /** Routes key → the hash's entries as of `version` (every write changes the version). */
  private readonly cache = new Map<string, { version: string; entries: Array<Entry<Route>> }>();
  /** Version tokens: this process's random prefix and a counter, so no token is ever reused. */
  private readonly tokenPrefix = randomBytes(9).toString('base64url');
  private tokens = 0;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.addScript = script(redis, 'imcloudRoutesAdd', 1, ADD);
    this.refreshScript = script(redis, 'imcloudRoutesRefresh', 1, REFRESH);
    this.removeScript = script(redis, 'imcloudRoutesRemove', 1, REMOVE);
    this.listChangedScript = script(redis, 'imcloudRoutesListChanged', undefined, LIST_CHANGED, { batch: true });
    this.gatesScript = script(redis, 'imcloudLiveEntries', 1, LIVE_ENTRIES);
  }

  private token(): string {
    return `${this.tokenPrefix}${(++this.tokens).toString(36)}`;
  }

  async add(appId: string, userId: string, route: Route, ttlMs: number): Promise<Route[]> {
    const now = this.now();
    const entry: Entry<Route> = { value: route, expiresAt: now + ttlMs };
    const raw = (await this.addScript.run(
      [redisKeys.routes(appId, userId)],
      [now, route.connId, JSON.stringify(entry), ttlMs, this.token()],
    )) as string[];
    return raw.map((r) => (JSON.parse(r) as Entry<Route>).value);
  }

  async refresh(appId: string, userId: string, connId: string, ttlMs: number): Promise<boolean> {
    return (await this.refreshScript.run([redisKeys.routes(appId, userId)], [connId, this.now(), ttlMs, this.token()])) === 1;
  }

  async remove(appId: string, userId: string, connId: string): Promise<void> {
    await this.removeScript.run([redisKeys.routes(appId, userId)], [connId, this.token()]);
  }

  async list(appId: string, userId: string): Promise<Route[]> {
    return (await this.listMany(appId, [userId])).get(userId) ?? [];
  }

  async listMany(appId: string, userIds: string[]): Promise<Map<string, Route[]>> {
    const out = new Map<string, Route[]>();
    if (userIds.length === 0) return out;
    const keys = userIds.map((u) => redisKeys.routes(appId, u));
    const held = keys.map((k) => this.cache.get(k));
    const replies = (await this.listChangedScript.run(
      keys,
      held.map((h) => h?.version ?? ''),
    )) as string[][];
    const now = this.now();
    replies.forEach(([version = '', ...raw], i) => {
      let entries: Array<Entry<Route>>;
      // The same version: the script sent no entries, the ones held are current.
      if (held[i]?.version === version) entries = held[i]!.entries;
      else {
        entries = raw.map((r) => JSON.parse(r) as Entry<Route>);
        if (version !== '') this.remember(keys[i]!, version, entries);
      }
      const routes: Route[] = [];
      for (const e of entries) if (e.expiresAt > now) routes.push(e.value);
      if (routes.length > 0) out.set(userIds[i]!, routes);
    });
    return out;
  }

  private remember(key: string, version: string, entries: Array<Entry<Route>>): void {
    this.cache.delete(key);
    this.cache.set(key, { version, entries });
    if (this.cache.size > CACHED_USERS) this.cache.delete(this.cache.keys().next().value!);
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
