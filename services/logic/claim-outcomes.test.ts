import { describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { logicFixture } from './logic-fixture.js';

// The accept path answers each outcome of the dedupe claim (ADR 0003, 0014) its own way; a
// resumed send taken too late is in late-resume.test.ts, the rate limit in app-rate-limit.test.ts.
describe("logic: each outcome of a send's dedupe claim", () => {
  const conversation = singleConversation('alice', 'bob');
  const retries = async (fx: Awaited<ReturnType<typeof logicFixture>>) =>
    fx.metrics.registry.getSingleMetricAsString('imcloud_logic_send_retries_total');

  it('new, with the seq drawn by the claim: acked, in the window, and a retry is answered as done', async () => {
    const fx = await logicFixture();
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', conversation, seq: 1, duplicate: false });
    expect((await fx.backends.window.range('app1', conversation, 1, 1)).map((m) => m.clientMsgId)).toEqual(['m-1']);
    // The claim drew the seq: nothing went to the allocator's next() as well.
    expect(await fx.backends.seq.current('app1', conversation)).toBe(1);
    await fx.logic.stop();
  });

  it('done: the same ack again, marked duplicate, and nothing stored or drawn twice', async () => {
    const fx = await logicFixture();
    await fx.send('m-1');
    await fx.settled(1);
    await fx.send('m-1');
    const [first, again] = await fx.settled(2);
    expect(again!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, msgId: first!.sendAck!.msgId, duplicate: true });
    expect(await fx.backends.window.range('app1', conversation, 1, 5)).toHaveLength(1);
    expect(await fx.backends.seq.current('app1', conversation)).toBe(1);
    expect(await retries(fx)).toContain('outcome="acked-before"} 1');
    await fx.logic.stop();
  });

  it('busy: another process holds the lease; refused with a retry hint, no seq taken', async () => {
    const fx = await logicFixture();
    expect(await fx.backends.dedupe.claim('app1', 'alice', 'm-1', 60_000)).toEqual({ state: 'new' });
    await fx.send('m-1');
    const [refused] = await fx.settled(1);
    expect(refused!.error).toMatchObject({ code: 'IM_UNAVAILABLE', retryAfterMs: 500, fatal: false });
    expect(await fx.backends.seq.current('app1', conversation)).toBe(0);
    expect(await retries(fx)).toContain('outcome="busy"} 1');
    await fx.logic.stop();
  });

  it('allocated: an attempt that drew its seq and failed is finished with the same seq, id and time', async () => {
    const fx = await logicFixture();
    const earlier = await fx.interruptedAttempt('m-1', 0);
    expect(earlier.seq).toBe(1);
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, msgId: earlier.msgId, ts: earlier.ts, duplicate: true });
    expect(await fx.backends.seq.current('app1', conversation)).toBe(1);
    expect(await retries(fx)).toContain('outcome="resumed"} 1');
    await fx.logic.stop();
  });

  it("new, without a seq (none drawn): the allocator's next; a failure there gives the lease back at once", async () => {
    const fx = await logicFixture();
    const claim = fx.backends.dedupe.claim.bind(fx.backends.dedupe);
    fx.backends.dedupe.claim = (appId, sender, clientMsgId, leaseMs) => claim(appId, sender, clientMsgId, leaseMs);
    const next = fx.backends.seq.next.bind(fx.backends.seq);
    let failures = 1;
    fx.backends.seq.next = async (appId, conv) => {
      if (failures-- > 0) throw new Error('seq store down');
      return next(appId, conv);
    };
    await fx.send('m-1');
    await fx.send('m-1');
    const [failed, ack] = await fx.settled(2);
    expect(failed!.error).toMatchObject({ code: 'IM_UNAVAILABLE', retryAfterMs: 500 });
    // Not 'busy': the lease went back with the failure, and no seq was spent on the failed attempt.
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, duplicate: false });
    expect(await fx.backends.seq.current('app1', conversation)).toBe(1);
    await fx.logic.stop();
  });

  it('new, where only a retry is acceptable (a recall of a recalled message): refused, and the claim given back', async () => {
    const fx = await logicFixture();
    await fx.send('m-1');
    await fx.settled(1);
    const recall = (reqId: number, clientMsgId: string) => fx.request({ reqId, recall: { clientMsgId, conversation, seq: 1 } });
    await recall(2, 'r-1');
    await recall(3, 'r-2');
    await recall(4, 'r-1');
    const [, recalled, refused, retried] = await fx.settled(4);
    expect(recalled!.sendAck).toMatchObject({ clientMsgId: 'r-1', seq: 2, duplicate: false });
    expect(refused!.error).toMatchObject({ code: 'IM_BAD_REQUEST', message: 'the message is already recalled' });
    expect(retried!.sendAck).toMatchObject({ clientMsgId: 'r-1', seq: 2, duplicate: true });
    expect(await fx.backends.dedupe.claim('app1', 'alice', 'r-2', 1_000)).toEqual({ state: 'new' });
    expect(await fx.backends.seq.current('app1', conversation)).toBe(2);
    await fx.logic.stop();
  });
});
