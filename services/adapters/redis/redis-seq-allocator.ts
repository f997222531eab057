import type { Collection } from 'mongodb';
import type { SeqAllocator } from '../../ports/seq-allocator.js';
import { redisKeys } from '../../shared/topology.js';
import { script, type Redis } from './redis-client.js';
import { docId, isDuplicateKey } from '../mongodb/mongo-database.js';

// Seqs come from Redis (fast), in blocks reserved against a high-water mark in MongoDB
// (durable). Every seq ever issued is ≤ the high-water mark, so when Redis loses a counter the
// next block starts above anything issued before: a seq is never issued twice. The price is a
// gap (empty slots) after such a loss, which readers resolve (docs/adr/0009).

// Returns {next seq, ceiling}, or {-1, 0} when the current block is used up (or the counter is gone).
const NEXT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'cur'))
local max = tonumber(redis.call('HGET', KEYS[1], 'max'))
if not cur or not max or cur >= max then return {-1, 0} end
return {redis.call('HINCRBY', KEYS[1], 'cur', 1), max}`;

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

export interface SeqHighWater {
  _id: string;
  hwm: number;
}

export class RedisSeqAllocator implements SeqAllocator {
  private readonly nextScript;
  private readonly installScript;
  /** One reservation at a time per conversation in this process. */
  private readonly reserving = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly highWater: Collection<SeqHighWater>,
    private readonly blockSize = 100,
  ) {
    this.nextScript = script(redis, 'imcloudSeqNext', 1, NEXT);
    this.installScript = script(redis, 'imcloudSeqInstall', 1, INSTALL);
  }

  async next(appId: string, conversation: string): Promise<number> {
    const key = redisKeys.seq(appId, conversation);
    const id = docId(appId, conversation);
    for (let attempt = 0; attempt < 10; attempt++) {
      const [seq, max] = (await this.nextScript.run([key], [])) as [number, number];
      if (seq > 0) {
        // Half the block used: reserve the next one now, off the send path, so that sends do not
        // wait for MongoDB when this one runs out. If it fails, the send that finds the block
        // used up reserves (and waits) as before.
        if (max - seq < this.blockSize / 2) this.reserve(key, id).catch(() => undefined);
        return seq;
      }
      await this.reserve(key, id);
    }
    throw new Error(`seq allocation for ${appId}/${conversation} kept finding its block used up`);
  }

  private reserve(key: string, id: string): Promise<void> {
    let pending = this.reserving.get(key);
    if (!pending) {
      pending = (async () => {
        const reserve = () => this.highWater.findOneAndUpdate(
          { _id: id },
          { $inc: { hwm: this.blockSize } },
          { upsert: true, returnDocument: 'after' },
        );
        // Two first reservations racing on one upsert: the loser's insert hits the unique _id
        // (E11000); by then the document exists and a second try increments it.
        const doc = await reserve().catch((err: unknown) => {
          if (isDuplicateKey(err)) return reserve();
          throw err;
        });
        const stop = doc!.hwm;
        await this.installScript.run([key], [stop - this.blockSize + 1, stop]);
      })().finally(() => this.reserving.delete(key));
      this.reserving.set(key, pending);
    }
    return pending;
  }

  async current(appId: string, conversation: string): Promise<number> {
    return Number((await this.redis.hget(redisKeys.seq(appId, conversation), 'cur')) ?? 0);
  }
}
