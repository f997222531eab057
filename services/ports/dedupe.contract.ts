// The Dedupe contract (services/ports/dedupe.ts, docs/architecture.md §2 step 3), written once and
// run against every adapter: the in-memory one in the `unit` project, Redis in the integration
// suites. Every test uses fresh AppIds, senders and clientMsgIds, so one server can serve them all.
// Leases are 1 s and the tests wait 1.3 s for them to lapse: generous for a real server on a busy
// machine.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Dedupe, SendAckRecord } from './dedupe.js';
import type { SeqAllocator } from './seq-allocator.js';

export interface DedupeFixture {
  dedupe: Dedupe;
  /** The allocator whose seqs the dedupe's claims with a SeqDraw take. */
  seq: SeqAllocator;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// Two calls in a row to a real server fall well within a lease, even on a busy machine; a sleep
// of PAST_LEASE (which only a busy machine lengthens) outlasts it.
const LEASE = 1000;
const PAST_LEASE = 1300;
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

    describe('claims that draw a seq (SeqDraw)', () => {
      const draw = (conversation: string, draft = message()) => ({ conversation, draft, ttlMs: LONG });

      it('a new send takes the next seq and records the draft with it; the allocator goes on after it', async () => {
        const conversation = `c:${id('conv')}`;
        const before = await fx.seq.next(app, conversation);
        const draft = message();
        expect(await dedupe.claim(app, sender, cmid, LEASE, draw(conversation, draft))).toEqual({ state: 'new', seq: before + 1 });
        expect(await fx.seq.next(app, conversation)).toBe(before + 2);
        // Held: busy, and no seq taken.
        expect(await dedupe.claim(app, sender, cmid, LEASE, draw(conversation))).toEqual({ state: 'busy' });
        await elapse(PAST_LEASE);
        // Lapsed: the retry resumes the draft with its recorded seq, and takes no new one.
        const retry = await dedupe.claim(app, sender, cmid, LONG, draw(conversation));
        expect(retry).toMatchObject({ state: 'allocated', seq: before + 1 });
        if (retry.state === 'allocated') expect(hex(retry.message)).toBe(hex(draft));
        expect(await fx.seq.next(app, conversation)).toBe(before + 3);
      });

      it('release keeps a drawn send resumable; complete ends it as done; neither takes a seq', async () => {
        const conversation = `c:${id('conv')}`;
        const before = await fx.seq.next(app, conversation);
        expect(await dedupe.claim(app, sender, cmid, LONG, draw(conversation))).toEqual({ state: 'new', seq: before + 1 });
        await dedupe.release(app, sender, cmid);
        expect(await dedupe.claim(app, sender, cmid, LONG, draw(conversation))).toMatchObject({ state: 'allocated', seq: before + 1 });
        const ack = ackFor(cmid, before + 1);
        await dedupe.complete(app, sender, cmid, ack, LONG);
        expect(await dedupe.claim(app, sender, cmid, LONG, draw(conversation))).toEqual({ state: 'done', ack });
        expect(await fx.seq.next(app, conversation)).toBe(before + 2);
      });

      it('a send allocated without a draw resumes without a seq, and a plain claim resumes a drawn one with its seq', async () => {
        const conversation = `c:${id('conv')}`;
        const before = await fx.seq.next(app, conversation);
        const msg = message();
        expect(await dedupe.claim(app, sender, cmid, LONG)).toEqual({ state: 'new' });
        await dedupe.allocate(app, sender, cmid, msg, LONG);
        await dedupe.release(app, sender, cmid);
        const resumed = await dedupe.claim(app, sender, cmid, LONG, draw(conversation));
        expect(resumed.state).toBe('allocated');
        if (resumed.state === 'allocated') {
          expect(resumed.seq).toBeUndefined();
          expect(hex(resumed.message)).toBe(hex(msg));
        }

        const other = id('cmid');
        expect(await dedupe.claim(app, sender, other, LONG, draw(conversation))).toEqual({ state: 'new', seq: before + 1 });
        await dedupe.release(app, sender, other);
        expect(await dedupe.claim(app, sender, other, LONG)).toMatchObject({ state: 'allocated', seq: before + 1 });
        expect(await fx.seq.next(app, conversation)).toBe(before + 2);
      });

      it('concurrent drawing claims of one conversation take distinct, consecutive seqs', async () => {
        const conversation = `c:${id('conv')}`;
        const before = await fx.seq.next(app, conversation);
        const claims = await Promise.all(Array.from({ length: 20 }, () => dedupe.claim(app, sender, id('cmid'), LONG, draw(conversation))));
        const seqs = claims.map((c) => (c.state === 'new' ? c.seq : undefined));
        // An adapter may find no seq at hand (its block is used up); every seq it did draw is new.
        const drawn = seqs.filter((q): q is number => q !== undefined).sort((a, b) => a - b);
        expect(new Set(drawn).size).toBe(drawn.length);
        expect(drawn.every((q) => q > before)).toBe(true);
        expect(drawn.length).toBeGreaterThan(0);
        const after = await fx.seq.next(app, conversation);
        expect(after).toBeGreaterThan(Math.max(before, ...drawn));
      });

      it('a conversation without seqs yet: a claim may draw its first seq or leave it to the allocator; no seq is issued twice', async () => {
        const conversation = `c:${id('conv')}`;
        const claim = await dedupe.claim(app, sender, cmid, LONG, draw(conversation));
        expect(claim.state).toBe('new');
        const drawn = claim.state === 'new' ? claim.seq : undefined;
        const next = await fx.seq.next(app, conversation);
        if (drawn === undefined) expect(next).toBe(1);
        else {
          expect(drawn).toBe(1);
          expect(next).toBe(2);
        }
      });
    });
  });
}
