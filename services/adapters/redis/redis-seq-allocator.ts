import { randomUUID } from 'node:crypto';
import type { SeqAllocator } from '../../ports/seq-allocator.js';
import type { SeqHighWater } from '../../ports/seq-high-water.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

// Seqs come from Redis (fast), in blocks reserved against a durable high-water mark (the
// SeqHighWater port: MongoDB in real-backends.ts). Every seq ever issued is ≤ the high-water
// mark, so when Redis loses a counter the next block starts above anything issued before: a seq
// is never issued twice. The price is a gap (empty slots) after such a loss, which readers
// resolve (docs/adr/0009).

/**
 * Lua: seq_next(key) returns {next seq, ceiling} of counter `key`, or {-1, 0} when the current
 * block is used up (or the counter is gone). Shared with the dedupe claim that draws a seq
 * (redis-dedupe.ts), so both take seqs from the same counter the same way.
 */
export const SEQ_NEXT_LUA = `
local function seq_next(key)
  local cur = tonumber(redis.call('HGET', key, 'cur'))
  local max = tonumber(redis.call('HGET', key, 'max'))
  if not cur or not max or cur >= max then return {-1, 0} end
  return {redis.call('HINCRBY', key, 'cur', 1), max}
end`;

const NEXT = `${SEQ_NEXT_LUA}
return seq_next(KEYS[1])`;

// Installs a reserved block (start..end). A missing counter restarts just below the block; an
// existing one only has its ceiling raised, so concurrent reservations never reuse a seq.
const INSTALL = `
local start = tonumber(ARGV[1])
local stop = tonumber(ARGV[2])
local max = tonumber(redis.call('HGET', KEYS[1], 'max'))
if not max then
  redis.call('HSET', KEYS[1], 'cur', start - 1, 'max', stop)
elseif stop > max then
  redis.call('HSET', KEYS[1], 'max', stop)
end
return 1`;

// Deletes the reservation lock KEYS[1] only if it is still ours (ARGV[1]).
const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** A block should last a conversation about this long at its current rate of sends. */
const BLOCK_TARGET_MS = 30_000;
/** Conversations whose last reservation here is older than this are forgotten (sizing memory). */
const SIZING_MEMORY_MS = 5 * 60_000;

/** A reservation holds the conversation's lock at most this long (a crashed holder frees it). */
const LOCK_MS = 5_000;
/** A send waits at most this long for a block (longer than a dead holder's lock). */
const WAIT_MS = 8_000;

/**
 * The share of a block still unused when the next one is reserved: 0.5 to 0.8, fixed per
 * conversation (FNV-1a of its key), so the reservations of many conversations spread out.
 */
export function reserveAt(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return 0.5 + 0.3 * ((h >>> 0) / 0x1_0000_0000);
}

export class RedisSeqAllocator implements SeqAllocator {
  private readonly nextScript;
  private readonly installScript;
  private readonly unlockScript;
  /** One reservation at a time per conversation in this process. */
  private readonly reserving = new Map<string, Promise<void>>();
  /** Per conversation: the seq and time of this process's last reservation, and its size. */
  private readonly sizing = new Map<string, { seq: number; at: number; size: number }>();
  private sizingSweepAt = 0;

  /**
   * Blocks start at `blockSize` and grow, up to `maxBlockSize`, to what a busy conversation
   * sends in BLOCK_TARGET_MS: a reservation is a slow durable write (MongoDB, ADR 0011), while
   * a conversation's gap after Redis loses its data is at most two blocks (ADR 0009).
   */
  constructor(
    private readonly redis: Redis,
    private readonly highWater: SeqHighWater,
    private readonly blockSize = 100,
    private readonly maxBlockSize = 1_000,
    private readonly now: () => number = Date.now,
  ) {
    this.nextScript = script(redis, 'imcloudSeqNext', 1, NEXT, { batch: true });
    this.installScript = script(redis, 'imcloudSeqInstall', 1, INSTALL);
    this.unlockScript = script(redis, 'imcloudSeqUnlock', 1, UNLOCK);
  }

