import type { ConversationArchive } from '../../ports/conversation-archive.js';
import type { ConversationEntry, ConversationState, ConversationTouch, CursorKind } from '../../ports/conversation-state.js';
import type { Logger } from '../../shared/logger.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

// The hot copy lives in Redis: per conversation a hash {maxSeq, lastTs}; per user a hash with
// fields r:<conv> (read cursor), d:<conv> (delivered cursor), m:<conv> (the last seq that
// @mentions the user; Redis only) and a marker __hydrated. The
// durable copy lives in a ConversationArchive (MongoDB in real-backends.ts): the consumer
// persists touches once messages are stored, and cursor moves are written behind: a move marks
// [user, conversation] in the app's dirty set (scored by when it was first marked, kept by later
// moves), and every process takes the entries older than the write-behind interval, atomically,
// and saves their current values. So a cursor is written about once per interval however many
// logic processes move it. When Redis has lost a user's hash or a conversation's meta, the first
// access merges the durable copy back (max-wise), so a Redis wipe never hides a conversation or
// moves a cursor backwards for long.

const HYDRATED = '__hydrated';

// KEYS: conv meta, the app's dirty set, then each member's hash. ARGV: seq, ts, conversation,
// the 1-based index (into KEYS) of the member who read up to seq or 0, now, and that member's
// dirty-set entry. Returns 1 if that read cursor moved.
const TOUCH = `
local seq = tonumber(ARGV[1])
local max = tonumber(redis.call('HGET', KEYS[1], 'maxSeq') or '0')
if seq > max then redis.call('HSET', KEYS[1], 'maxSeq', seq, 'lastTs', ARGV[2]) end
local conv = ARGV[3]
for i = 3, #KEYS do
  redis.call('HSETNX', KEYS[i], 'r:' .. conv, 0)
  redis.call('HSETNX', KEYS[i], 'd:' .. conv, 0)
end
local reader = tonumber(ARGV[4])
if reader > 0 and tonumber(redis.call('HGET', KEYS[reader], 'r:' .. conv)) < seq then
  redis.call('HSET', KEYS[reader], 'r:' .. conv, seq)
  redis.call('ZADD', KEYS[2], 'NX', ARGV[5], ARGV[6])
  return 1
end
return 0`;

// KEYS: conv meta, user hash, the app's dirty set. ARGV: field, seq, now, the dirty-set entry,
// the field that says the user is in the conversation (r:<conv>). Returns {value, moved} or {-2}
// (the cursor is missing from a user hash not yet hydrated), {-3} (conversation meta missing),
// {-4} (not a member). A mention cursor starts at 0 (only read and delivered ones are created by
// touch); it is not written behind. A cursor present in Redis moves even
// before the user's hash is hydrated: hydration merges max-wise, so the move survives it, and the
// send path never waits for MongoDB.
const ADVANCE = `
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur and redis.call('HEXISTS', KEYS[2], ARGV[5]) == 1 then cur = '0' end
if not cur then
  if redis.call('HEXISTS', KEYS[2], '${HYDRATED}') == 0 then return {-2, 0} end
  return {-4, 0}
end
local max = redis.call('HGET', KEYS[1], 'maxSeq')
if not max then return {-3, 0} end
cur = tonumber(cur)
local target = math.min(tonumber(ARGV[2]), tonumber(max))
if target > cur then
  redis.call('HSET', KEYS[2], ARGV[1], target)
  if ARGV[1] ~= ('m' .. string.sub(ARGV[5], 2)) then redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[4]) end
  return {target, 1}
end
return {cur, 0}`;

// Takes (removes and returns) up to ARGV[2] entries of the dirty set KEYS[1] marked at or before ARGV[1].
const TAKE_DIRTY = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due`;

/** Dirty entries taken per script call. */
const TAKE_BATCH = 200;
/**
 * A sweep spreads its writes over this share of the write-behind interval, and waits at most
 * MAX_SPACING_MS between two: back to back, the few hundred upserts of one sweep kept FerretDB and
 * PostgreSQL busy for a second, and every send on a small machine waited (ADR 0018).
 */
const PACED_SHARE = 0.8;
const MAX_SPACING_MS = 20;

// Merges values max-wise: ARGV = field, value, field, value, …
const MERGE_MAX = `
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

export class RedisConversationState implements ConversationState {
  private readonly touchScript;
  private readonly advanceScript;
  private readonly mergeScript;
  private readonly takeDirtyScript;
  /** Apps whose dirty set this process has written to: the ones it sweeps. */
  private readonly dirtyApps = new Set<string>();
  private flushTimer?: NodeJS.Timeout;
  /** The sweep under way (or the last one): sweeps run one at a time. */
  private sweeping: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly archive: ConversationArchive,
    private readonly log: Logger,
    /** A cursor move is written to the archive about this long after it was made. */
    private readonly writeBehindMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {
    this.touchScript = script(redis, 'imcloudConvTouch', undefined, TOUCH, { batch: true });
    this.advanceScript = script(redis, 'imcloudConvAdvance', 3, ADVANCE, { batch: true });
    this.mergeScript = script(redis, 'imcloudConvMerge', 1, MERGE_MAX);
    this.takeDirtyScript = script(redis, 'imcloudConvTakeDirty', 1, TAKE_DIRTY);
  }

