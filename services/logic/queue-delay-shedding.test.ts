import { describe, expect, it } from 'vitest';
import { imcloud } from '../../proto/gen/im.js';
import { createMemoryBackends } from '../adapters/memory/memory-backends.js';
import { compileConfig } from '../shared/config.js';
import { singleConversation } from '../shared/conversation-id.js';
import { decodeFrameBody, encodeFrameBody } from '../shared/frame-codec.js';
import { IdGenerator } from '../shared/ids.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import { Logic } from './logic.js';

describe('logic under overload: sends that waited too long in the upstream queue', () => {
  async function setup() {
    const config = compileConfig({ logic: { maxQueueDelayMs: 2_000 } });
    const backends = createMemoryBackends();
    const metrics = createMetrics();
    const logic = new Logic(config, backends, createLogger('logic', 'test', 'silent'), metrics);
    await logic.start(new IdGenerator(1));
    await backends.apps.create({ appId: 'app1', name: 'a', secret: 's'.repeat(32), multiLogin: 'all', createdAt: Date.now() });
    const replies: imcloud.v1.Frame[] = [];
    const publishPush = backends.bus.publishPush.bind(backends.bus);
    backends.bus.publishPush = async (gateId, body) => {
      for (const d of imcloud.internal.v1.Downstream.decode(body).deliveries) replies.push(decodeFrameBody(d.frame!) as imcloud.v1.Frame);
      return publishPush(gateId, body);
    };
    const send = (clientMsgId: string, waitedMs: number) => logic.handle(imcloud.internal.v1.Upstream.encode({
      kind: imcloud.internal.v1.Upstream.Kind.KIND_FRAME, appId: 'app1', userId: 'alice', deviceId: 'd1', connId: 'c1', gateId: 'g1',
      receivedAt: Date.now() - waitedMs,
      frame: encodeFrameBody({ reqId: replies.length + 1, send: { clientMsgId, to: 'bob', body: new Uint8Array([1]) } }),
    }).finish());
    const settled = async (n: number) => {
      for (let i = 0; i < 100 && replies.length < n; i++) await new Promise((r) => setImmediate(r));
      return replies;
    };
    return { logic, backends, metrics, send, settled };
  }

  it('refuses them with IM_UNAVAILABLE and a retry hint, before any work; the retry is a clean first attempt', async () => {
    const { logic, backends, metrics, send, settled } = await setup();
    await send('late-1', 5_000);
    const [refused] = await settled(1);
    expect(refused!.body).toBe('error');
    expect(refused!.error).toMatchObject({ code: 'IM_UNAVAILABLE', retryAfterMs: 1_000 });
    expect(refused!.error!.message).toMatch(/waited \d+ ms/);
    // no seq was taken, no dedupe claim left behind
    expect(await backends.seq.current('app1', singleConversation('alice', 'bob'))).toBe(0);
    expect(await backends.dedupe.claim('app1', 'alice', 'late-1', 1)).toMatchObject({ state: 'new' });
    await backends.dedupe.release('app1', 'alice', 'late-1');
    expect(await metrics.registry.getSingleMetricAsString('imcloud_logic_shed_total')).toContain('imcloud_logic_shed_total{type="send"} 1');

    await send('late-1', 10);
    const [, accepted] = await settled(2);
    expect(accepted!.body).toBe('sendAck');
    expect(Number(accepted!.sendAck!.seq)).toBe(1);
    expect(await backends.seq.current('app1', singleConversation('alice', 'bob'))).toBe(1);
    await logic.stop();
  });
});
