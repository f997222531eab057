import type { Dedupe, DedupeClaim, SendAckRecord } from '../../ports/dedupe.js';
import { redisKeys } from '../../shared/topology.js';
import { script, type Redis } from './redis-client.js';

// One hash per (app, sender, clientMsgId): lease (ms), msg (the encoded store record), ack (JSON).
// Returns {state, payload}: 'new' | 'busy' | 'allocated' + msg | 'done' + ack.
const CLAIM = `
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ack = redis.call('HGET', KEYS[1], 'ack')
  if ack then return {'done', ack} end
  local held = tonumber(redis.call('HGET', KEYS[1], 'lease') or '0')
  if held > now then return {'busy', ''} end
  redis.call('HSET', KEYS[1], 'lease', now + lease)
  local msg = redis.call('HGET', KEYS[1], 'msg')
  if msg then return {'allocated', msg} end
  if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
  return {'new', ''}
end
redis.call('HSET', KEYS[1], 'lease', now + lease)
redis.call('PEXPIRE', KEYS[1], lease)
return {'new', ''}`;

const RELEASE = `
if redis.call('HEXISTS', KEYS[1], 'ack') == 1 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'msg') == 1 then redis.call('HSET', KEYS[1], 'lease', 0) return 1 end
redis.call('DEL', KEYS[1])
return 2`;

// Scripts rather than MULTI: a script call joins the client's automatic pipeline, a MULTI is a
// write of its own.
const ALLOCATE = `
redis.call('HSET', KEYS[1], 'msg', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// The ack replaces the stored message: a completed send never needs it again.
const COMPLETE = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'ack', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

export class RedisDedupe implements Dedupe {
  private readonly claimScript;
  private readonly releaseScript;
  private readonly allocateScript;
  private readonly completeScript;

  constructor(private readonly redis: Redis, private readonly now: () => number = Date.now) {
    this.claimScript = script(redis, 'imcloudDedupeClaim', 1, CLAIM, { batch: true });
    this.releaseScript = script(redis, 'imcloudDedupeRelease', 1, RELEASE);
    this.allocateScript = script(redis, 'imcloudDedupeAllocate', 1, ALLOCATE, { batch: true });
    this.completeScript = script(redis, 'imcloudDedupeComplete', 1, COMPLETE, { batch: true });
  }

  async claim(appId: string, sender: string, clientMsgId: string, leaseMs: number): Promise<DedupeClaim> {
    const [state, payload] = (await this.claimScript.runBuffer([redisKeys.dedupe(appId, sender, clientMsgId)], [this.now(), leaseMs])) as [Buffer, Buffer];
    switch (state.toString()) {
      case 'done': return { state: 'done', ack: JSON.parse(payload.toString()) as SendAckRecord };
      case 'busy': return { state: 'busy' };
      case 'allocated': return { state: 'allocated', message: new Uint8Array(payload) };
      default: return { state: 'new' };
    }
  }

  async allocate(appId: string, sender: string, clientMsgId: string, message: Uint8Array, ttlMs: number): Promise<void> {
    await this.allocateScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], [Buffer.from(message), ttlMs]);
  }

  async complete(appId: string, sender: string, clientMsgId: string, ack: SendAckRecord, ttlMs: number): Promise<void> {
    await this.completeScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], [JSON.stringify(ack), ttlMs]);
  }

  async release(appId: string, sender: string, clientMsgId: string): Promise<void> {
    await this.releaseScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], []);
  }
}
