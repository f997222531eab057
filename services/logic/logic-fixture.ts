// A Logic on memory backends for unit tests: frames in through handle(), replies out of the
// push bus, decoded. Used by the *.test.ts files next to it.
import { imcloud } from '../../protocol/gen/im.js';
import { createMemoryBackends } from '../adapters/memory/memory-backends.js';
import { MemoryRateLimiter } from '../adapters/memory/memory-rate-limiter.js';
import { compileConfig, type ConfigInput } from '../shared/config.js';
import { decodeFrameBody, encodeFrameBody } from '../../protocol/frame-codec.js';
import { IdGenerator } from '../shared/ids.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import { Logic } from './logic.js';

/**
 * `now`: the clock of logic and of its rate limiter (default the real one). A test whose outcome
 * depends on how much time passes between its steps (a rate limit's refill) passes one it moves.
 */
export async function logicFixture(config: ConfigInput = {}, opts: { now?: () => number } = {}) {
  const backends = createMemoryBackends();
  if (opts.now) backends.rateLimiter = new MemoryRateLimiter(opts.now);
  const metrics = createMetrics();
  const logic = new Logic(compileConfig(config), backends, createLogger('logic', 'test', 'silent'), metrics, opts.now);
  await logic.start(new IdGenerator(1));
  await backends.apps.create({ appId: 'app1', name: 'a', secret: 's'.repeat(32), multiLogin: 'all', createdAt: Date.now() });
  const replies: imcloud.v1.Frame[] = [];
  const publishPush = backends.bus.publishPush.bind(backends.bus);
  backends.bus.publishPush = async (gateId, body) => {
    for (const d of imcloud.internal.v1.Downstream.decode(body).deliveries) replies.push(decodeFrameBody(d.frame!) as imcloud.v1.Frame);
    return publishPush(gateId, body);
  };
  /** alice (connection c1 on gate g1) sends one message to bob, as if it waited `waitedMs` in the queue. */
  const send = (clientMsgId: string, waitedMs = 0) => logic.handle(imcloud.internal.v1.Upstream.encode({
    kind: imcloud.internal.v1.Upstream.Kind.KIND_FRAME, appId: 'app1', userId: 'alice', deviceId: 'd1', connId: 'c1', gateId: 'g1',
    receivedAt: Date.now() - waitedMs,
    frame: encodeFrameBody({ reqId: replies.length + 1, send: { clientMsgId, to: 'bob', body: new Uint8Array([1]) } }),
  }).finish());
  /** The replies so far, once there are `n` of them (or after 5 s, for the test to fail on). */
  const settled = async (n: number) => {
    const deadline = Date.now() + 5_000;
    while (replies.length < n && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    return replies;
  };
  return { logic, backends, metrics, replies, send, settled };
}
