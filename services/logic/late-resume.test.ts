import { describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { logicFixture } from './logic-fixture.js';

// A send that drew its seq, failed before its window append, and is retried only after half the
// empty-slot grace period: readers may already have reported that seq empty (ADR 0004), so the
// retry must not fill it.
describe('logic: a send resumed late', () => {
  const conversation = singleConversation('alice', 'bob');
  const grace = 4_000;

  it('gives the message a new seq when its old one was never visible; the old one stays empty', async () => {
    const fx = await logicFixture({ logic: { emptySlotGraceMs: grace } });
    const old = await fx.interruptedAttempt('m-1', grace);
    expect(old.seq).toBe(1);
    await fx.send('m-2');
    await fx.send('m-1');
    const acks = (await fx.settled(2)).map((r) => r.sendAck);
    expect(acks.map((a) => [a?.clientMsgId, Number(a?.seq)])).toEqual([
      ['m-2', 2],
      ['m-1', 3],
    ]);
    expect(acks[1]!.msgId).toBe(old.msgId);
    expect(await fx.backends.window.range('app1', conversation, 1, 1)).toEqual([]);
    expect((await fx.backends.window.range('app1', conversation, 3, 3))[0]).toMatchObject({ clientMsgId: 'm-1', seq: 3 });
    // A further retry answers the same ack.
    await fx.send('m-1');
    expect((await fx.settled(3))[2]!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 3, duplicate: true });
    expect(await fx.metrics.registry.getSingleMetricAsString('imcloud_logic_send_retries_total')).toContain('outcome="reallocated"} 1');
    await fx.logic.stop();
  });

  it('keeps the old seq when the message is already visible under it (its window append got through)', async () => {
    const fx = await logicFixture({ logic: { emptySlotGraceMs: grace } });
    const old = await fx.interruptedAttempt('m-1', grace);
    await fx.backends.window.append('app1', old, { size: 100, retentionMs: 60_000 });
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, duplicate: true });
    await fx.logic.stop();
  });

  it('a resume within half the grace period keeps its seq', async () => {
    const fx = await logicFixture({ logic: { emptySlotGraceMs: grace } });
    await fx.interruptedAttempt('m-1', grace / 4);
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, duplicate: true });
    await fx.logic.stop();
  });
});