  async next(appId: string, conversation: string): Promise<number> {
    const key = redisKeys.seq(appId, conversation);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const [seq, max] = (await this.nextScript.run([key], [])) as [number, number];
      if (seq > 0) {
        this.issued(key, appId, conversation, seq, max);
        return seq;
      }
      if (Date.now() > deadline) throw new Error(`seq allocation for ${appId}/${conversation}: no block within ${WAIT_MS} ms`);
      await this.reserve(key, appId, conversation);
    }
  }

  /** A seq was taken elsewhere from this counter with SEQ_NEXT_LUA (a dedupe claim's draw). */
  drawn(appId: string, conversation: string, seq: number, max: number): void {
    this.issued(redisKeys.seq(appId, conversation), appId, conversation, seq, max);
  }

  /**
   * A fifth to a half of the block used: reserve the next one now, off the send path, so that
   * sends do not wait for MongoDB when this one runs out. If it fails, the send that finds the
   * block used up reserves (and waits) as before. Where in that range depends on the
   * conversation (reserveAt): conversations that started together, at one rate, would
   * otherwise all reserve in the same moment, a burst of slow MongoDB writes that held up
   * every send on a small machine (ADR 0018).
   */
  private issued(key: string, appId: string, conversation: string, seq: number, max: number): void {
    if (max - seq < (this.sizing.get(key)?.size ?? this.blockSize) * reserveAt(key))
      this.reserve(key, appId, conversation, seq).catch(() => undefined);
  }

  /** The next block's size: the conversation's recent rate (seen from here) times BLOCK_TARGET_MS. */
  blockSizeFor(key: string, seq: number | undefined): number {
    const last = this.sizing.get(key);
    const elapsed = last ? this.now() - last.at : Infinity;
    if (!last || elapsed > SIZING_MEMORY_MS) return this.blockSize;
    // Found the block used up (no seq at hand): at least as large as the last one.
    if (seq === undefined || seq <= last.seq) return last.size;
    const wanted = ((seq - last.seq) * BLOCK_TARGET_MS) / Math.max(1, elapsed);
    return Math.min(this.maxBlockSize, Math.max(this.blockSize, Math.ceil(wanted / this.blockSize) * this.blockSize));
  }

  private remember(key: string, seq: number, size: number): void {
    const now = this.now();
    this.sizing.set(key, { seq, at: now, size });
    if (now - this.sizingSweepAt > SIZING_MEMORY_MS) {
      this.sizingSweepAt = now;
      for (const [k, v] of this.sizing) if (now - v.at > SIZING_MEMORY_MS) this.sizing.delete(k);
    }
  }

  /**
   * Reserves the next block and installs it, holding the conversation's lock in Redis across
   * both steps: blocks are installed in the order MongoDB handed them out, so they join up and
   * no seq is skipped (two processes reserving a new conversation's first block at once would
   * otherwise let the later block be installed first, starting the conversation at 101). If
   * another process holds the lock, this waits a moment and returns; the caller tries again.
   */
  private reserve(key: string, appId: string, conversation: string, seq?: number): Promise<void> {
    let pending = this.reserving.get(key);
    if (!pending) {
      pending = (async () => {
        const lock = redisKeys.seqLock(key);
        const token = randomUUID();
        if ((await this.redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
          await new Promise((r) => setTimeout(r, 10));
          return;
        }
        try {
          const size = this.blockSizeFor(key, seq);
          const stop = await this.highWater.reserve(appId, conversation, size);
          await this.installScript.run([key], [stop - size + 1, stop]);
          this.remember(key, seq ?? stop - size, size);
        } finally {
          await this.unlockScript.run([lock], [token]).catch(() => undefined);
        }
      })().finally(() => this.reserving.delete(key));
      this.reserving.set(key, pending);
    }
    return pending;
  }

  async current(appId: string, conversation: string): Promise<number> {
    return Number((await this.redis.hget(redisKeys.seq(appId, conversation), 'cur')) ?? 0);
  }
}
