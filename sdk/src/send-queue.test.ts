import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ImClientError } from './client-error.js';
import type { Outgoing, SendAck } from './conversation-sender.js';
import { SendQueue } from './send-queue.js';

/** A fake connection that records every write. */
class FakeWire {
  online = true;
  nextReqId = 1;
  written: Array<{ reqId: number; clientMsgId: string; conversation: string }> = [];
  write(body: Outgoing['body']): number | null {
    if (!this.online) return null;
    const reqId = this.nextReqId++;
    const clientMsgId = body.send?.clientMsgId ?? body.recall?.clientMsgId ?? '';
    const conversation = body.recall?.conversation ?? `s:me:${body.send?.to}`;
    this.written.push({ reqId, clientMsgId, conversation });
    return reqId;
  }
  ids(): string[] {
    return this.written.map((w) => w.clientMsgId);
  }
}

const msg = (to: string, clientMsgId: string): Outgoing => ({
  clientMsgId,
  conversation: `s:me:${to}`,
  body: { send: { clientMsgId, to, contentType: 'text', body: new Uint8Array([1]) } },
});
let seqs = new Map<string, number>();
const ackOf = (out: Outgoing, duplicate = false): SendAck => {
  const seq = (seqs.get(out.conversation) ?? 0) + 1;
  seqs.set(out.conversation, seq);
  return { clientMsgId: out.clientMsgId, conversation: out.conversation, seq, msgId: `id${seq}`, ts: 1, duplicate };
};

describe('SendQueue', () => {
  let wire: FakeWire;
  let queue: SendQueue;
  const acked: string[] = [];

  beforeEach(() => {
    vi.useFakeTimers();
    seqs = new Map();
    acked.length = 0;
    wire = new FakeWire();
    queue = new SendQueue(wire, { ackTimeoutMs: 1000, deadlineMs: 10_000, minRetryDelayMs: 100 }, (out) => acked.push(out.clientMsgId));
  });
  afterEach(() => vi.useRealTimers());

  it('keeps one request in flight per conversation and pipelines across conversations', async () => {
    const a1 = msg('bob', 'a1');
    const a2 = msg('bob', 'a2');
    const c1 = msg('carol', 'c1');
    const p1 = queue.enqueue(a1);
    const p2 = queue.enqueue(a2);
    const p3 = queue.enqueue(c1);
    // a2 waits for a1; carol's lane is independent.
    expect(wire.ids()).toEqual(['a1', 'c1']);
    expect(queue.pending).toBe(3);
    expect(queue.inFlight().sort()).toEqual(['a1', 'c1']);

    expect(queue.ack(ackOf(a1))).toBe(true);
    expect(wire.ids()).toEqual(['a1', 'c1', 'a2']);
    queue.ack(ackOf(c1));
    queue.ack(ackOf(a2));
    expect((await p1).seq).toBe(1);
    expect((await p2).seq).toBe(2);
    expect((await p3).seq).toBe(1);
    expect(acked).toEqual(['a1', 'c1', 'a2']);
    expect(queue.pending).toBe(0);
  });

  it('retries with the same clientMsgId after the ack timeout and resolves with the (duplicate) ack', async () => {
    const a1 = msg('bob', 'a1');
    const p = queue.enqueue(a1);
    await vi.advanceTimersByTimeAsync(999);
    expect(wire.ids()).toEqual(['a1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.ids()).toEqual(['a1', 'a1']);
    expect(wire.written[0]!.reqId).not.toBe(wire.written[1]!.reqId);
    queue.ack(ackOf(a1, true));
    await expect(p).resolves.toMatchObject({ clientMsgId: 'a1', seq: 1, duplicate: true });
  });

  it('ignores an ack for another clientMsgId (a late ack of an earlier request)', () => {
    void queue.enqueue(msg('bob', 'a2'));
    expect(queue.ack({ clientMsgId: 'a1', conversation: 's:me:bob', seq: 1, msgId: 'x', ts: 1, duplicate: false })).toBe(false);
    expect(queue.pending).toBe(1);
  });

  it('waits retry_after_ms after IM_UNAVAILABLE, then writes the same clientMsgId', async () => {
    const p = queue.enqueue(msg('bob', 'a1'));
    const reqId = wire.written[0]!.reqId;
    expect(queue.fail(reqId, { code: 'IM_UNAVAILABLE', message: 'busy', retryAfterMs: 500 })).toBe(true);
    await vi.advanceTimersByTimeAsync(499);
    expect(wire.ids()).toEqual(['a1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.ids()).toEqual(['a1', 'a1']);
    queue.ack(ackOf(msg('bob', 'a1')));
    await expect(p).resolves.toMatchObject({ seq: 1 });
  });

  it('rejects on a final error and moves on to the next message of the conversation', async () => {
    const p1 = queue.enqueue(msg('bob', 'a1'));
    const p2 = queue.enqueue(msg('bob', 'a2'));
    expect(queue.fail(999, { code: 'IM_BODY_TOO_LARGE', message: 'x', retryAfterMs: 0 })).toBe(false); // not ours
    queue.fail(wire.written[0]!.reqId, { code: 'IM_BODY_TOO_LARGE', message: 'too big', retryAfterMs: 0 });
    await expect(p1).rejects.toMatchObject({ code: 'IM_BODY_TOO_LARGE' });
    expect(wire.ids()).toEqual(['a1', 'a2']);
    queue.ack(ackOf(msg('bob', 'a2')));
    await expect(p2).resolves.toMatchObject({ clientMsgId: 'a2' });
  });

  it('holds requests while offline and writes the interrupted one again when back online', async () => {
    const p = queue.enqueue(msg('bob', 'a1'));
    wire.online = false;
    queue.offline();
    void queue.enqueue(msg('carol', 'c1'));
    await vi.advanceTimersByTimeAsync(5000); // no ack timeout fires while offline
    expect(wire.ids()).toEqual(['a1']);
    wire.online = true;
    queue.online();
    expect(wire.ids()).toEqual(['a1', 'a1', 'c1']);
    queue.ack(ackOf(msg('bob', 'a1'), true));
    await expect(p).resolves.toMatchObject({ duplicate: true });
  });

  it('fails a send that gets no ack before its deadline, and the queue continues', async () => {
    const p1 = queue.enqueue(msg('bob', 'a1'));
    const p2 = queue.enqueue(msg('bob', 'a2'));
    const caught = p1.catch((e: unknown) => e);
    const caught2 = p2.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_000);
    const err = await caught;
    expect(err).toBeInstanceOf(ImClientError);
    expect((err as ImClientError).code).toBe('SDK_TIMEOUT');
    // a1 was written once per ack timeout; a2's deadline counts from its enqueue, so it ran out too.
    expect(wire.ids().filter((id) => id === 'a1').length).toBe(10);
    expect(await caught2).toMatchObject({ code: 'SDK_TIMEOUT' });
  });

  it('close rejects everything queued', async () => {
    const p1 = queue.enqueue(msg('bob', 'a1'));
    const p2 = queue.enqueue(msg('carol', 'c1'));
    queue.close(new ImClientError('SDK_CLOSED', 'closed'));
    await expect(p1).rejects.toMatchObject({ code: 'SDK_CLOSED' });
    await expect(p2).rejects.toMatchObject({ code: 'SDK_CLOSED' });
    expect(queue.pending).toBe(0);
  });
});
