import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../ports/stored-message.js';
import { singleConversation } from '../../protocol/conversation-id.js';
import { encodeStoreRecord } from './message-codec.js';
import { logicFixture } from './logic-fixture.js';

// A send that drew its seq, failed before its window append, and is retried only after half the
// empty-slot grace period: readers may already have reported that seq empty (ADR 0004), so the
// retry must not fill it.
describe('logic: a send resumed late', () => {
  const conversation = singleConversation('alice', 'bob');
  const grace = 4_000;

  /** What an earlier attempt of clientMsgId left: a draft drawn `ageMs` ago, lease lapsed. */
  async function interruptedAttempt(fx: Awaited<ReturnType<typeof logicFixture>>, clientMsgId: string, ageMs: number) {
    const message: StoredMessage = {
      conversation, seq: 0, msgId: '7241849600123456789', ts: Date.now() - ageMs, sender: 'alice', senderDevice: 'd1', clientMsgId,
      kind: 1, contentType: 'text', body: new Uint8Array([1]), recallsSeq: 0, recalled: false,
    };
    const draft = encodeStoreRecord({ appId: 'app1', message, members: ['alice', 'bob'], traceId: 't' });
    const claim = await fx.backends.dedupe.claim('app1', 'alice', clientMsgId, 1, { conversation, draft, ttlMs: 60_000 });
    expect(claim).toMatchObject({ state: 'new', seq: expect.any(Number) });
    await new Promise((r) => setTimeout(r, 5));
    return { ...message, seq: (claim as { seq: number }).seq };
  }

  it('gives the message a new seq when its old one was never visible; the old one stays empty', async () => {
    const fx = await logicFixture({ logic: { emptySlotGraceMs: grace } });
    const old = await interruptedAttempt(fx, 'm-1', grace);
    expect(old.seq).toBe(1);
    await fx.send('m-2');
    await fx.send('m-1');
    const acks = (await fx.settled(2)).map((r) => r.sendAck);
    expect(acks.map((a) => [a?.clientMsgId, Number(a?.seq)])).toEqual([['m-2', 2], ['m-1', 3]]);
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
    const old = await interruptedAttempt(fx, 'm-1', grace);
    await fx.backends.window.append('app1', old, { size: 100, retentionMs: 60_000 });
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, duplicate: true });
    await fx.logic.stop();
  });

  it('a resume within half the grace period keeps its seq', async () => {
    const fx = await logicFixture({ logic: { emptySlotGraceMs: grace } });
    await interruptedAttempt(fx, 'm-1', grace / 4);
    await fx.send('m-1');
    const [ack] = await fx.settled(1);
    expect(ack!.sendAck).toMatchObject({ clientMsgId: 'm-1', seq: 1, duplicate: true });
    await fx.logic.stop();
  });
});
