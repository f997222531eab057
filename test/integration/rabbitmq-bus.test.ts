// The Bus port on a real RabbitMQ (started by test/infra for this file): the shared contract
// suite, then what only a real broker can show — restarts, the broker's delivery limit and
// dead-lettering, a broker that is down, slow gates, back-pressure, and the topology names the
// operator relies on.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { type Channel, type ChannelModel, connect } from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import { RabbitmqBus, type RabbitmqBusOptions } from '../../services/adapters/rabbitmq/rabbitmq-bus.js';
import { busContract } from '../../services/ports/bus.contract.js';
import type { BusDelivery, Subscription } from '../../services/ports/bus.js';
import { type RabbitmqServer, type Servers, startServers } from '../infra/index.js';

const log = pino({ level: process.env.IMCLOUD_TEST_LOG_LEVEL ?? 'silent' });
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let servers: Servers;
let rabbit: RabbitmqServer;
/** Raw connections for looking at queues behind the bus's back (the broker restarts in between). */
const rawConnections: ChannelModel[] = [];

beforeAll(async () => {
  servers = await startServers(['rabbitmq']);
  rabbit = servers.rabbitmq!;
}, 300_000);

afterAll(async () => {
  await Promise.all(rawConnections.map((c) => c.close().catch(() => undefined)));
  await servers?.stop();
});

const opened: RabbitmqBus[] = [];
function newBus(opts: Partial<RabbitmqBusOptions> = {}): RabbitmqBus {
  const bus = new RabbitmqBus({
    url: rabbit.url,
    log,
    namespace: `t-${randomUUID()}`,
    deliveryLimit: 4,
    cancelGraceMs: 2_000,
    reconnectMaxDelayMs: 1_000,
    ...opts,
  }).start();
  opened.push(bus);
  return bus;
}
afterAll(async () => {
  await Promise.all(opened.map((b) => b.close().catch(() => undefined)));
});

