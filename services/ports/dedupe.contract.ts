// The Dedupe contract (services/ports/dedupe.ts, DESIGN §3 step 3), written once and run against
// every adapter: the in-memory one in the `unit` project, Redis in the integration suites.
// Every test uses fresh AppIds, senders and clientMsgIds, so one server can serve them all.
// Leases are 300 ms and the tests wait 600 ms for them to lapse: generous for a real server.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dedupe, SendAckRecord } from './dedupe.js';

export interface DedupeFixture {
  dedupe: Dedupe;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const LEASE = 300;
const PAST_LEASE = 600;
const LONG = 60_000;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function dedupeContract(name: string, make: () => Promise<DedupeFixture>): void {
  describe(`Dedupe contract: ${name}`, () => {
    let fx: DedupeFixture;
    const elapse = (ms: number): Promise<void> => (fx.elapse ? fx.elapse(ms) : sleep(ms));
    let dedupe: Dedupe;
    let app: string;
    let sender: string;
    let cmid: string;

    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const ackFor = (clientMsgId: string, seq = 7): SendAckRecord => ({
      clientMsgId,
      conversation: `c:${id('conv')}`,
      seq,
      msgId: '7241849600123456789',
      ts: 1_700_000_000_456,
    });
    const message = (): Uint8Array => new Uint8Array([8, 7, 0, 255, 1, ...Buffer.from(randomUUID())]);

    beforeEach(async () => {
      fx = await make();
      dedupe = fx.dedupe;
      app = id('app');
      sender = id('user');
      cmid = id('cmid');
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('a new send is claimed once; retries are busy while the lease is held', async () => {
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'new' });
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'busy' });
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'busy' });
      expect(await dedupe.claim(app, sender, id('cmid'), LONG)).toEqual({ state: 'new' });
    });

    it('only one of many concurrent claims wins', async () => {
      const claims = await Promise.all(Array.from({ length: 20 }, () => dedupe.claim(app, sender, cmid, LONG)));
      expect(claims.filter((c) => c.state === 'new')).toHaveLength(1);
      expect(claims.filter((c) => c.state === 'busy')).toHaveLength(19);
    });

    it('after the lease lapses without allocate, a retry claims the send as new', async () => {
      expect((await dedupe.claim(app, sender, cmid, LEASE)).state).toBe('new');
      expect((await dedupe.claim(app, sender, cmid, LEASE)).state).toBe('busy');
      await elapse(PAST_LEASE);
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('busy');
    });

    it('after allocate and a lapsed lease, a retry gets the same message bytes and its own lease', async () => {
      const msg = message();
      expect((await dedupe.claim(app, sender, cmid, LEASE)).state).toBe('new');
      await dedupe.allocate(app, sender, cmid, msg, LONG);
      expect((await dedupe.claim(app, sender, cmid, LEASE)).state).toBe('busy');

      await elapse(PAST_LEASE);
      const retry = await dedupe.claim(app, sender, cmid, LONG);
      expect(retry.state).toBe('allocated');
      if (retry.state !== 'allocated') return;
      expect(retry.message).toBeInstanceOf(Uint8Array);
      expect(hex(retry.message)).toBe(hex(msg));
      // The retry now owns the send: a third attempt is busy.
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('busy');
    });

    it('complete makes every retry see done with the original ack', async () => {
      const ack = ackFor(cmid);
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      await dedupe.allocate(app, sender, cmid, message(), LONG);
      await dedupe.complete(app, sender, cmid, ack, LONG);
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
      // A late release (e.g. from a confused owner) cannot undo a completed send.
      await dedupe.release(app, sender, cmid);
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
    });

    it('a retry that took over an allocated send completes it; then retries see done', async () => {
      const msg = message();
      const ack = ackFor(cmid, 42);
      await dedupe.claim(app, sender, cmid, LONG);
      await dedupe.allocate(app, sender, cmid, msg, LONG);
      await dedupe.release(app, sender, cmid);
      const retry = await dedupe.claim(app, sender, cmid, LONG);
      expect(retry.state).toBe('allocated');
      await dedupe.complete(app, sender, cmid, ack, LONG);
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
    });

    it('release after allocate keeps the message: a retry resumes it at once', async () => {
      const msg = message();
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      await dedupe.allocate(app, sender, cmid, msg, LONG);
      await dedupe.release(app, sender, cmid);
      const retry = await dedupe.claim(app, sender, cmid, LONG);
      expect(retry.state).toBe('allocated');
      if (retry.state !== 'allocated') return;
      expect(hex(retry.message)).toBe(hex(msg));
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('busy');
    });

    it('release of a claim that never allocated lets a retry start fresh', async () => {
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      await dedupe.release(app, sender, cmid);
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('busy');
      await dedupe.release(app, sender, id('cmid'));
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('busy');
    });

    it('records are isolated per app and per sender', async () => {
      const otherApp = id('app');
      const otherSender = id('user');
      const ack = ackFor(cmid);
      expect((await dedupe.claim(app, sender, cmid, LONG)).state).toBe('new');
      expect((await dedupe.claim(app, otherSender, cmid, LONG)).state).toBe('new');
      expect((await dedupe.claim(otherApp, sender, cmid, LONG)).state).toBe('new');

      await dedupe.complete(app, sender, cmid, ack, LONG);
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
      expect((await dedupe.claim(app, otherSender, cmid, LONG)).state).toBe('busy');
      expect((await dedupe.claim(otherApp, sender, cmid, LONG)).state).toBe('busy');

      await dedupe.release(otherApp, sender, cmid);
      expect((await dedupe.claim(otherApp, sender, cmid, LONG)).state).toBe('new');
      expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'done', ack });
    });
  });
}
