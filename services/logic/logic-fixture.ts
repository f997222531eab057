// A Logic on memory backends for unit tests: frames in through handle(), replies out of the
// downstream bus, decoded. Used by the *.test.ts files next to it.

import { singleConversation } from '../../protocol/conversation-id.js';
import { decodeFrameBody, encodeFrameBody, type FrameInit } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { createMemoryBackends } from '../adapters/memory/memory-backends.js';
import { MemoryRateLimiter } from '../adapters/memory/memory-rate-limiter.js';
import type { StoredMessage } from '../ports/stored-message.js';
import { type ConfigInput, compileConfig } from '../shared/config.js';
import { IdGenerator } from '../shared/ids.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import { roleConfig } from '../shared/role-config.js';
import { Logic } from './logic.js';
import { encodeStoreRecord } from './message-codec.js';

/**
 * `now`: the clock of logic and of its rate limiter (default the real one). A test whose outcome
 * depends on how much time passes between its steps (a rate limit's refill) passes one it moves.
 */
export async function logicFixture(config: ConfigInput = {}, opts: { now?: () => number } = {}) {
  const backends = createMemoryBackends();
  if (opts.now) backends.rateLimiter = new MemoryRateLimiter(opts.now);
  const metrics = createMetrics();
  const logic = new Logic(
    roleConfig(compileConfig(config), 'logic'),
    backends,
    new IdGenerator(1),
    createLogger('logic', 'test', 'silent'),
    metrics,
    opts.now,
  );
  await logic.start();
  await backends.apps.create({ appId: 'app1', name: 'a', secret: 's'.repeat(32), multiLogin: 'all', createdAt: Date.now() });
  const replies: imcloud.v1.Frame[] = [];
  const publishDownstream = backends.bus.publishDownstream.bind(backends.bus);
  backends.bus.publishDownstream = async (gateId, body) => {
    for (const d of imcloud.internal.v1.Downstream.decode(body).deliveries) replies.push(decodeFrameBody(d.frame!) as imcloud.v1.Frame);
    return publishDownstream(gateId, body);
  };
  /** alice (connection c1 on gate g1) sends one client frame, as if it waited `waitedMs` in the queue. */
  const request = (frame: FrameInit, waitedMs = 0) =>
    logic.handle(
      imcloud.internal.v1.Upstream.encode({
        kind: imcloud.internal.v1.Upstream.Kind.KIND_FRAME,
        appId: 'app1',
        userId: 'alice',
        deviceId: 'd1',
        connId: 'c1',
        gateId: 'g1',
        receivedAt: Date.now() - waitedMs,
        frame: encodeFrameBody(frame),
      }).finish(),
    );
  /** alice sends one message to bob. */
  const send = (clientMsgId: string, waitedMs = 0) =>
    request({ reqId: replies.length + 1, send: { clientMsgId, to: 'bob', body: new Uint8Array([1]) } }, waitedMs);
  /** The replies so far, once there are `n` of them (or after 5 s, for the test to fail on). */
  const settled = async (n: number) => {
    const deadline = Date.now() + 5_000;
    while (replies.length < n && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    return replies;
  };
  /**
   * What an earlier attempt of alice's send `clientMsgId` to bob left when it failed after its
   * claim: a draft with the seq it drew `ageMs` ago, and a lease that has lapsed.
   */
  const interruptedAttempt = async (clientMsgId: string, ageMs: number): Promise<StoredMessage> => {
    const conversation = singleConversation('alice', 'bob');
    const message: StoredMessage = {
      conversation,
      seq: 0,
      msgId: '7241849600123456789',
      ts: Date.now() - ageMs,
      sender: 'alice',
      senderDevice: 'd1',
      clientMsgId,
      kind: imcloud.v1.MessageKind.MESSAGE_KIND_NORMAL,
      contentType: 'text',
      body: new Uint8Array([1]),
      recallsSeq: 0,
      recalled: false,
    };
    const draft = encodeStoreRecord({ appId: 'app1', message, members: ['alice', 'bob'], traceId: 't' });
    const claim = await backends.dedupe.claim('app1', 'alice', clientMsgId, 1, { conversation, draft, ttlMs: 60_000 });
    if (claim.state !== 'new' || claim.seq === undefined) throw new Error(`the claim drew no seq: ${JSON.stringify(claim)}`);
    await new Promise((r) => setTimeout(r, 5));
    return { ...message, seq: claim.seq };
  };
  return { logic, backends, metrics, replies, request, send, settled, interruptedAttempt };
}
