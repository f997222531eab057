import { describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { logicFixture } from './logic-fixture.js';

describe('logic under overload: sends that waited too long in the upstream queue', () => {
  const setup = () => logicFixture({ logic: { maxQueueDelayMs: 2_000 } });

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
    expect(await metrics.registry.getSingleMetricAsString('imcloud_logic_send_errors_total')).toContain(
      'imcloud_logic_send_errors_total{app_id="app1",code="IM_UNAVAILABLE"} 1',
    );

    await send('late-1', 10);
    const [, accepted] = await settled(2);
    expect(accepted!.body).toBe('sendAck');
    expect(Number(accepted!.sendAck!.seq)).toBe(1);
    expect(await backends.seq.current('app1', singleConversation('alice', 'bob'))).toBe(1);
    await logic.stop();
  });
});
