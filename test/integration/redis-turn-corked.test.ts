// The Redis client every adapter shares (services/adapters/redis/turn-corked-redis.ts) on a real
// Redis: a turn's commands leave in one socket write, in order, and every caller gets its reply.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from '../../services/adapters/redis/redis-client.js';
import { connectRedis } from './real-clients.js';

let redis: Redis;

beforeAll(async () => {
  redis = await connectRedis();
});
afterAll(() => redis?.disconnect());

/** Counts the socket writes (one per chunk, or one for a corked batch) while `run` runs. */
async function countWrites<T>(run: () => Promise<T>): Promise<{ writes: number; result: T }> {
  const socket = redis.stream as Socket & { _write: Socket['_write']; _writev?: Socket['_writev'] };
  const write = socket._write;
  const writev = socket._writev;
  let writes = 0;
  socket._write = function (...a: Parameters<Socket['_write']>) {
    writes++;
    return write.apply(this, a);
  };
  socket._writev = function (...a: Parameters<NonNullable<Socket['_writev']>>) {
    writes++;
    return writev!.apply(this, a);
  };
  try {
    const result = await run();
    return { writes, result };
  } finally {
    socket._write = write;
    socket._writev = writev;
  }
}

describe('the Redis client', () => {
  it('sends the commands of one turn in one socket write and answers each caller in order', async () => {
    const key = `imcloud:test:corked:${randomUUID()}`;
    const { writes, result } = await countWrites(() => Promise.all(Array.from({ length: 50 }, (_, i) => redis.rpush(key, String(i)))));
    expect(result).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await redis.lrange(key, 0, -1)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(writes).toBe(1);
    await redis.del(key);
  });

  it('writes again in the next turn', async () => {
    const key = `imcloud:test:corked:${randomUUID()}`;
    const { writes, result } = await countWrites(async () => {
      const first = await Promise.all([redis.incr(key), redis.incr(key)]);
      const second = await Promise.all([redis.incr(key), redis.incr(key)]);
      return [...first, ...second];
    });
    expect(result).toEqual([1, 2, 3, 4]);
    expect(writes).toBe(2);
    await redis.del(key);
  });
});