/** A channel on a fresh raw connection; closing the channel closes its connection. */
async function rawChannel(): Promise<Channel> {
  const conn = await connect(rabbit.url);
  conn.on('error', () => undefined);
  rawConnections.push(conn);
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  ch.once('close', () => void conn.close().catch(() => undefined));
  return ch;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Retries like a caller would: only IM_UNAVAILABLE is retryable. */
async function publishWithRetry(publish: () => Promise<void>, onRetry: (err: ImError) => void): Promise<void> {
  for (;;) {
    try {
      return await publish();
    } catch (err) {
      if (!(err instanceof ImError) || err.code !== 'IM_UNAVAILABLE') throw err;
      onRetry(err);
      await sleep(50);
    }
  }
}

busContract('rabbitmq', async (opts = {}) => {
  const bus = newBus({ upstreamMaxBytes: opts.upstreamMaxBytes, eventsQueueMaxLength: opts.eventsQueueMaxLength });
  await bus.waitReady(30_000);
  return {
    bus,
    deliveryLimit: 4,
    quietMs: 300,
    timeoutMs: 20_000,
    cleanup: () => bus.close(),
  };
});

describe('RabbitMQ bus: what only the real broker shows', () => {
  it('declares the topology under the names of services/shared/topology.ts (the operator reads them)', async () => {
    const bus = newBus({ namespace: '' });
    await bus.waitReady();
    const track = `names-${randomUUID().slice(0, 8)}`;
    const gate = `gate-${randomUUID().slice(0, 8)}`;
    const sub = await bus.consumeDownstream(gate, async () => undefined);
    await bus.publishUpstream(track, 'app-1', encoder.encode('hello'));

    const queues = await rabbit.ctl(['list_queues', '-q', '--no-table-headers', 'name', 'type', 'durable', 'auto_delete', 'arguments']);
    const row = (name: string): string => queues.split('\n').find((l) => l.split('\t')[0] === name) ?? '';
    for (const name of ['imcloud.store', `imcloud.upstream.${track}`]) {
      expect(row(name)).toMatch(/\tquorum\ttrue\tfalse\t/);
      expect(row(name)).toContain('x-delivery-limit');
      expect(row(name)).toMatch(/x-dead-letter-exchange[^\]]*imcloud\.dead/);
    }
    expect(row('imcloud.dead')).toMatch(/\tquorum\ttrue\tfalse\t/);
    expect(row(`imcloud.push.${gate}`)).toMatch(/\tclassic\tfalse\ttrue\t/);
    expect(row(`imcloud.push.${gate}`)).toContain('x-max-length');
    expect(row(`imcloud.push.${gate}`)).toMatch(/x-overflow[^\]]*drop-head/);

    const exchanges = await rabbit.ctl(['list_exchanges', '-q', '--no-table-headers', 'name', 'type']);
    expect(exchanges).toMatch(/^imcloud\.upstream\ttopic$/m);
    expect(exchanges).toMatch(/^imcloud\.push\tdirect$/m);
    expect(exchanges).toMatch(/^imcloud\.dead\tfanout$/m);

    // The upstream queue is bound `<track>.#`: published before any logic consumed, it waits.
    const ch = await rawChannel();
    expect((await ch.checkQueue(`imcloud.upstream.${track}`)).messageCount).toBe(1);
    await sub.cancel();
    await ch.deleteQueue(`imcloud.upstream.${track}`);
    await ch.close();
    await bus.close();
  });

  it('confirmed messages survive a broker restart; subscriptions come back by themselves', async () => {
    const bus = newBus({ publishTimeoutMs: 60_000 });
    await bus.waitReady();
    const run = randomUUID();
    const track = `track-${randomUUID()}`;
    const gate = `gate-${randomUUID()}`;
    const upstream: string[] = [];
    const pushes: string[] = [];
    const subs: Subscription[] = [
      await bus.consumeUpstream(track, async (d) => void upstream.push(decoder.decode(d.body))),
      await bus.consumeDownstream(gate, async (d) => void pushes.push(decoder.decode(d.body))),
    ];

    // Confirmed while nobody consumes the store queue.
    const n = 500;
    await Promise.all(Array.from({ length: n }, (_, i) => bus.publishStore(encoder.encode(`${run}:${i}`))));

    await rabbit.restart();
    await waitFor(() => bus.ready(), 'the bus to reconnect after the restart', 60_000);

    // Everything confirmed before the restart is still there, exactly once.
    const stored = new Map<string, number>();
    subs.push(
      await bus.consumeStore(async (d) => {
        const body = decoder.decode(d.body);
        if (body.startsWith(run)) stored.set(body, (stored.get(body) ?? 0) + 1);
      }),
    );
    await waitFor(() => stored.size === n, `${n} store messages after the restart`);
    expect([...stored.values()].every((c) => c === 1)).toBe(true);

    // The upstream and push subscriptions made before the restart were resubscribed.
    await bus.publishUpstream(track, 'app-1', encoder.encode(`${run}:after-restart`));
    await bus.publishDownstream(gate, encoder.encode(`${run}:push-after-restart`));
    await waitFor(() => upstream.includes(`${run}:after-restart`), 'the upstream message after the restart');
    await waitFor(() => pushes.includes(`${run}:push-after-restart`), 'the push after the restart');
    for (const s of subs) await s.cancel();
  });

  it('publishing through a restart: every confirmed message is delivered; interrupted ones reject IM_UNAVAILABLE', async () => {
    const bus = newBus({ publishTimeoutMs: 2_000, maxUnconfirmed: 64 });
    await bus.waitReady();
    const run = randomUUID();
    const received = new Set<string>();
    const sub = await bus.consumeStore(
      async (d) => {
        const body = decoder.decode(d.body);
        if (body.startsWith(run)) received.add(body);
      },
      { prefetch: 50 },
    );

    const confirmed = new Set<string>();
    const retries: ImError[] = [];
    let stop = false;
    let next = 0;
    const producer = async (): Promise<void> => {
      while (!stop) {
        const body = `${run}:${next++}`;
        await publishWithRetry(
          () => bus.publishStore(encoder.encode(body)),
          (err) => retries.push(err),
        );
        confirmed.add(body);
        await sleep(2);
      }
    };
    const producers = Array.from({ length: 8 }, producer);
    await waitFor(() => confirmed.size >= 300, 'some messages before the restart');
    await rabbit.restart();
    await waitFor(() => bus.ready(), 'the bus to reconnect', 60_000);
    const atReconnect = confirmed.size;
    await waitFor(() => confirmed.size >= atReconnect + 300, 'some messages after the restart');
    stop = true;
    await Promise.all(producers);

    await waitFor(() => [...confirmed].every((b) => received.has(b)), `all ${confirmed.size} confirmed messages to be consumed`, 60_000);
    // The broker was really gone for a while: publishes were refused, and only with IM_UNAVAILABLE.
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((e) => e.code === 'IM_UNAVAILABLE')).toBe(true);
    await sub.cancel();
  });

  it('a poison message ends in the dead-letter queue after the delivery limit, counted once', async () => {
    const namespace = `t-${randomUUID()}`;
    const deadLetters: Array<{ kind: string; body: string }> = [];
    const bus = newBus({
      namespace,
      deliveryLimit: 3,
      onDeadLetter: (kind, body) => deadLetters.push({ kind, body: decoder.decode(body) }),
    });
    await bus.waitReady();
    const track = `track-${randomUUID()}`;
    const deliveries: BusDelivery[] = [];
    const sub = await bus.consumeUpstream(track, async (d) => {
      deliveries.push(d);
      throw new Error('poison: this handler always fails');
    });
    await bus.publishUpstream(track, 'app-1', encoder.encode('poison'));
    await waitFor(async () => (await bus.deadLettered()).length === 1, 'the dead letter');
    await sleep(500);
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
    expect(deadLetters).toEqual([{ kind: 'upstream', body: 'poison' }]);
    await sub.cancel();

    // The broker put it in the durable dead-letter queue, saying why and from where.
    const ch = await rawChannel();
    const msg = await ch.get(bus.topology.deadLetterQueue, { noAck: true });
    expect(msg).not.toBe(false);
    if (msg === false) return;
    expect(msg.content.toString()).toBe('poison');
    expect(msg.properties.headers?.['x-first-death-reason']).toBe('delivery_limit');
    expect(msg.properties.headers?.['x-first-death-queue']).toBe(bus.topology.upstreamQueue(track));
    await ch.close();
  });

  it('upstream frames of one app published together travel as one message; a failing one is split off and dead-lettered alone', async () => {
    const deadLetters: string[] = [];
    const bus = newBus({
      namespace: `t-${randomUUID()}`,
      deliveryLimit: 2,
      onDeadLetter: (_kind, body) => deadLetters.push(decoder.decode(body)),
    });
    await bus.waitReady();
    const track = `track-${randomUUID()}`;
    const deliveries: Array<{ body: string; deliveryCount: number }> = [];
    const sub = await bus.consumeUpstream(track, async (d) => {
      const body = decoder.decode(d.body);
      deliveries.push({ body, deliveryCount: d.deliveryCount });
      if (body === 'f3') throw new Error('poison: this frame always fails');
    });
    const frames = ['f0', 'f1', 'f2', 'f3', 'f4'];
    await Promise.all(frames.map((f) => bus.publishUpstream(track, 'app-1', encoder.encode(f))));
    await waitFor(async () => (await bus.deadLettered()).length === 1, 'the dead letter');
    // The other frames' single deliveries may still come after f3 is dead-lettered.
    await waitFor(
      () => frames.every((f) => deliveries.filter((d) => d.body === f && d.deliveryCount === 1).length >= 2),
      'every frame delivered alone once',
    );
    await sleep(300);
    // First as one batch, then (f3 failed) each frame on its own; f3 alone used up its deliveries.
    for (const f of frames) expect(deliveries.filter((d) => d.body === f && d.deliveryCount === 1)).toHaveLength(2);
    expect(deliveries.filter((d) => d.body === 'f3').map((d) => d.deliveryCount)).toEqual([1, 1, 2]);
    expect(deliveries.filter((d) => d.deliveryCount > 1).map((d) => d.body)).toEqual(['f3']);
    expect(deadLetters).toEqual(['f3']);
    expect((await bus.deadLettered()).map((b) => decoder.decode(b))).toEqual(['f3']);
    await sub.cancel();
    await bus.close();
  });

  it('a message that kills its consumer (channel closed before the ack) is dead-lettered too, not looped', async () => {
    const bus = newBus({ deliveryLimit: 3 });
    await bus.waitReady();
    await bus.publishStore(encoder.encode('crasher'));
    // A consumer process that dies on this message every time: the channel closes unacked.
    // Each one waits for the message or for the broker to have dead-lettered it (not a fixed
    // time: a delivery that came after a timeout would be returned uncounted).
    let deliveries = 0;
    for (let i = 0; i < 10 && (await bus.deadLettered()).length === 0; i++) {
      const ch = await rawChannel();
      let delivered = false;
      await ch.consume(bus.topology.storeQueue, (m) => {
        if (m === null || delivered) return;
        delivered = true;
        deliveries++;
      });
      await waitFor(async () => delivered || (await bus.deadLettered()).length > 0, 'the message or its dead letter');
      await ch.close();
    }
    await waitFor(async () => (await bus.deadLettered()).length === 1, 'the dead letter');
    expect(deliveries).toBe(3);
    expect(decoder.decode((await bus.deadLettered())[0])).toBe('crasher');
  });

  it('broker down: readyz false, publishes reject IM_UNAVAILABLE or wait bounded, start-up retries with a clear log', async () => {
    const slow = newBus({ publishTimeoutMs: 60_000 });
    const fast = newBus({ publishTimeoutMs: 500 });
    await Promise.all([slow.waitReady(), fast.waitReady()]);
    const run = randomUUID();
    const got: string[] = [];
    await slow.consumeStore(async (d) => void got.push(decoder.decode(d.body)));

    await rabbit.ctl(['stop_app']);
    try {
      await waitFor(() => !slow.ready() && !fast.ready(), 'readyz to turn false');

      // Short timeout: refused with IM_UNAVAILABLE, not silently dropped, while the long one
      // below still waits (the test's own timeout bounds how long "short" may take).
      const refused = await fast.publishStore(encoder.encode(`${run}:refused`)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ImError);
      expect((refused as ImError).code).toBe('IM_UNAVAILABLE');

      // Long timeout: waits for the broker to come back.
      let waited = false;
      const waiting = slow.publishStore(encoder.encode(`${run}:waited`)).then(() => void (waited = true));

      // A process started while the broker is down: not ready, logs each attempt with what to check.
      const lines: string[] = [];
      const capture = pino(
        { level: 'warn' },
        new Writable({
          write: (chunk, _enc, cb) => {
            lines.push(String(chunk));
            cb();
          },
        }),
      );
      const late = newBus({ log: capture, reconnectMinDelayMs: 50, reconnectMaxDelayMs: 200 });
      const lateGot: string[] = [];
      await late.consumeUpstream('late', async (d) => void lateGot.push(decoder.decode(d.body)));
      await waitFor(() => lines.length >= 2, 'connect attempts to be logged');
      expect(late.ready()).toBe(false);
      expect(lines[0]).toMatch(/attempt 1 to connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+.*retrying in \d+ ms/);
      expect(lines[0]).toMatch(/Check that the broker is running and reachable/);
      expect(lines.join('')).not.toContain('guest:guest');

      await sleep(500);
      expect(waited).toBe(false);
      await rabbit.ctl(['start_app']);
      await waiting;
      await waitFor(() => got.includes(`${run}:waited`), 'the waited publish to be consumed');
      expect(got).not.toContain(`${run}:refused`);

      await late.waitReady(60_000);
      await late.publishUpstream('late', 'app-1', encoder.encode(`${run}:late`));
      await waitFor(() => lateGot.includes(`${run}:late`), 'the late subscription to work');
      await waitFor(() => fast.ready(), 'the fast bus to reconnect too');
    } finally {
      await rabbit.ctl(['start_app']).catch(() => undefined);
    }
  });

  it('push queues (classic, no broker count): a rejected push is retried with a growing deliveryCount, then dead-lettered', async () => {
    const deadLetters: string[] = [];
    const bus = newBus({ deliveryLimit: 3, onDeadLetter: (kind, body) => deadLetters.push(`${kind}:${decoder.decode(body)}`) });
    await bus.waitReady();
    const gate = `gate-${randomUUID()}`;
    const seen: Array<[string, number]> = [];
    const sub = await bus.consumeDownstream(gate, async (d) => {
      const body = decoder.decode(d.body);
      seen.push([body, d.deliveryCount]);
      if (body === 'poison' || d.deliveryCount < 2) throw new Error('cannot deliver now');
    });
    await bus.publishDownstream(gate, encoder.encode('flaky'));
    await waitFor(() => seen.filter(([b]) => b === 'flaky').length === 2, 'the flaky push to succeed on its second delivery');
    await bus.publishDownstream(gate, encoder.encode('poison'));
    await waitFor(async () => (await bus.deadLettered()).length === 1, 'the poison push to be dead-lettered');
    await sleep(300);
    expect(seen.filter(([b]) => b === 'flaky').map(([, n]) => n)).toEqual([1, 2]);
    expect(seen.filter(([b]) => b === 'poison').map(([, n]) => n)).toEqual([1, 2, 3]);
    expect(deadLetters).toEqual(['push:poison']);
    expect(decoder.decode((await bus.deadLettered())[0])).toBe('poison');
    await sub.cancel();
  });

  it('a stuck gate does not hold back pushes to another gate, and its queue stays bounded', async () => {
    const bus = newBus({ downstreamQueueMaxLength: 20, cancelGraceMs: 100 });
    await bus.waitReady();
    const stuck = `gate-${randomUUID()}`;
    const healthy = `gate-${randomUUID()}`;
    let stuckGot = 0;
    const healthyGot: string[] = [];
    const never = new Promise<void>(() => undefined);
    const s1 = await bus.consumeDownstream(
      stuck,
      async () => {
        stuckGot++;
        await never;
      },
      { prefetch: 1 },
    );
    const s2 = await bus.consumeDownstream(healthy, async (d) => void healthyGot.push(decoder.decode(d.body)), { prefetch: 8 });

    const n = 300;
    for (let i = 0; i < n; i++) {
      await Promise.all([bus.publishDownstream(stuck, encoder.encode(`s${i}`)), bus.publishDownstream(healthy, encoder.encode(`h${i}`))]);
    }
    await waitFor(() => healthyGot.length === n, `${n} pushes to the healthy gate`);
    expect(healthyGot).toEqual(Array.from({ length: n }, (_, i) => `h${i}`));
    expect(stuckGot).toBe(1);

    // drop-head: the stuck gate's queue holds at most downstreamQueueMaxLength, the newest ones.
    const ch = await rawChannel();
    const depth = (await ch.checkQueue(bus.topology.downstreamQueue(stuck))).messageCount;
    expect(depth).toBe(20);
    await ch.close();
    await s1.cancel();
    await s2.cancel();
  });

  it('back-pressure: unconfirmed messages stay bounded while thousands of publishers wait', async () => {
    const bus = newBus({ maxUnconfirmed: 8 });
    await bus.waitReady();
    const run = randomUUID();
    const n = 3_000;
    // One app per message: frames of different apps never share a batch (publish-batch.ts).
    const track = `track-${randomUUID()}`;
    await Promise.all(Array.from({ length: n }, (_, i) => bus.publishUpstream(track, `app-${i}`, encoder.encode(`${run}:${i}`))));
    const stats = bus.publishStats();
    expect(stats.peakUnconfirmed).toBe(8);
    expect(stats.unconfirmed).toBe(0);
    expect(stats.waiting).toBe(0);

    const ch = await rawChannel();
    expect((await ch.checkQueue(bus.topology.upstreamQueue(track))).messageCount).toBe(n);
    await ch.close();
  });

  it('back-pressure: large bodies fill the socket, publishers wait for drain, every message is confirmed', async () => {
    const bus = newBus({ maxUnconfirmed: 256, publishChannelHighWaterMark: 16 });
    await bus.waitReady();
    const n = 200;
    const big = new Uint8Array(256 * 1024).fill(7);
    const track = `track-${randomUUID()}`;
    await Promise.all(Array.from({ length: n }, (_, i) => bus.publishUpstream(track, `app-${i}`, big)));
    const stats = bus.publishStats();
    expect(stats.drainWaits).toBeGreaterThan(0);
    expect(stats.unconfirmed).toBe(0);
    const ch = await rawChannel();
    expect((await ch.checkQueue(bus.topology.upstreamQueue(track))).messageCount).toBe(n);
    await ch.close();
  });
});
