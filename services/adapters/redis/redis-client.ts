// The ioredis connection every Redis adapter shares, plus Lua script registration.
import type { Redis } from 'ioredis';
import type { Logger } from '../../shared/logger.js';
import { redactUrl } from '../../shared/redact-url.js';
import { batchedLua, ScriptBatcher, type ScriptRun } from './script-batcher.js';
import { TurnCorkedRedis } from './turn-corked-redis.js';

export type { Redis };

export function createRedis(url: string, log: Logger): Redis {
  // Commands issued in the same turn leave in one socket write (turn-corked-redis.ts): with
  // hundreds of sends in flight, one write per command was a third of logic's CPU.
  const redis = new TurnCorkedRedis(url, {
    // Fail fast while disconnected instead of queueing without bound; callers answer
    // IM_UNAVAILABLE and clients retry.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => {
      const delay = Math.min(200 * 2 ** Math.min(attempt, 6), 5_000);
      log.warn({ attempt, delayMs: delay }, `redis: not connected to ${redactUrl(url)}; retrying (is redis-server running and reachable?)`);
      return delay;
    },
    lazyConnect: false,
  });
  redis.on('ready', () => log.info({ url: redactUrl(url) }, 'redis: connected'));
  redis.on('error', (err) => log.debug({ err: err.message }, 'redis: connection error'));
  return redis;
}

/** Resolves once connected; ioredis keeps retrying (and logging) until then. */
export function redisReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}

type ScriptResult = unknown;

/**
 * Registers a Lua script once per client (EVALSHA, loaded on first use); call it as
 * `run(keys, args)`. `numberOfKeys` undefined: the script takes any number of keys. `batch`:
 * calls made in the same turn for keys of one hash slot go to Redis as one script call
 * (script-batcher.ts); for scripts on the send path, which many sends run at once.
 */
export function script(redis: Redis, name: string, numberOfKeys: number | undefined, lua: string, opts: { batch?: boolean } = {}) {
  if (!(name in redis)) redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  const commands = redis as unknown as Record<string, (...a: unknown[]) => Promise<ScriptResult>>;
  // Scripts with any number of keys are called with the count first.
  const call =
    (variant: string, anyKeys = numberOfKeys === undefined): ScriptRun =>
    (keys, args) =>
      anyKeys ? commands[variant]!.call(redis, keys.length, ...keys, ...args) : commands[variant]!.call(redis, ...keys, ...args);
  if (!opts.batch) return { run: call(name), runBuffer: call(`${name}Buffer`) };
  const batchName = `${name}Batch`;
  if (!(batchName in redis)) redis.defineCommand(batchName, { lua: batchedLua(lua) });
  const plain = new ScriptBatcher(call(name), call(batchName, true));
  const buffers = new ScriptBatcher(call(`${name}Buffer`), call(`${batchName}Buffer`, true));
  return { run: plain.run.bind(plain), runBuffer: buffers.run.bind(buffers) };
}

/** Runs a MULTI/pipeline and throws the first command error (ioredis reports them per command). */
export async function execOrThrow(batch: { exec(): Promise<Array<[Error | null, unknown]> | null> }): Promise<unknown[]> {
  const results = await batch.exec();
  if (!results) throw new Error('redis transaction aborted');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
