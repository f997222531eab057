import { ImError } from '../../../protocol/errors.js';
import type { WorkerIdLease, WorkerIds } from '../../ports/worker-ids.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';

// A lease is a key SET NX PX with a random token; renew and release act only while the token
// is still ours, so a process that lost its lease can never extend or free someone else's.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class RedisWorkerIds implements WorkerIds {
  private readonly renewScript;
  private readonly releaseScript;

  constructor(private readonly redis: Redis) {
    this.renewScript = script(redis, 'imcloudWorkerRenew', 1, RENEW);
    this.releaseScript = script(redis, 'imcloudWorkerRelease', 1, RELEASE);
  }

  async lease(owner: string, max: number, ttlMs: number): Promise<WorkerIdLease> {
    const token = `${owner}:${Math.random().toString(36).slice(2)}`;
    // Start at a random id so that processes starting together do not all race for id 0.
    const start = Math.floor(Math.random() * (max + 1));
    for (let i = 0; i <= max; i++) {
      const id = (start + i) % (max + 1);
      const key = redisKeys.workerId(id);
      if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') continue;
      return {
        workerId: id,
        renew: async () => (await this.renewScript.run([key], [token, ttlMs])) === 1,
        release: async () => {
          await this.releaseScript.run([key], [token]);
        },
      };
    }
    throw new ImError('IM_UNAVAILABLE', `all ${max + 1} worker ids are leased`);
  }
}
