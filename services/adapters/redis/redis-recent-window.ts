import { imcloud } from '../../../protocol/gen/im.js';
import { fromWireMessage, toWireMessage } from '../../logic/message-codec.js';
import type { RecentWindow, RecentWindowLimits } from '../../ports/recent-window.js';
import type { StoredMessage } from '../../ports/stored-message.js';
import { redisKeys } from '../../shared/topology.js';
import { execOrThrow, type Redis, script } from './redis-client.js';

// A sorted set per conversation, score = seq. Each member is the message's timestamp (8-byte
// big-endian double, readable from Lua) followed by the encoded imcloud.v1.Message, so trimming
// by age happens inside Redis in the same step as the append.
const APPEND = `
local seq = tonumber(ARGV[1])
if redis.call('ZCOUNT', KEYS[1], seq, seq) > 0 then return 0 end
redis.call('ZADD', KEYS[1], seq, ARGV[2])
local size = tonumber(ARGV[3])
local oldestKept = tonumber(ARGV[4])
local hardMax = size * 10
local n = redis.call('ZCARD', KEYS[1])
while n > size do
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  local ts = struct.unpack('>d', string.sub(first, 1, 8))
  if ts >= oldestKept and n <= hardMax then break end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
  n = n - 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/** Idle conversations' windows disappear after a week; the message store still has everything. */
const IDLE_EXPIRY_MS = 7 * 24 * 3600_000;

function encodeMember(m: StoredMessage): Buffer {
  const body = imcloud.v1.Message.encode(toWireMessage(m)).finish();
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeDoubleBE(m.ts, 0);
  out.set(body, 8);
  return out;
}

function decodeMember(member: Buffer): StoredMessage {
  return fromWireMessage(imcloud.v1.Message.decode(member.subarray(8)));
}

export class RedisRecentWindow implements RecentWindow {
  private readonly appendScript;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    this.appendScript = script(redis, 'imcloudWindowAppend', 1, APPEND, { batch: true });
  }

  async append(appId: string, message: StoredMessage, limits: RecentWindowLimits): Promise<void> {
    await this.appendScript.run(
      [redisKeys.window(appId, message.conversation)],
      [message.seq, encodeMember(message), limits.size, this.now() - limits.retentionMs, IDLE_EXPIRY_MS],
    );
  }

  async range(appId: string, conversation: string, fromSeq: number, toSeq: number): Promise<StoredMessage[]> {
    const members = await this.redis.zrangebyscoreBuffer(redisKeys.window(appId, conversation), fromSeq, toSeq);
    return members.map(decodeMember);
  }

  async markRecalled(appId: string, conversation: string, seq: number): Promise<void> {
    const key = redisKeys.window(appId, conversation);
    const [member] = await this.redis.zrangebyscoreBuffer(key, seq, seq);
    if (!member) return;
    const m = decodeMember(member);
    m.recalled = true;
    m.body = new Uint8Array(0);
    await execOrThrow(this.redis.multi().zremrangebyscore(key, seq, seq).zadd(key, seq, encodeMember(m)));
  }
}
