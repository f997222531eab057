// The Bus contract (services/ports/bus.ts, docs/architecture.md §2 and §7), written once and run
// against every adapter: the in-memory bus in the `unit` project, RabbitMQ in the integration
// suites.
//
// Isolation: every test uses its own upstream track and gate ids (random UUIDs) and recognises
// its own messages by a per-test body prefix, so one broker can serve every test. The store
// queue has no name in the port, so `make()` must hand out a bus whose store queue nobody else
// consumes during the test (a new bus per test, with a per-test queue prefix for a real broker);
// messages left over from earlier tests are ignored.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type BusDelivery, type BusHandler, type Subscription, UpstreamFullError } from './bus.js';

export interface BusFixture {
  bus: Bus;
  /** How many times one message is delivered at most before it is dead-lettered (≥ 3). */
  deliveryLimit: number;
  /** How long to wait before concluding that nothing more arrives; default 150 ms. */
  quietMs?: number;
  /** Upper bound for anything that must arrive; default 5000 ms. */
  timeoutMs?: number;
  cleanup(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (d: BusDelivery): string => decoder.decode(d.body);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects what one handler received, in order. */
class Recorder {
  readonly deliveries: Array<{ body: string; deliveryCount: number }> = [];
  constructor(private readonly prefix: string) {}
  /** Records deliveries of this test only (a shared broker may hold leftovers of others). */
  record(d: BusDelivery): boolean {
    const body = text(d);
    if (!body.startsWith(this.prefix)) return false;
    this.deliveries.push({ body, deliveryCount: d.deliveryCount });
    return true;
  }
  bodies(): string[] {
    return this.deliveries.map((d) => d.body);
  }
  count(body: string): number {
    return this.deliveries.filter((d) => d.body === body).length;
  }
}

export interface BusFixtureOptions {
  /** Bound of each upstream track's queue: bytes of frames waiting for a consumer (0: unbounded). */
  upstreamMaxBytes?: number;
  /** Events one app's queue holds waiting before the oldest is dead-lettered. */
  eventsQueueMaxLength?: number;
}

export function busContract(name: string, make: (opts?: BusFixtureOptions) => Promise<BusFixture>): void {
  describe(`Bus contract: ${name}`, () => {
    let fx: BusFixture;
    let bus: Bus;
    let run: string;
    let subs: Subscription[];
    let quietMs: number;
    let timeoutMs: number;

    const body = (label: string | number): Uint8Array => encoder.encode(`${run}:${label}`);
    const tag = (label: string | number): string => `${run}:${label}`;
    const track = (): string => `track-${randomUUID()}`;
    const gate = (): string => `gate-${randomUUID()}`;
    const app = (): string => `app-${randomUUID()}`;

    async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(5);
      }
    }
    const quiet = (): Promise<void> => sleep(quietMs);
    const keep = async (s: Promise<Subscription>): Promise<Subscription> => {
      const sub = await s;
      subs.push(sub);
      return sub;
    };
    async function ours(): Promise<string[]> {
      return (await bus.deadLettered()).map((b) => decoder.decode(b)).filter((b) => b.startsWith(`${run}:`));
    }

    beforeEach(async () => {
      fx = await make();
      bus = fx.bus;
      run = randomUUID();
      subs = [];
      quietMs = fx.quietMs ?? 150;
      timeoutMs = fx.timeoutMs ?? 5000;
    });

    afterEach(async () => {
      for (const s of subs) await s.cancel().catch(() => undefined);
      await fx.cleanup();
    });

    it('upstream: competing consumers share a track and each message is handled exactly once', async () => {
      const t = track();
      const a = new Recorder(run);
      const b = new Recorder(run);
      const handler =
        (r: Recorder): BusHandler =>
        async (d) => {
          r.record(d);
          await sleep(2);
        };
      await keep(bus.consumeUpstream(t, handler(a), { prefetch: 1 }));
      await keep(bus.consumeUpstream(t, handler(b), { prefetch: 1 }));

      const n = 40;
      for (let i = 0; i < n; i++) await bus.publishUpstream(t, app(), body(i));
      await waitFor(() => a.deliveries.length + b.deliveries.length >= n, `${n} upstream deliveries`);
      await quiet();

      const all = [...a.deliveries, ...b.deliveries];
      expect(all).toHaveLength(n);
      expect(new Set(all.map((d) => d.body))).toEqual(new Set(Array.from({ length: n }, (_, i) => tag(i))));
      expect(all.every((d) => d.deliveryCount === 1)).toBe(true);
      // Competing, not broadcasting: both consumers took a share of the work.
      expect(a.deliveries.length).toBeGreaterThan(0);
      expect(b.deliveries.length).toBeGreaterThan(0);
    });

    it('upstream: frames of one app published together each reach a handler once; a failure redelivers them', async () => {
      const t = track();
      const a = app();
      const r = new Recorder(run);
      let failed = false;
      await keep(
        bus.consumeUpstream(t, async (d) => {
          if (!r.record(d)) return;
          // One frame fails once: the adapter may hand the frames that travelled with it to the
          // handler again (handlers are idempotent); none may be lost.
          if (!failed && text(d) === tag(7)) {
            failed = true;
            throw new Error('transient failure');
          }
        }),
      );

      const n = 30;
      await Promise.all(Array.from({ length: n }, (_, i) => bus.publishUpstream(t, a, body(i))));
      const expected = Array.from({ length: n }, (_, i) => tag(i));
      await waitFor(() => expected.every((b) => r.count(b) >= 1) && r.count(tag(7)) >= 2, `${n} frames handled, frame 7 twice`);
      await quiet();
      expect(new Set(r.bodies())).toEqual(new Set(expected));
      expect(r.count(tag(7))).toBeGreaterThanOrEqual(2);
      // Every frame but the failed one was handled on its first delivery.
      for (const b of expected) expect(r.deliveries.find((d) => d.body === b)?.deliveryCount).toBe(1);
    });

    it('upstream: past its bound a queue refuses publishes at once (IM_UNAVAILABLE, retry hint); what it took is delivered, and it takes again once drained', async () => {
      const bounded = await make({ upstreamMaxBytes: 1_000 });
      try {
        const t = track();
        const a = app();
        const frame = (i: number): Uint8Array => body(`${i}:`.padEnd(100, 'x'));
        // Nobody consumes yet: publish one at a time until the queue refuses.
        const accepted: string[] = [];
        let refusal: unknown;
        for (let i = 0; i < 40 && refusal === undefined; i++) {
          try {
            await bounded.bus.publishUpstream(t, a, frame(i));
            accepted.push(decoder.decode(frame(i)));
          } catch (err) {
            refusal = err;
          }
        }
        expect(refusal).toBeInstanceOf(UpstreamFullError);
        expect(refusal).toMatchObject({ code: 'IM_UNAVAILABLE' });
        expect((refusal as UpstreamFullError).retryAfterMs).toBeGreaterThan(0);
        // About the bound: at least half of it taken, at most one frame past it (a broker may
        // notice that it is full one message late).
        const size = frame(0).length;
        expect(accepted.length * size).toBeGreaterThanOrEqual(500);
        expect(accepted.length * size).toBeLessThanOrEqual(1_000 + size);
        // Still full: refused again, and the synchronous hint (where the adapter has one) says so.
        await expect(bounded.bus.publishUpstream(t, a, frame(99))).rejects.toBeInstanceOf(UpstreamFullError);
        if (bounded.bus.upstreamFull) expect(bounded.bus.upstreamFull(t)).toBe(true);

        const r = new Recorder(run);
        const sub = await bounded.bus.consumeUpstream(t, async (d) => void r.record(d));
        try {
          await waitFor(() => r.deliveries.length >= accepted.length, `the ${accepted.length} accepted frames`);
          // Drained: publishing is accepted again (a broker may take a moment to say so).
          const after = decoder.decode(frame(100));
          await waitFor(async () => {
            try {
              await bounded.bus.publishUpstream(t, a, frame(100));
              return true;
            } catch (err) {
              if (!(err instanceof UpstreamFullError)) throw err;
              await sleep(50);
              return false;
            }
          }, 'a publish to be accepted after the queue drained');
          if (bounded.bus.upstreamFull) expect(bounded.bus.upstreamFull(t)).toBe(false);
          await waitFor(() => r.count(after) >= 1, 'the frame published after the drain');
          await quiet();
          expect(r.bodies().sort()).toEqual([...accepted, after].sort());
          expect(r.deliveries.every((d) => d.deliveryCount === 1)).toBe(true);
        } finally {
          await sub.cancel();
        }
      } finally {
        await bounded.cleanup();
      }
    });

    it('upstream: tracks are separate queues', async () => {
      const t1 = track();
      const t2 = track();
      const r1 = new Recorder(run);
      const r2 = new Recorder(run);
      await keep(bus.consumeUpstream(t1, async (d) => void r1.record(d)));
      await keep(bus.consumeUpstream(t2, async (d) => void r2.record(d)));

      await bus.publishUpstream(t1, app(), body('for-t1'));
      await waitFor(() => r1.deliveries.length === 1, 'the t1 message');
      await quiet();
      expect(r1.bodies()).toEqual([tag('for-t1')]);
      expect(r2.deliveries).toEqual([]);
    });

    it('a rejecting handler gets the message redelivered with a growing deliveryCount', async () => {
      expect(fx.deliveryLimit).toBeGreaterThanOrEqual(3);
      const t = track();
      const r = new Recorder(run);
      let handled = 0;
      await keep(
        bus.consumeUpstream(t, async (d) => {
          if (!r.record(d)) return;
          if (d.deliveryCount < 3) throw new Error('transient failure');
          handled++;
        }),
      );

      await bus.publishUpstream(t, app(), body('flaky'));
      await waitFor(() => handled === 1, 'the third delivery to succeed');
      await quiet();
      expect(r.deliveries.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
      expect(r.bodies()).toEqual([tag('flaky'), tag('flaky'), tag('flaky')]);
      expect(await ours()).toEqual([]);
    });

    for (const queue of ['upstream', 'store'] as const) {
      it(`${queue}: past the delivery limit a message is dead-lettered and never redelivered`, async () => {
        const t = track();
        const r = new Recorder(run);
        let healthy = 0;
        const handler: BusHandler = async (d) => {
          if (!r.record(d)) return;
          if (text(d) === tag('poison')) throw new Error('poison');
          healthy++;
        };
        if (queue === 'upstream') await keep(bus.consumeUpstream(t, handler));
        else await keep(bus.consumeStore(handler));
        const publish = (b: Uint8Array): Promise<void> => (queue === 'upstream' ? bus.publishUpstream(t, app(), b) : bus.publishStore(b));

        await publish(body('poison'));
        await publish(body('healthy'));
        await waitFor(async () => (await ours()).length > 0, 'the poison message to be dead-lettered');
        await waitFor(() => healthy === 1, 'the healthy message');
        await quiet();

        const poison = r.deliveries.filter((d) => d.body === tag('poison'));
        expect(poison.map((d) => d.deliveryCount)).toEqual(Array.from({ length: fx.deliveryLimit }, (_, i) => i + 1));
        expect(r.count(tag('healthy'))).toBe(1);
        expect(await ours()).toEqual([tag('poison')]);
      });
    }

    it('downstream: a message reaches the named gate only', async () => {
      const g1 = gate();
      const g2 = gate();
      const r1 = new Recorder(run);
      const r2 = new Recorder(run);
      await keep(bus.consumeDownstream(g1, async (d) => void r1.record(d)));
      await keep(bus.consumeDownstream(g2, async (d) => void r2.record(d)));

      for (let i = 0; i < 5; i++) await bus.publishDownstream(g1, body(i));
      await waitFor(() => r1.deliveries.length >= 5, 'five pushes to g1');
      await quiet();
      expect(r1.bodies()).toEqual([0, 1, 2, 3, 4].map(tag));
      expect(r1.deliveries.every((d) => d.deliveryCount === 1)).toBe(true);
      expect(r2.deliveries).toEqual([]);
    });

    it('downstream: messages published while the gate has no consumer are dropped', async () => {
      const g = gate();
      await bus.publishDownstream(g, body('before-anyone'));
      await quiet();

      const r = new Recorder(run);
      const sub = await keep(bus.consumeDownstream(g, async (d) => void r.record(d)));
      await bus.publishDownstream(g, body('while-consumed'));
      await waitFor(() => r.deliveries.length >= 1, 'the push sent while consumed');
      await quiet();
      expect(r.bodies()).toEqual([tag('while-consumed')]);

      // The queue lives and dies with its gate: once the consumer is gone, pushes are dropped
      // and a later consumer (the gate restarted) does not receive them.
      await sub.cancel();
      await bus.publishDownstream(g, body('after-cancel'));
      await quiet();
      const again = new Recorder(run);
      await keep(bus.consumeDownstream(g, async (d) => void again.record(d)));
      await bus.publishDownstream(g, body('after-restart'));
      await waitFor(() => again.deliveries.length >= 1, 'the push sent after the restart');
      await quiet();
      expect(again.bodies()).toEqual([tag('after-restart')]);
      expect(r.bodies()).toEqual([tag('while-consumed')]);
    });

    it('store: publish resolves, messages wait for the consumer, and each is received exactly once', async () => {
      const n = 50;
      // Durable: published before anyone consumes, still delivered.
      await Promise.all(Array.from({ length: n }, (_, i) => bus.publishStore(body(i))));

      const r = new Recorder(run);
      await keep(bus.consumeStore(async (d) => void r.record(d)));
      await waitFor(() => r.deliveries.length >= n, `${n} store deliveries`);
      await quiet();

      expect(r.deliveries).toHaveLength(n);
      expect(new Set(r.bodies())).toEqual(new Set(Array.from({ length: n }, (_, i) => tag(i))));
      expect(r.deliveries.every((d) => d.deliveryCount === 1)).toBe(true);
      expect(await ours()).toEqual([]);
    });

    it('prefetch bounds the messages in flight', async () => {
      const t = track();
      const prefetch = 3;
      let inFlight = 0;
      let maxInFlight = 0;
      let started = 0;
      let done = 0;
      let open = false;
      const waiting: Array<() => void> = [];
      await keep(
        bus.consumeUpstream(
          t,
          async (d) => {
            if (!text(d).startsWith(run)) return;
            started++;
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            if (!open) await new Promise<void>((resolve) => waiting.push(resolve));
            inFlight--;
            done++;
          },
          { prefetch },
        ),
      );

      const n = 10;
      for (let i = 0; i < n; i++) await bus.publishUpstream(t, app(), body(i));
      await waitFor(() => inFlight === prefetch, `${prefetch} messages in flight`);
      await quiet();
      expect(started).toBe(prefetch);

      open = true;
      for (const release of waiting.splice(0)) release();
      await waitFor(() => done === n, 'every message to be handled');
      await quiet();
      expect(started).toBe(n);
      expect(maxInFlight).toBe(prefetch);
    });

    it('cancel stops delivery; messages not yet delivered wait for the next consumer', async () => {
      const t = track();
      const first = new Recorder(run);
      const sub = await keep(bus.consumeUpstream(t, async (d) => void first.record(d)));
      await bus.publishUpstream(t, app(), body(1));
      await waitFor(() => first.deliveries.length === 1, 'the first message');
      await sub.cancel();

      await bus.publishUpstream(t, app(), body(2));
      await bus.publishUpstream(t, app(), body(3));
      await quiet();
      expect(first.bodies()).toEqual([tag(1)]);

      const second = new Recorder(run);
      await keep(bus.consumeUpstream(t, async (d) => void second.record(d)));
      await waitFor(() => second.deliveries.length >= 2, 'the messages published after the cancel');
      await quiet();
      expect(second.bodies()).toEqual([tag(2), tag(3)]);
      expect(first.bodies()).toEqual([tag(1)]);
    });

    it('a message still unacknowledged at cancel goes back to the queue', async () => {
      const t = track();
      const first = new Recorder(run);
      let fail!: (err: Error) => void;
      const sub = await keep(
        bus.consumeUpstream(
          t,
          async (d) => {
            if (!first.record(d)) return;
            await new Promise<void>((_, reject) => (fail = reject));
          },
          { prefetch: 1 },
        ),
      );
      await bus.publishUpstream(t, app(), body('in-flight'));
      await waitFor(() => first.deliveries.length === 1, 'the message to be in flight');

      const cancelled = sub.cancel();
      fail(new Error('shutting down'));
      await cancelled;
      await quiet();
      expect(first.deliveries).toHaveLength(1);

      const second = new Recorder(run);
      await keep(bus.consumeUpstream(t, async (d) => void second.record(d)));
      await waitFor(() => second.deliveries.length >= 1, 'the returned message');
      await quiet();
      expect(second.bodies()).toEqual([tag('in-flight')]);
      expect(first.deliveries).toHaveLength(1);
    });
    it("events: one app's events reach one subscriber at a time, in publish order; a standby takes over when it cancels", async () => {
      const a = app();
      const first = new Recorder(run);
      const standby = new Recorder(run);
      const sub = await keep(bus.consumeEvents(a, async (d) => void first.record(d), { prefetch: 4 }));
      await keep(bus.consumeEvents(a, async (d) => void standby.record(d), { prefetch: 4 }));
      const n = 30;
      for (let i = 0; i < n; i++) await bus.publishEvent(a, body(i));
      await waitFor(() => first.deliveries.length >= n, `${n} events`);
      await quiet();
      expect(first.bodies()).toEqual(Array.from({ length: n }, (_, i) => tag(i)));
      expect(standby.deliveries).toEqual([]);

      await sub.cancel();
      await bus.publishEvent(a, body('after'));
      await waitFor(() => standby.deliveries.length >= 1, 'the standby to take over');
      await quiet();
      expect(standby.bodies()).toEqual([tag('after')]);
      expect(first.deliveries).toHaveLength(n);
    });

    it('events: those a subscriber holds unsettled when it cancels go back to the queue for the next one, none dead-lettered', async () => {
      const a = app();
      const first = new Recorder(run);
      const sub = await keep(
        bus.consumeEvents(
          a,
          async (d) => {
            first.record(d);
            await new Promise<void>(() => undefined); // held, as a delivery that stops mid-retry
          },
          { prefetch: 3 },
        ),
      );
      const deadBefore = (await bus.deadLettered()).length;
      for (let i = 0; i < 5; i++) await bus.publishEvent(a, body(i));
      await waitFor(() => first.deliveries.length === 3, '3 events held');
      await sub.cancel();
      const next = new Recorder(run);
      await keep(bus.consumeEvents(a, async (d) => void next.record(d), { prefetch: 10 }));
      await waitFor(() => next.deliveries.length >= 5, 'all 5 events again');
      await quiet();
      expect([...next.bodies()].sort()).toEqual(Array.from({ length: 5 }, (_, i) => tag(i)).sort());
      expect((await bus.deadLettered()).length).toBe(deadBefore);
    });

    it('events: a rejected event is dead-lettered at once, not redelivered; the next ones follow', async () => {
      const a = app();
      const r = new Recorder(run);
      await keep(
        bus.consumeEvents(a, async (d) => {
          if (r.record(d) && text(d) === tag('poison')) throw new Error('given up by the deliverer');
        }),
      );
      await bus.publishEvent(a, body('before'));
      await bus.publishEvent(a, body('poison'));
      await bus.publishEvent(a, body('after'));
      await waitFor(
        async () => r.count(tag('after')) === 1 && (await ours()).includes(tag('poison')),
        'the dead letter and the next event',
      );
      await quiet();
      expect(r.bodies()).toEqual([tag('before'), tag('poison'), tag('after')]);
      expect(await ours()).toEqual([tag('poison')]);
    });

    it("events: apps are separate queues; one app's unacknowledged events do not hold up another's", async () => {
      const stuck = app();
      const other = app();
      const held = new Recorder(run);
      const flowing = new Recorder(run);
      await keep(bus.consumeEvents(stuck, async (d) => (held.record(d) ? new Promise<void>(() => undefined) : undefined), { prefetch: 2 }));
      await keep(bus.consumeEvents(other, async (d) => void flowing.record(d), { prefetch: 2 }));
      for (let i = 0; i < 5; i++) await bus.publishEvent(stuck, body(`stuck-${i}`));
      for (let i = 0; i < 5; i++) await bus.publishEvent(other, body(`other-${i}`));
      await waitFor(() => flowing.deliveries.length >= 5, "the other app's events");
      await quiet();
      expect(held.bodies()).toEqual([tag('stuck-0'), tag('stuck-1')]);
      expect(flowing.bodies()).toEqual(Array.from({ length: 5 }, (_, i) => tag(`other-${i}`)));
    });

    it("events: past its bound an app's queue dead-letters its oldest events and never refuses a publish", async () => {
      const bounded = await make({ eventsQueueMaxLength: 5 });
      try {
        const a = app();
        for (let i = 0; i < 8; i++) await bounded.bus.publishEvent(a, body(i));
        const r = new Recorder(run);
        const sub = await bounded.bus.consumeEvents(a, async (d) => void r.record(d));
        try {
          const dead = async () => (await bounded.bus.deadLettered()).map((b) => decoder.decode(b)).filter((b) => b.startsWith(`${run}:`));
          await waitFor(
            async () => r.deliveries.length >= 5 && (await dead()).length >= 3,
            'the newest 5 delivered, the oldest 3 dead-lettered',
          );
          await quiet();
          expect(r.bodies()).toEqual([3, 4, 5, 6, 7].map(tag));
          expect((await dead()).sort()).toEqual([0, 1, 2].map(tag).sort());
        } finally {
          await sub.cancel();
        }
      } finally {
        await bounded.cleanup();
      }
    });
  });
}
