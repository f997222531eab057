// The deliverer against the in-memory bus and a real HTTP endpoint on loopback: retries with
// backoff until a 2xx, dead-letters after maxAttempts, keeps each conversation's order while the
// endpoint fails, and counts every outcome.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../protocol/webhook-signature.js';
import { MemoryBus } from '../adapters/memory/memory-bus.js';
import type { WebhookConfig } from '../ports/app-registry.js';
import { createMetrics } from '../shared/metrics.js';
import { encodeEvent, eventOf, presenceEventOf } from '../shared/webhook-event.js';
import { AppEventDelivery } from './app-event-delivery.js';
import { Semaphore } from './semaphore.js';

const log = pino({ level: 'silent' });
let server: Server | undefined;
let delivery: AppEventDelivery | undefined;

afterEach(async () => {
  await delivery?.stop();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

/** An endpoint that fails each event `failures(id)` times with 500 before answering 200; records 200s in order. */
async function endpoint(failures: (id: string) => number): Promise<{
  url: string;
  ok: Array<{ id: string; seq: number; conv: string }>;
  tries: Map<string, number>;
  bodies: Array<{ headers: Record<string, string | string[] | undefined>; body: string }>;
}> {
  const ok: Array<{ id: string; seq: number; conv: string }> = [];
  const tries = new Map<string, number>();
  const bodies: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const e = JSON.parse(body) as { id: string; seq: number; conversation: string };
      const n = (tries.get(e.id) ?? 0) + 1;
      tries.set(e.id, n);
      bodies.push({ headers: req.headers, body });
      if (n <= failures(e.id)) return res.writeHead(500).end();
      ok.push({ id: e.id, seq: e.seq, conv: e.conversation });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, ok, tries, bodies };
}

const hook = (url: string, maxAttempts: number): WebhookConfig => ({
  url,
  secret: 'whsec_unit',
  events: ['message.sent'],
  timeoutMs: 1_000,
  maxAttempts,
  beforeSend: { enabled: false, timeoutMs: 500, failOpen: true },
});
const message = (conversation: string, seq: number) => ({
  conversation,
  seq,
  msgId: `${conversation.length}${seq}${Math.floor(Math.random() * 1e6)}`,
  sender: 'alice',
  senderDevice: 'd',
  clientMsgId: `c${seq}`,
  ts: Date.now(),
  kind: 0,
  contentType: 'text',
  body: new TextEncoder().encode(`m${seq}`),
  recallsSeq: 0,
  recalled: false,
});
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('AppEventDelivery', () => {
  it('retries until delivered, in order per conversation, signed; dead-letters after maxAttempts; counts each outcome', async () => {
    const poison = new Set<string>();
    const ep = await endpoint((id) => (poison.has(id) ? 1_000 : 2));
    const bus = new MemoryBus();
    const metrics = createMetrics();
    const settings = { maxConcurrentPerApp: 4, maxHeldPerApp: 64, retryBaseMs: 5, retryMaxMs: 40, presenceDebounceMs: 50 };
    delivery = new AppEventDelivery('app-1', hook(ep.url, 4), bus, new Semaphore(8), settings, metrics, log);
    await delivery.start();
    const events = [];
    for (let seq = 1; seq <= 5; seq++) for (const conv of ['s:a:b', 's:a:c']) events.push(eventOf('app-1', message(conv, seq)));
    poison.add(events[4]!.id); // s:a:b seq 3 never succeeds
    for (const e of events) await bus.publishEvent('app-1', encodeEvent(e));

    await until('every event settled', async () => ep.ok.length === events.length - 1 && (await bus.deadLettered()).length === 1);
    for (const conv of ['s:a:b', 's:a:c']) {
      const seqs = ep.ok.filter((d) => d.conv === conv).map((d) => d.seq);
      expect(seqs).toEqual(conv === 's:a:b' ? [1, 2, 4, 5] : [1, 2, 3, 4, 5]);
    }
    expect(ep.tries.get(events[4]!.id)).toBe(4);
    expect(JSON.parse(Buffer.from((await bus.deadLettered())[0]!).toString()).id).toBe(events[4]!.id);
    for (const b of ep.bodies) expect(verifyWebhook({ secret: 'whsec_unit', headers: b.headers, body: b.body })).toEqual({ ok: true });
    const count = async (outcome: string) =>
      (await metrics.webhookEvents.get()).values.find((v) => v.labels.app_id === 'app-1' && v.labels.outcome === outcome)?.value;
    expect(await count('delivered')).toBe(9);
    expect(await count('dead_lettered')).toBe(1);
    expect(await count('failed')).toBe(9 * 2 + 4);
    expect(await count('retried')).toBe(9 * 2 + 3);
  });

  it('an event that is not one of this app is dead-lettered at once', async () => {
    const ep = await endpoint(() => 0);
    const bus = new MemoryBus();
    const settings = { maxConcurrentPerApp: 1, maxHeldPerApp: 8, retryBaseMs: 5, retryMaxMs: 40, presenceDebounceMs: 50 };
    delivery = new AppEventDelivery('app-1', hook(ep.url, 3), bus, new Semaphore(1), settings, createMetrics(), log);
    await delivery.start();
    await bus.publishEvent('app-1', new TextEncoder().encode('not json'));
    await bus.publishEvent('app-1', encodeEvent(eventOf('app-2', message('s:a:b', 1))));
    await bus.publishEvent('app-1', encodeEvent(eventOf('app-1', message('s:a:b', 2))));
    await until('the good one delivered and two dead letters', async () => ep.ok.length === 1 && (await bus.deadLettered()).length === 2);
    expect(ep.ok.map((d) => d.seq)).toEqual([2]);
  });

  it('presence: an offline followed by the return within the debounce is delivered as neither; one without a return is', async () => {
    const ep = await endpoint(() => 0);
    const bus = new MemoryBus();
    const metrics = createMetrics();
    const settings = { maxConcurrentPerApp: 2, maxHeldPerApp: 16, retryBaseMs: 5, retryMaxMs: 40, presenceDebounceMs: 200 };
    const presenceHook = { ...hook(ep.url, 3), events: ['user.online' as const, 'user.offline' as const] };
    delivery = new AppEventDelivery('app-1', presenceHook, bus, new Semaphore(2), settings, metrics, log);
    await delivery.start();
    const t = Date.now();
    const publish = (type: 'user.online' | 'user.offline', user: string, conn: string, at: number) =>
      bus.publishEvent('app-1', encodeEvent(presenceEventOf('app-1', type, user, conn, `${user}-d`, at)));
    await publish('user.online', 'ann', 'c1', t);
    await publish('user.offline', 'ann', 'c1', t + 1);
    await publish('user.online', 'ann', 'c2', t + 50); // back within the debounce: a reconnect
    await publish('user.online', 'bo', 'c3', t);
    await publish('user.offline', 'bo', 'c3', t + 1); // gone for good
    await until('bo offline delivered', () => ep.bodies.filter((b) => JSON.parse(b.body).type === 'user.offline').length === 1);
    const suppressed = async () =>
      (await metrics.webhookEvents.get()).values.find((v) => v.labels.app_id === 'app-1' && v.labels.outcome === 'suppressed')?.value;
    await until('the reconnect suppressed', async () => (await suppressed()) === 2);
    const got = ep.bodies.map((b) => JSON.parse(b.body) as { type: string; user: string });
    expect(got.filter((e) => e.user === 'ann').map((e) => e.type)).toEqual(['user.online']);
    expect(got.filter((e) => e.user === 'bo').map((e) => e.type)).toEqual(['user.online', 'user.offline']);
  });
});