  async touch(appId: string, conversation: string, members: string[], seq: number, ts: number, readBy?: string): Promise<void> {
    const keys = [
      redisKeys.conversation(appId, conversation),
      redisKeys.dirtyCursors(appId),
      ...members.map((m) => redisKeys.userConversations(appId, m)),
    ];
    const reader = readBy === undefined ? -1 : members.indexOf(readBy);
    const moved = await this.touchScript.run(keys, [
      seq,
      ts,
      conversation,
      reader >= 0 ? reader + 3 : 0,
      this.now(),
      dirtyEntry(readBy ?? '', conversation),
    ]);
    if (moved === 1) this.markedDirty(appId);
  }

  async persist(appId: string, touches: ConversationTouch[]): Promise<void> {
    await this.archive.record(appId, touches);
  }

  async maxSeq(appId: string, conversation: string): Promise<number> {
    const hot = await this.redis.hget(redisKeys.conversation(appId, conversation), 'maxSeq');
    if (hot !== null) return Number(hot);
    return (await this.hydrateConversation(appId, conversation))?.maxSeq ?? 0;
  }

  async list(appId: string, userId: string): Promise<ConversationEntry[]> {
    await this.ensureUserHydrated(appId, userId);
    const hash = await this.redis.hgetall(redisKeys.userConversations(appId, userId));
    const convs = Object.keys(hash)
      .filter((f) => f.startsWith('r:'))
      .map((f) => f.slice(2));
    return this.entries(appId, convs, hash);
  }

  async get(appId: string, userId: string, conversation: string): Promise<ConversationEntry | null> {
    await this.ensureUserHydrated(appId, userId);
    const fields = [`r:${conversation}`, `d:${conversation}`, `m:${conversation}`];
    const values = await this.redis.hmget(redisKeys.userConversations(appId, userId), ...fields);
    if (values[0] === null) return null;
    const [entry] = await this.entries(appId, [conversation], Object.fromEntries(fields.map((f, i) => [f, values[i] ?? '0'])));
    return entry ?? null;
  }

  async readCursors(appId: string, conversation: string, users: string[]): Promise<number[]> {
    const read = async () => {
      const pipeline = this.redis.pipeline();
      for (const u of users) pipeline.hmget(redisKeys.userConversations(appId, u), `r:${conversation}`, HYDRATED);
      return ((await pipeline.exec()) ?? []).map(([err, v]) => {
        if (err) throw err;
        return v as [string | null, string | null];
      });
    };
    let found = await read();
    const cold = users.filter((_, i) => found[i]![1] === null);
    if (cold.length > 0) {
      // Users whose hash Redis lost (or never had): their archived cursors first.
      await Promise.all(cold.map((u) => this.ensureUserHydrated(appId, u)));
      found = await read();
    }
    return found.map(([r]) => Number(r ?? 0));
  }

  async advance(
    appId: string,
    userId: string,
    conversation: string,
    kind: CursorKind,
    seq: number,
  ): Promise<{ value: number; moved: boolean }> {
    const field = `${kind[0]}:${conversation}`;
    const keys = [redisKeys.conversation(appId, conversation), redisKeys.userConversations(appId, userId), redisKeys.dirtyCursors(appId)];
    for (let attempt = 0; attempt < 3; attempt++) {
      const args = [field, seq, this.now(), dirtyEntry(userId, conversation), `r:${conversation}`];
      const [value, moved] = (await this.advanceScript.run(keys, args)) as [number, number];
      if (value === -2) await this.ensureUserHydrated(appId, userId);
      else if (value === -3) {
        if (!(await this.hydrateConversation(appId, conversation))) return { value: 0, moved: false };
      } else if (value === -4) return { value: 0, moved: false };
      else {
        if (moved === 1) this.markedDirty(appId);
        return { value, moved: moved === 1 };
      }
    }
    return { value: 0, moved: false };
  }

  /** Writes every cursor move still waiting (of the apps this process marked) to the archive. */
  async close(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.closed = true;
    await this.flushCursors(Infinity);
  }

  private async entries(appId: string, convs: string[], userHash: Record<string, string>): Promise<ConversationEntry[]> {
    if (convs.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const c of convs) pipeline.hmget(redisKeys.conversation(appId, c), 'maxSeq', 'lastTs');
    const metas = (await pipeline.exec()) ?? [];
    const out: ConversationEntry[] = [];
    for (let i = 0; i < convs.length; i++) {
      const conversation = convs[i]!;
      const [err, meta] = metas[i]!;
      if (err) throw err;
      let [maxSeq, lastTs] = (meta as Array<string | null>).map((v) => Number(v ?? 0)) as [number, number];
      if ((meta as Array<string | null>)[0] === null) {
        const doc = await this.hydrateConversation(appId, conversation);
        maxSeq = doc?.maxSeq ?? 0;
        lastTs = doc?.lastTs ?? 0;
      }
      out.push({
        conversation,
        maxSeq,
        lastTs,
        readSeq: Number(userHash[`r:${conversation}`] ?? 0),
        deliveredSeq: Number(userHash[`d:${conversation}`] ?? 0),
        mentionSeq: Number(userHash[`m:${conversation}`] ?? 0),
      });
    }
    return out;
  }

