import type { RateDecision, RateLimiter } from '../../ports/rate-limiter.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

// A token bucket in one hash {tokens, at}, refilled and taken atomically.
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or burst)
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or now)
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}`;

export class RedisRateLimiter implements RateLimiter {
  private readonly takeScript;

  constructor(
    redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.takeScript = script(redis, 'imcloudRateTake', 1, TAKE, { batch: true });
  }

  async take(key: string, ratePerSec: number, burst: number, cost = 1): Promise<RateDecision> {
    const [allowed, retry] = (await this.takeScript.run([redisKeys.rate(key)], [ratePerSec, burst, cost, this.now()])) as [number, number];
    return { allowed: allowed === 1, retryAfterMs: retry };
  }
}
