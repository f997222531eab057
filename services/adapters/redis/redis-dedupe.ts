import type { Dedupe, DedupeClaim, SendAckRecord, SeqDraw } from '../../ports/dedupe.js';
import { asBuffer } from '../../shared/bytes.js';
import { redisKeys } from '../../shared/topology.js';
import { type Redis, script } from './redis-client.js';
import { type RedisSeqAllocator, SEQ_NEXT_LUA } from './redis-seq-allocator.js';

// One hash per (app, sender, clientMsgId): lease (ms), msg (the encoded store record, or a
// draft with seq 0 and its seq in 'seq'), ack (JSON).
// Returns {state, payload, seq}: 'new' | 'busy' | 'allocated' + msg (+ seq of a draft) | 'done' + ack.
const CLAIM_EXISTING = `
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ack = redis.call('HGET', KEYS[1], 'ack')
  if ack then return {'done', ack} end
  local held = tonumber(redis.call('HGET', KEYS[1], 'lease') or '0')
  if held > now then return {'busy', ''} end
  redis.call('HSET', KEYS[1], 'lease', now + lease)
  local msg = redis.call('HGET', KEYS[1], 'msg')
  if msg then return {'allocated', msg, redis.call('HGET', KEYS[1], 'seq') or ''} end
  if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
else
  redis.call('HSET', KEYS[1], 'lease', now + lease)
  redis.call('PEXPIRE', KEYS[1], lease)
end`;

const CLAIM = `${CLAIM_EXISTING}
return {'new', ''}`;

// A claim with a SeqDraw: a new send also takes the next seq of counter KEYS[2] (same hash slot:
// both keys carry the app's tag) and records the draft ARGV[3] with it for ARGV[4] ms, in the
// same step, so claim, seq and allocate cost one round trip. No seq in the block: plain 'new'.
const CLAIM_DRAW = `${SEQ_NEXT_LUA}
${CLAIM_EXISTING}
local drawn = seq_next(KEYS[2])
if drawn[1] < 0 then return {'new', ''} end
redis.call('HSET', KEYS[1], 'msg', ARGV[3], 'seq', drawn[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'new', '', drawn[1], drawn[2]}`;

const RELEASE = `
if redis.call('HEXISTS', KEYS[1], 'ack') == 1 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'msg') == 1 then redis.call('HSET', KEYS[1], 'lease', 0) return 1 end
redis.call('DEL', KEYS[1])
return 2`;

// Scripts rather than MULTI: one command and one reply, where a MULTI is one per command plus
// MULTI and EXEC.
const ALLOCATE = `
redis.call('HDEL', KEYS[1], 'seq')
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
  private readonly claimDrawScript;
  private readonly releaseScript;
  private readonly allocateScript;
  private readonly completeScript;

  constructor(
    redis: Redis,
    /** The allocator whose counters claims with a SeqDraw draw from; without it they never draw. */
    private readonly seqs?: Pick<RedisSeqAllocator, 'drawn'>,
    private readonly now: () => number = Date.now,
  ) {
    this.claimScript = script(redis, 'imcloudDedupeClaim', 1, CLAIM, { batch: true });
    this.claimDrawScript = script(redis, 'imcloudDedupeClaimDraw', 2, CLAIM_DRAW, { batch: true });
    this.releaseScript = script(redis, 'imcloudDedupeRelease', 1, RELEASE);
    this.allocateScript = script(redis, 'imcloudDedupeAllocate', 1, ALLOCATE, { batch: true });
    this.completeScript = script(redis, 'imcloudDedupeComplete', 1, COMPLETE, { batch: true });
  }

  async claim(appId: string, sender: string, clientMsgId: string, leaseMs: number, draw?: SeqDraw): Promise<DedupeClaim> {
    const key = redisKeys.dedupe(appId, sender, clientMsgId);
    const reply = (
      draw && this.seqs
        ? await this.claimDrawScript.runBuffer(
            [key, redisKeys.seq(appId, draw.conversation)],
            [this.now(), leaseMs, asBuffer(draw.draft), draw.ttlMs],
          )
        : await this.claimScript.runBuffer([key], [this.now(), leaseMs])
    ) as [Buffer, Buffer, (Buffer | number)?, number?];
    const [state, payload, seq, max] = reply;
    switch (state.toString()) {
      case 'done':
        return { state: 'done', ack: JSON.parse(payload.toString()) as SendAckRecord };
      case 'busy':
        return { state: 'busy' };
      case 'allocated':
        // 'seq' is empty unless the message is a draft recorded with its seq.
        return {
          state: 'allocated',
          message: new Uint8Array(payload),
          seq: Buffer.isBuffer(seq) && seq.length > 0 ? Number(seq.toString()) : undefined,
        };
      default:
        if (typeof seq !== 'number') return { state: 'new' };
        this.seqs!.drawn(appId, draw!.conversation, seq, max!);
        return { state: 'new', seq };
    }
  }

  async allocate(appId: string, sender: string, clientMsgId: string, message: Uint8Array, ttlMs: number): Promise<void> {
    await this.allocateScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], [asBuffer(message), ttlMs]);
  }

  async complete(appId: string, sender: string, clientMsgId: string, ack: SendAckRecord, ttlMs: number): Promise<void> {
    await this.completeScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], [JSON.stringify(ack), ttlMs]);
  }

  async release(appId: string, sender: string, clientMsgId: string): Promise<void> {
    await this.releaseScript.run([redisKeys.dedupe(appId, sender, clientMsgId)], []);
  }
}
