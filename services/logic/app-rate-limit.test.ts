import { describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { logicFixture } from './logic-fixture.js';

// Sends draw their seq with the dedupe claim (ADR 0014), so the app rate limit must never leave
// a drawn seq unused: a refused send has no seq, and the accepted ones are gap-free. Logic and its
// rate limiter run on a clock the tests move: with the real one, a busy machine that took 200 ms
// over the sends would refill a token and let one more through.
describe('logic: the app rate limit', () => {
  const conversation = singleConversation('alice', 'bob');
  const clock = () => {
    let t = Date.now();
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it('refuses sends over the limit with IM_APP_RATE_LIMITED; accepted seqs stay contiguous and a refused send retried later gets the next one', async () => {
    const time = clock();
    const { logic, backends, send, settled } = await logicFixture({ logic: { appRateLimitPerSec: 5 } }, { now: time.now });
    for (let i = 1; i <= 12; i++) await send(`m-${i}`);
    const replies = await settled(12);
    const acked = replies.filter((r) => r.body === 'sendAck').map((r) => Number(r.sendAck!.seq));
    const refused = replies.filter((r) => r.body === 'error');
    // The burst of 5, plus the send whose claim had drawn its seq when the limit refused it.
    expect(acked).toEqual([1, 2, 3, 4, 5, 6]);
    expect(refused).toHaveLength(6);
    for (const r of refused) expect(r.error).toMatchObject({ code: 'IM_APP_RATE_LIMITED' });
    expect(refused[0]!.error!.retryAfterMs).toBeGreaterThan(0);
    expect(await backends.seq.current('app1', conversation)).toBe(6);

    // The refused sends were not allocated: a retry once the bucket has a token is a fresh send.
    time.advance(250);
    await send('m-7');
    const [retried] = (await settled(13)).slice(12);
    expect(retried!.body).toBe('sendAck');
    expect(retried!.sendAck).toMatchObject({ clientMsgId: 'm-7', seq: 7, duplicate: false });
    expect(await backends.seq.current('app1', conversation)).toBe(7);
    await logic.stop();
  });

  it('a burst handled at once gets through only as far as the sends already in flight; the next ones are refused without a seq', async () => {
    const { logic, backends, send, settled } = await logicFixture({ logic: { appRateLimitPerSec: 3 } }, { now: clock().now });
    await Promise.all(Array.from({ length: 8 }, (_, i) => send(`b-${i}`)));
    let replies = await settled(8);
    const first = replies
      .filter((r) => r.body === 'sendAck')
      .map((r) => Number(r.sendAck!.seq))
      .sort((a, b) => a - b);
    // All 8 drew their seq before any limit answer came back: they all go through, gap-free.
    expect(first).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (let i = 0; i < 4; i++) await send(`c-${i}`);
    replies = await settled(12);
    expect(replies.slice(8).map((r) => r.error?.code)).toEqual(Array(4).fill('IM_APP_RATE_LIMITED'));
    expect(await backends.seq.current('app1', conversation)).toBe(8);
    await logic.stop();
  });
});
