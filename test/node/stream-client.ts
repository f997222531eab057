// A steady stream of sends that runs INSIDE the real node's namespace (started by
// node-harness.ts's startStream through nsenter): pod and Service addresses exist only in there
// (shared/INFRA.md). Users in pairs, two devices each, every one an SDK client that asks the
// dispatch Service where to connect and reconnects through it when its gate goes away (a rolling
// upgrade, a killed pod, a promoted canary). Device "a" of each user sends to its partner, one
// message at a time, every `intervalMs`.
//
// Counted like the chaos test (test/support/delivery-count.ts): sent (attempts), acked, delivered
// (each acked message on both devices of the recipient and on the sender's other device), stored
// (read back through history once the stream stops), lost, duplicated and reordered.
//
// Protocol: stdout carries `progress {json}` lines (acks per sending device) every second and one
// `result {json}` line at the end; the stream stops when stdin gets a line `stop` (or closes).
// Progress and reconnects go to stderr.
import { createInterface } from 'node:readline';
import { type ChatMessage, ImClient } from '../../sdk/src/index.js';
import { countDeliveries } from '../support/delivery-count.js';
import { adminApi, dispatchWatchingFetch } from './in-node-client.js';

interface Args {
  dispatchUrl: string;
  adminUrl: string;
  adminToken: string;
  appId: string;
  pairs: number;
  intervalMs: number;
  /** Appended to the user ids: a fresh set of conversations per stream. */
  userSuffix: string;
  /** How long to wait after `stop` for every acked message to reach every device. */
  settleMs?: number;
}

export interface StreamResult {
  appId: string;
  sent: number;
  acked: number;
  failures: number;
  delivered: number;
  expectedDeliveries: number;
  stored: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Reconnects of the clients through dispatch. */
  reconnects: number;
  /** Why devices went offline (the SDK's reason: "server hint" is a draining gate's), with how many times. */
  offlineReasons: Record<string, number>;
  /** Every gate URL dispatch named, with how many times. */
  gates: Record<string, number>;
  details: string[];
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const started = Date.now();
const say = (m: string) => process.stderr.write(`stream[${args.appId}] ${((Date.now() - started) / 1000).toFixed(1)}s: ${m}\n`);

const admin = adminApi(args.adminUrl, args.adminToken);

const gates: Record<string, number> = {};
const offlineReasons: Record<string, number> = {};
let reconnects = 0;

interface Sent {
  conversation: string;
  seq: number;
  clientMsgId: string;
  sender: string;
  to: string;
  senderDevice: string;
}

class Device {
  readonly received: ChatMessage[] = [];
  readonly client: ImClient;
  private connects = 0;

