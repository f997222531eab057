// Webhooks in the multi-process layout on real RabbitMQ, Redis and FerretDB (docs/webhooks.md,
// ADR 0037): a stream of sends while app A's endpoint answers 500 for a while and then is dead
// (its listener closed) for a while before it comes back. At the end every event was delivered
// at least once or, for app D whose webhook gives up after 2 attempts, is in the dead-letter
// queue; none lost; the first deliveries of each conversation in seq order. Meanwhile app B's
// events, on a healthy endpoint, keep arriving promptly. Prints
// `webhooks: events=N delivered=N retried=N dead-lettered=N lost=0 out-of-order=0`.
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imcloud } from '../../protocol/gen/im.js';
import { type BackendEnv, type Cluster, startCluster } from '../support/cluster.js';
import { RawClient } from '../support/raw-client.js';
import { testLogDir } from '../support/test-log-dir.js';
import { type ReceivedRequest, WebhookReceiver } from '../support/webhook-receiver.js';
import { requireEnv } from './real-clients.js';

const logDir = testLogDir('webhooks-test');
let cluster: Cluster;
let gateUrl: string;
const endpointA = new WebhookReceiver();
const endpointB = new WebhookReceiver();
const clients: RawClient[] = [];

beforeAll(async () => {
  const backend: BackendEnv = {
    IMCLOUD_REDIS_URL: requireEnv('IMCLOUD_REDIS_URL'),
    IMCLOUD_RABBITMQ_URL: requireEnv('IMCLOUD_RABBITMQ_URL'),
    IMCLOUD_MONGODB_URL: requireEnv('IMCLOUD_MONGODB_URL'),
    IMCLOUD_MONGODB_DATABASE: `hooks_${Date.now()}`,
  };
  // Two consumer processes: each app's events go to one of them at a time (single active consumer).
  cluster = await startCluster(
    backend,
    logDir,
    { gate: 1, logic: 2, consumer: 2 },
    {
      IMCLOUD_WEBHOOKS_RETRY_BASE_MS: '100',
      IMCLOUD_WEBHOOKS_RETRY_MAX_MS: '800',
      IMCLOUD_WEBHOOKS_APPS_POLL_MS: '200',
    },
  );
  gateUrl = `ws://127.0.0.1:${cluster.byRole('gate')[0]!.httpPort}/ws`;
  await endpointA.start();
  await endpointB.start();
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  await endpointA.stop();
  await endpointB.stop();
});

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${cluster.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function appWithHook(endpoint: WebhookReceiver, maxAttempts: number): Promise<string> {
  const appId = (await admin('POST', '/v1/apps', {})).appId as string;
  await admin('PUT', `/v1/apps/${appId}/webhook`, { url: endpoint.url(appId), events: ['message.sent'], timeoutMs: 1_000, maxAttempts });
  return appId;
}

async function online(appId: string, userId: string): Promise<RawClient> {
  const { token } = await admin('POST', `/v1/apps/${appId}/tokens`, { userId });
  const client = await RawClient.ws(gateUrl);
  clients.push(client);
  const ok = await client.auth(token as string, `${userId}-d`, imcloud.v1.Platform.PLATFORM_WEB);
  expect(ok.body, JSON.stringify(ok.error)).toBe('authOk');
  return client;
}

/** A conversation's sender; sends one at a time, each retried with its clientMsgId until acked. */
class Sender {
  private n = 0;
  readonly acked: Array<{ seq: number; msgId: string }> = [];
  constructor(
    private readonly client: RawClient,
    private readonly to: string,
  ) {}
  async send(): Promise<void> {
    const clientMsgId = `${this.to}-${++this.n}-${Math.random().toString(36).slice(2, 8)}`;
    for (let attempt = 1; ; attempt++) {
      const body = new TextEncoder().encode(`m${this.n}`);
      const reply = await this.client
        .request({ send: { clientMsgId, to: this.to, contentType: 'text', body } }, 10_000)
        .catch(() => undefined);
      if (reply?.body === 'sendAck') {
        this.acked.push({ seq: Number(reply.sendAck!.seq), msgId: String(reply.sendAck!.msgId) });
        return;
      }
      if (attempt >= 5) throw new Error(`send not acked after ${attempt} attempts: ${JSON.stringify(reply?.error)}`);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

interface Delivered {
  id: string;
  conversation: string;
  seq: number;
  createdAt: number;
  at: number;
}
const parse = (r: ReceivedRequest): Delivered => {
  const e = JSON.parse(r.body) as Omit<Delivered, 'at'>;
  return { id: e.id, conversation: e.conversation, seq: e.seq, createdAt: e.createdAt, at: r.at };
};
/** Each event's first 2xx delivery, in arrival order. */
function firstDeliveries(endpoint: WebhookReceiver, appId: string): Delivered[] {
  const seen = new Set<string>();
  const out: Delivered[] = [];
  for (const r of endpoint.of(appId)) {
    if (r.status !== 200) continue;
    const d = parse(r);
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    out.push(d);
  }
  return out;
}

/** Adjacent first deliveries of one conversation whose seqs go backwards. */
function outOfOrder(deliveries: Delivered[]): number {
  const last = new Map<string, number>();
  let count = 0;
  for (const d of deliveries) {
    if ((last.get(d.conversation) ?? 0) > d.seq) count += 1;
    last.set(d.conversation, d.seq);
  }
  return count;
}

/** Event ids of `appId` in the broker's dead-letter queue; read and then returned to the queue. */
async function deadLetteredIds(appId: string): Promise<Set<string>> {
  const conn = await amqplib.connect(requireEnv('IMCLOUD_RABBITMQ_URL'));
  try {
    const ch = await conn.createChannel();
    const ids = new Set<string>();
    for (;;) {
      const msg = await ch.get('imcloud.dead', { noAck: false });
      if (!msg) break;
      try {
        const e = JSON.parse(msg.content.toString('utf8')) as { id?: string; appId?: string };
        if (e.appId === appId && e.id) ids.add(e.id);
      } catch {
        // Not an event (another channel's dead letter).
      }
    }
    return ids;
  } finally {
    await conn.close();
  }
}

async function metric(name: string, appId: string, outcome: string): Promise<number> {
  let sum = 0;
  for (const p of cluster.byRole('consumer')) {
    const text = await (await fetch(`${p.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{app_id="${appId}",outcome="${outcome}"}`));
    sum += line ? Number(line.split(' ').pop()) : 0;
  }
  return sum;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('webhooks: at least once, in order, through RabbitMQ', () => {
  it('a stream of sends while an endpoint fails and dies: nothing lost, order kept, dead letters counted, another app not delayed', async () => {
    const A = await appWithHook(endpointA, 40);
    const D = await appWithHook(endpointA, 2);
    const B = await appWithHook(endpointB, 40);
    const alice = await online(A, 'alice');
    const dave = await online(A, 'dave');
    const streamA = [new Sender(alice, 'bob'), new Sender(alice, 'carol'), new Sender(dave, 'bob')];
    const streamD = [new Sender(await online(D, 'dora'), 'erin')];
    const streamB = [new Sender(await online(B, 'bea'), 'ben')];
    const round = async (senders: Sender[]) => Promise.all(senders.map((s) => s.send()));
    const both = [...streamA, ...streamD];

    for (let i = 0; i < 8; i++) await round(both);
    // The endpoint answers 500 …
    endpointA.behaviour.set(A, { eventStatus: 500 });
    endpointA.behaviour.set(D, { eventStatus: 500 });
    for (let i = 0; i < 8; i++) await round(both);
    await until('retried 500s', () => endpointA.of(A).filter((r) => r.status === 500).length >= 10);
    // … then is dead; app B's events keep flowing meanwhile.
    await endpointA.stop();
    const deadSince = Date.now();
    for (let i = 0; (i < 8 || Date.now() - deadSince < 2_500) && i < 200; i++) await Promise.all([round(both), round(streamB)]);
    const bEvents = streamB[0]!.acked.length;
    await until("app B's events", () => firstDeliveries(endpointB, B).length >= bEvents, 20_000);
    const deadFor = Date.now() - deadSince;
    // Back, healthy, on the same address.
    endpointA.behaviour.set(A, { eventStatus: 200 });
    endpointA.behaviour.set(D, { eventStatus: 200 });
    await endpointA.start(endpointA.port);
    for (let i = 0; i < 8; i++) await round(both);

    const eventsA = streamA.reduce((n, s) => n + s.acked.length, 0);
    const eventsD = streamD[0]!.acked.length;
    await until("every event of A delivered and D's delivered or dead-lettered", async () => {
      if (firstDeliveries(endpointA, A).length < eventsA) return false;
      const settledD =
        (await metric('imcloud_webhook_events_total', D, 'delivered')) + (await metric('imcloud_webhook_events_total', D, 'dead_lettered'));
      return settledD >= eventsD;
    });

    const deliveredA = firstDeliveries(endpointA, A);
    const deliveredD = firstDeliveries(endpointA, D);
    const deadCounted = await metric('imcloud_webhook_events_total', D, 'dead_lettered');
    // The broker routes a rejected event to the dead-letter queue just after the count moves.
    let dead = await deadLetteredIds(D);
    await until('the dead letters in the queue', async () => (dead = await deadLetteredIds(D)).size >= deadCounted, 10_000);
    const expected = [
      ...streamA.flatMap((s) => s.acked.map((a) => `message.sent.${a.msgId}`)),
      ...streamD[0]!.acked.map((a) => `message.sent.${a.msgId}`),
    ];
    const got = new Set([...deliveredA, ...deliveredD].map((d) => d.id));
    const lost = expected.filter((id) => !got.has(id) && !dead.has(id)).length;
    const disorder = outOfOrder(deliveredA) + outOfOrder(deliveredD);
    const retried =
      (await metric('imcloud_webhook_events_total', A, 'retried')) + (await metric('imcloud_webhook_events_total', D, 'retried'));
    console.log(
      `webhooks: events=${expected.length} delivered=${got.size} retried=${retried} dead-lettered=${dead.size} lost=${lost} out-of-order=${disorder}`,
    );

    expect(lost).toBe(0);
    expect(disorder).toBe(0);
    expect(got.size + dead.size).toBe(expected.length);
    expect(dead.size).toBe(deadCounted);
    expect(dead.size).toBeGreaterThan(0);
    expect(retried).toBeGreaterThan(0);
    expect(deliveredA).toHaveLength(eventsA);
    // App B's events, sent while A's endpoint was dead, arrived promptly: A's outage held up none of them.
    const latencies = firstDeliveries(endpointB, B).map((d) => d.at - d.createdAt);
    expect(latencies).toHaveLength(bEvents);
    expect(Math.max(...latencies)).toBeLessThan(Math.min(2_000, deadFor));
  });
});
