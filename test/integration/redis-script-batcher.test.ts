// Batched scripts (services/adapters/redis/script-batcher.ts) on a real Redis: the batch form of
// a script gives every caller what the plain script would have, isolates a failing call, and
// really is one script call per turn.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Redis, script } from '../../services/adapters/redis/redis-client.js';
import { connectRedis } from './real-clients.js';

// Adds ARGV[1] to a counter and returns {new value, the key's tag}; fails (WRONGTYPE) on a key
// that is not a string, and raises a script error when asked to.
const ADD = `
if ARGV[1] == 'raise' then error('asked to fail') end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
return {v, KEYS[1]}`;

let redis: Redis;
let client: Redis;

beforeAll(async () => {
  redis = await connectRedis();
  client = await connectRedis();
});
afterAll(() => {
  redis?.disconnect();
  client?.disconnect();
});

/** Script calls Redis has run (EVAL and EVALSHA), from INFO commandstats. */
async function scriptCalls(): Promise<number> {
  const stats = await client.info('commandstats');
  let n = 0;
  for (const m of stats.matchAll(/cmdstat_(?:eval|evalsha):calls=(\d+)/g)) n += Number(m[1]);
  return n;
}

describe('batched Lua scripts on Redis', () => {
  it('gives 300 concurrent callers the results of 300 plain calls, in one script call per hash slot', async () => {
    const name = `imcloudTestAdd${randomUUID().slice(0, 8)}`;
    const add = script(redis, name, 1, ADD, { batch: true });
    const app = randomUUID().slice(0, 8);
    const key = (i: number) => `imcloud:{${app}}:counter:${i % 10}`;
    await add.run([key(0)], [0]); // loads the plain script; not counted below
    await Promise.all([add.run([key(0)], [0]), add.run([key(1)], [0])]); // loads the batch form
    const before = await scriptCalls();
    const results = (await Promise.all(Array.from({ length: 300 }, (_, i) => add.run([key(i)], [i])))) as Array<[number, string]>;
    const calls = (await scriptCalls()) - before;
    // Per counter, the values seen are the running sums of the calls made for it, in call order.
    const sums = new Map<number, number>();
    results.forEach(([value, k], i) => {
      expect(k).toBe(key(i));
      const sum = (sums.get(i % 10) ?? 0) + i;
      sums.set(i % 10, sum);
      expect(value).toBe(sum);
    });
    // 300 calls of one hash slot, at most 128 to a script call.
    expect(calls).toBe(3);
  });

  it('fails only the calls that failed: a Redis error and a script error, beside successful calls', async () => {
    const add = script(redis, `imcloudTestAdd${randomUUID().slice(0, 8)}`, 1, ADD, { batch: true });
    const app = randomUUID().slice(0, 8);
    await redis.hset(`imcloud:{${app}}:a-hash`, 'f', 1);
    const results = await Promise.allSettled([
      add.run([`imcloud:{${app}}:ok1`], [5]),
      add.run([`imcloud:{${app}}:a-hash`], [1]),
      add.run([`imcloud:{${app}}:ok2`], ['raise']),
      add.run([`imcloud:{${app}}:ok3`], [7]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/asked to fail/);
    expect((results[0] as PromiseFulfilledResult<unknown>).value).toEqual([5, `imcloud:{${app}}:ok1`]);
    expect(await redis.get(`imcloud:{${app}}:ok3`)).toBe('7');
    expect(await redis.get(`imcloud:{${app}}:ok2`)).toBeNull();
  });

  it('returns Buffers from runBuffer, batched or not', async () => {
    const add = script(redis, `imcloudTestAdd${randomUUID().slice(0, 8)}`, 1, ADD, { batch: true });
    const app = randomUUID().slice(0, 8);
    const alone = (await add.runBuffer([`imcloud:{${app}}:b0`], [1])) as [number, Buffer];
    const together = (await Promise.all([
      add.runBuffer([`imcloud:{${app}}:b1`], [2]),
      add.runBuffer([`imcloud:{${app}}:b2`], [3]),
    ])) as Array<[number, Buffer]>;
    for (const [value, k] of [alone, ...together]) {
      expect(Buffer.isBuffer(k)).toBe(true);
      expect(typeof value).toBe('number');
    }
    expect(together.map(([v, k]) => `${v} ${k.toString()}`)).toEqual([`2 imcloud:{${app}}:b1`, `3 imcloud:{${app}}:b2`]);
  });
});