  constructor(
    readonly userId: string,
    readonly deviceId: string,
  ) {
    this.client = new ImClient({
      appId: args.appId,
      dispatchUrl: args.dispatchUrl,
      deviceId,
      getToken: async () => (await admin('POST', `/v1/apps/${args.appId}/tokens`, { userId })).token,
      timeouts: { send: 120_000, connect: 30_000, dispatch: 30_000 },
      reconnect: { baseMs: 200, maxMs: 3000 },
      fetch: dispatchWatchingFetch(([first]) => {
        if (this.connects++ > 0) reconnects++;
        if (first) gates[first] = (gates[first] ?? 0) + 1;
      }),
    });
    this.client.on('message', (m) => this.received.push(m));
    this.client.on('state', (e) => {
      if (e.state === 'offline' && e.willReconnect) offlineReasons[e.reason ?? ''] = (offlineReasons[e.reason ?? ''] ?? 0) + 1;
    });
  }
}

const devices: Device[] = [];
for (let p = 0; p < args.pairs; p++)
  for (const side of ['x', 'y'])
    for (const d of ['a', 'b']) devices.push(new Device(`s${p}${side}${args.userSuffix}`, `s${p}${side}${args.userSuffix}-${d}`));
const senders = devices.filter((d) => d.deviceId.endsWith('-a'));
const partnerOf = (u: string) => u.replace(/^(s\d+)([xy])/, (_, p, s) => `${p}${s === 'x' ? 'y' : 'x'}`);
const targets = (s: Sent) => devices.filter((d) => d.userId === s.to || (d.userId === s.sender && d.deviceId !== s.senderDevice));

const sent: Sent[] = [];
let attempts = 0;
let failures = 0;
let running = true;

async function sendLoop(d: Device): Promise<void> {
  let n = 0;
  const to = partnerOf(d.userId);
  while (running) {
    attempts++;
    try {
      const ack = await d.client.send(to, `${d.deviceId}#${n++}`);
      sent.push({
        conversation: ack.conversation,
        seq: ack.seq,
        clientMsgId: ack.clientMsgId,
        sender: d.userId,
        to,
        senderDevice: d.deviceId,
      });
    } catch (err) {
      failures++;
      say(`send by ${d.deviceId} failed for good: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, args.intervalMs));
  }
}

const isOn = (d: Device, s: Sent) =>
  d.received.some((m) => m.conversation === s.conversation && m.seq === s.seq && m.clientMsgId === s.clientMsgId);
const delivered = () => sent.reduce((n, s) => n + targets(s).filter((d) => isOn(d, s)).length, 0);
const expectedDeliveries = () => sent.reduce((n, s) => n + targets(s).length, 0);

async function storedRows(): Promise<ChatMessage[]> {
  const rows: ChatMessage[] = [];
  const conversations = new Map<string, Device>();
  for (const s of sent) conversations.set(s.conversation, devices.find((d) => d.deviceId === s.senderDevice.replace(/-a$/, '-b'))!);
  for (const [conversation, reader] of conversations) {
    let fromSeq = 1;
    for (;;) {
      const page = await reader.client.history(conversation, { fromSeq, limit: 100 });
      rows.push(...page.messages.filter((m) => m.kind === 'normal'));
      if (!page.hasMore || !page.messages.length) break;
      fromSeq = page.messages[page.messages.length - 1]!.seq + 1;
    }
  }
  return rows;
}

async function main(): Promise<StreamResult> {
  await admin('POST', '/v1/apps', { appId: args.appId, name: args.appId });
  await Promise.all(devices.map((d) => d.client.connect()));
  say(`${devices.length} devices connected (gates ${JSON.stringify(gates)})`);
  const loops = senders.map((d) => sendLoop(d));
  const ticker = setInterval(() => {
    const acks: Record<string, number> = {};
    for (const d of senders) acks[d.deviceId] = 0;
    for (const s of sent) acks[s.senderDevice]!++;
    process.stdout.write(`progress ${JSON.stringify({ acked: sent.length, attempts, failures, reconnects, acks })}\n`);
  }, 1000);
  await new Promise<void>((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => line.trim() === 'stop' && resolve());
    rl.on('close', resolve);
  });
  running = false;
  await Promise.all(loops);
  clearInterval(ticker);
  say(`stopped: ${attempts} sent, ${sent.length} acked, ${failures} failed, ${reconnects} reconnects; waiting for deliveries`);
  const settleEnd = Date.now() + (args.settleMs ?? 90_000);
  while (delivered() < expectedDeliveries() && Date.now() < settleEnd) await new Promise((r) => setTimeout(r, 250));

  // Stored: read back through history; the consumers write behind the pushes, so wait a while
  // for rows still on their way.
  let rows = await storedRows();
  const storeEnd = Date.now() + 60_000;
  const isStored = (rs: ChatMessage[], s: Sent) => rs.some((r) => r.conversation === s.conversation && r.seq === s.seq);
  while (sent.some((s) => !isStored(rows, s)) && Date.now() < storeEnd) {
    await new Promise((r) => setTimeout(r, 1000));
    rows = await storedRows();
  }
  const { lost, duplicated, reordered, details } = countDeliveries({
    sent,
    targets,
    devices,
    rows: rows.map((r) => ({ conversation: r.conversation, seq: r.seq, clientMsgId: r.clientMsgId, sender: r.sender })),
  });
  await Promise.all(devices.map((d) => d.client.close()));
  return {
    appId: args.appId,
    sent: attempts,
    acked: sent.length,
    failures,
    delivered: delivered(),
    expectedDeliveries: expectedDeliveries(),
    stored: rows.length,
    lost,
    duplicated,
    reordered,
    reconnects,
    offlineReasons,
    gates,
    details: details.slice(0, 30),
  };
}

try {
  const result = await main();
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
}
