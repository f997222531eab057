// Overload at the gate (ADR 0021): once the upstream queue holds logic.maxQueueBytes of frames
// waiting for logic, the gate answers further frames at once with IM_UNAVAILABLE, a retry hint
// and the reqId of the request it refuses; what the queue took is handled once logic takes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../../test/support/platform.js';
import { RawClient } from '../../test/support/raw-client.js';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ logic: { maxQueueBytes: 4_000 } });
});

afterAll(async () => {
  await platform?.stop();
});

describe('gate under overload: a full upstream queue', () => {
  it('refuses sends at once with IM_UNAVAILABLE, a retry hint and their reqId; the ones it took are acked once logic runs again', async () => {
    const app = await platform.createApp();
    const client = await RawClient.ws(platform.wsUrl);
    expect((await client.auth(await platform.token(app.appId, 'alice'), 'alice-d1')).body).toBe('authOk');

    // Logic stops consuming: every send now waits in the upstream queue until it is full.
    await platform.runtime.logic!.stop();
    const n = 60;
    const reqIds: number[] = [];
    for (let i = 0; i < n; i++) reqIds.push(client.send({ send: { clientMsgId: `m${i}`, to: 'bob', body: new Uint8Array(16) } }));
    // The queue takes the first sends (each envelope ~175 bytes, so ~20 fit in 4,000); the rest are
    // refused at once, while logic is still stopped.
    const answer = (reqId: number) => client.next((f) => f.reqId === reqId && (f.body === 'sendAck' || f.body === 'error'));
    const last = await Promise.all(reqIds.slice(-20).map(answer));
    for (const f of last) {
      expect(f.body).toBe('error');
      expect(f.error).toMatchObject({ code: 'IM_UNAVAILABLE', retryAfterMs: 1_000, fatal: false });
    }
    const refused = (await platform.runtime.metrics.registry.getSingleMetric('imcloud_gate_upstream_refused_total')!.get()).values[0]!
      .value;
    expect(refused).toBeGreaterThanOrEqual(20);
    expect(refused).toBeLessThan(n);

    // Logic runs again: every send the queue took is acked; each send is answered exactly once.
    await platform.runtime.logic!.start();
    const first = await Promise.all(reqIds.slice(0, -20).map(answer));
    const answers = [...first, ...last];
    const accepted = n - refused;
    expect(answers.slice(0, accepted).every((f) => f.body === 'sendAck')).toBe(true);
    expect(answers.slice(accepted).every((f) => f.body === 'error' && f.error!.code === 'IM_UNAVAILABLE')).toBe(true);
    const answered = client.all.filter((f) => f.body === 'sendAck' || f.body === 'error').map((f) => f.reqId);
    expect(answered.sort((a, b) => a - b)).toEqual([...reqIds].sort((a, b) => a - b));
    client.close();
  });
});