  /** Merges the archived max seq back into Redis. */
  private async hydrateConversation(appId: string, conversation: string): Promise<{ maxSeq: number; lastTs: number } | null> {
    const archived = await this.archive.conversation(appId, conversation);
    if (!archived) return null;
    await this.mergeScript.run([redisKeys.conversation(appId, conversation)], ['maxSeq', archived.maxSeq, 'lastTs', archived.lastTs]);
    return archived;
  }

  /** Hydrations under way in this process, so that a burst of requests of one user reads the archive once. */
  private readonly hydrating = new Map<string, Promise<void>>();

  private ensureUserHydrated(appId: string, userId: string): Promise<void> {
    const key = redisKeys.userConversations(appId, userId);
    let pending = this.hydrating.get(key);
    if (!pending) {
      pending = this.hydrateUser(key, appId, userId).finally(() => this.hydrating.delete(key));
      this.hydrating.set(key, pending);
    }
    return pending;
  }

  private async hydrateUser(key: string, appId: string, userId: string): Promise<void> {
    if (await this.redis.hexists(key, HYDRATED)) return;
    // The merge is max-wise, so cursor moves still waiting to be written are never undone by it.
    const archived = await this.archive.cursors(appId, userId);
    const args: Array<string | number> = [];
    for (const c of archived) args.push(`r:${c.conversation}`, c.readSeq, `d:${c.conversation}`, c.deliveredSeq);
    args.push(HYDRATED, 1);
    await this.mergeScript.run([key], args);
  }

  private markedDirty(appId: string): void {
    this.dirtyApps.add(appId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed || this.dirtyApps.size === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushCursors(this.now() - this.writeBehindMs)
        .catch((err: unknown) => this.log.warn({ err: String(err) }, 'cursor write-behind failed; retrying with the next sweep'))
        .finally(() => this.scheduleFlush());
    }, this.writeBehindMs);
    this.flushTimer.unref?.();
  }

  /** Takes the dirty entries marked at or before `cutoff` and saves their current cursors (one sweep at a time). */
  private flushCursors(cutoff: number): Promise<void> {
    const sweep = this.sweeping.catch(() => undefined).then(() => this.sweep(cutoff));
    this.sweeping = sweep;
    return sweep;
  }

  private async sweep(cutoff: number): Promise<void> {
    for (const appId of [...this.dirtyApps]) {
      const key = redisKeys.dirtyCursors(appId);
      // Paced, except for the last sweep on close.
      const count = cutoff === Infinity ? 0 : await this.redis.zcount(key, '-inf', cutoff);
      const spacingMs = count > 0 ? Math.min(MAX_SPACING_MS, (this.writeBehindMs * PACED_SHARE) / count) : 0;
      for (;;) {
        const due = (await this.takeDirtyScript.run([key], [cutoff === Infinity ? '+inf' : cutoff, TAKE_BATCH])) as string[];
        if (due.length > 0) await this.writeCursors(appId, key, due, spacingMs);
        if (due.length < TAKE_BATCH) break;
      }
    }
  }

  private async writeCursors(appId: string, dirtyKey: string, entries: string[], spacingMs: number): Promise<void> {
    try {
      const cursors = await Promise.all(
        entries.map(async (entry) => {
          const [userId, conversation] = JSON.parse(entry) as [string, string];
          const [read, delivered] = await this.redis.hmget(
            redisKeys.userConversations(appId, userId),
            `r:${conversation}`,
            `d:${conversation}`,
          );
          return { userId, conversation, readSeq: Number(read ?? 0), deliveredSeq: Number(delivered ?? 0) };
        }),
      );
      // One at a time, spacingMs apart: a background trickle, never a burst that the send path
      // would queue behind. Closing stops the pacing, so that shutdown is not held up.
      for (const { userId, ...c } of cursors) {
        const started = performance.now();
        await this.archive.saveCursors(appId, userId, c);
        const rest = spacingMs - (performance.now() - started);
        if (rest >= 1 && !this.closed) await new Promise((resolve) => setTimeout(resolve, rest));
      }
    } catch (err) {
      // Mark them again (as due now) for the next sweep of any process.
      const dueNow = this.now() - this.writeBehindMs;
      await this.redis.zadd(dirtyKey, 'NX', ...entries.flatMap((e) => [dueNow, e])).catch(() => undefined);
      throw err;
    }
  }
}

/** The dirty-set entry of one user's cursors in one conversation. */
function dirtyEntry(userId: string, conversation: string): string {
  return JSON.stringify([userId, conversation]);
}
