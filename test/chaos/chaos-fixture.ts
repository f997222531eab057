// Shared by the chaos tests: real servers and role processes, SDK clients that chat in pairs,
// and the final accounting of sends, acks, deliveries and stored rows.
import { MongoClient } from 'mongodb';
import { ImClient } from '../../sdk/src/index.js';
import type { ChatMessage, SkippedEvent } from '../../sdk/src/types.js';
import { type Servers, serverEnv, startServers } from '../infra/index.js';
import { type BackendEnv, type Cluster, startCluster } from '../support/cluster.js';
import { countDeliveries } from '../support/delivery-count.js';

export interface Sent {
  conversation: string;
  seq: number;
  clientMsgId: string;
  sender: string;
  to: string;
  senderDevice: string;
}

export interface ChaosWorld {
  servers: Servers;
  cluster: Cluster;
  appId: string;
  database: string;
  log: (msg: string) => void;
  stop(): Promise<void>;
}

/** Servers and role processes for one chaos file; the roles log into `logDir` (test-log-dir.ts). */
export async function startWorld(name: string, logDir: string, extraEnv: Record<string, string> = {}): Promise<ChaosWorld> {
  const started = Date.now();
  const log = (msg: string) => process.stderr.write(`${name} [${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
  const servers = await startServers(['redis', 'rabbitmq', 'mongodb'], { redis: { appendonly: true } });
  const database = `${name}_${Date.now()}`;
  const backend = { ...serverEnv(servers), IMCLOUD_MONGODB_DATABASE: database } as unknown as BackendEnv;
  log(`role logs in ${logDir}`);
  const cluster = await startCluster(
    backend,
    logDir,
    {},
    {
      IMCLOUD_LOGIC_EMPTY_SLOT_GRACE_MS: '2000',
      IMCLOUD_GATE_HEARTBEAT_INTERVAL_MS: '2000',
      IMCLOUD_GATE_IDLE_TIMEOUT_MS: '8000',
      IMCLOUD_LOG_LEVEL: 'warn',
      ...extraEnv,
    },
  );
  const res = await fetch(`${cluster.adminUrl}/v1/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ appId: `${name.toLowerCase().replace(/[^a-z0-9]/g, '')}-app` }),
  });
  const { appId } = (await res.json()) as { appId: string };
  return {
    servers,
    cluster,
    appId,
    database,
    log,
    async stop() {
      await cluster.stop();
      await servers.stop();
    },
  };
}

/** A user's device: an SDK client plus everything it received, in order. */
export class Device {
  readonly received: ChatMessage[] = [];
  /** Seqs the client was told it will never get (empty slots, history before its view). */
  readonly skipped: SkippedEvent[] = [];
  readonly client: ImClient;

  constructor(
    world: ChaosWorld,
    readonly userId: string,
    readonly deviceId: string,
  ) {
    this.client = new ImClient({
      appId: world.appId,
      dispatchUrl: world.cluster.dispatchUrl,
      deviceId,
      getToken: async () => {
        const res = await fetch(`${world.cluster.adminUrl}/v1/apps/${world.appId}/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${world.cluster.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userId }),
        });
        return ((await res.json()) as { token: string }).token;
      },
      timeouts: { send: 90_000 },
      reconnect: { baseMs: 200, maxMs: 3000 },
    });
    this.client.on('message', (m) => this.received.push(m));
    this.client.on('skipped', (e) => this.skipped.push(e));
  }
}

/** The group every user of the load is in (architecture.md §2a). */
export const CHAOS_GROUP = 'chaos-group';

/**
 * Users in pairs, two devices each; device "a" of each user sends to the partner, and device "a"
 * of each "x" user sends to the group of every user as well.
 */
export class ChatLoad {
  readonly devices: Device[] = [];
  readonly sent: Sent[] = [];
  attempts = 0;
  failures = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly world: ChaosWorld,
    readonly pairs: number,
  ) {
    for (let p = 0; p < pairs; p++) {
      for (const side of ['x', 'y']) {
        for (const d of ['a', 'b']) this.devices.push(new Device(world, `u${p}${side}`, `u${p}${side}-${d}`));
      }
    }
  }

  partnerOf(userId: string): string {
    return userId.endsWith('x') ? userId.replace(/x$/, 'y') : userId.replace(/y$/, 'x');
  }

  async connect(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.client.connect()));
    const users = [...new Set(this.devices.map((d) => d.userId))];
    await this.devices[0]!.client.createGroup({ groupId: CHAOS_GROUP, name: 'chaos', members: users.slice(1) });
  }

  /** Each sending device sends one message every `intervalMs`, one at a time (as the SDK does per conversation). */
  start(intervalMs: number): void {
    this.running = true;
    for (const d of this.devices.filter((x) => x.deviceId.endsWith('-a'))) {
      this.loops.push(
        (async () => {
          let n = 0;
          while (this.running) {
            await this.sendOne(d, this.partnerOf(d.userId), `${d.deviceId}#${n++}`);
            if (d.userId.endsWith('x')) await this.sendOne(d, CHAOS_GROUP, `${d.deviceId}#${n++}`);
            await new Promise((r) => setTimeout(r, intervalMs));
          }
        })(),
      );
    }
  }

  /** One message to a user, or to the group (to = CHAOS_GROUP); recorded once acked. */
  private async sendOne(d: Device, to: string, body: string): Promise<void> {
    this.attempts++;
    try {
      const ack = to === CHAOS_GROUP ? await d.client.sendToGroup(to, body) : await d.client.send(to, body);
      this.sent.push({
        conversation: ack.conversation,
        seq: ack.seq,
        clientMsgId: ack.clientMsgId,
        sender: d.userId,
        to,
        senderDevice: d.deviceId,
      });
    } catch (err) {
      this.failures++;
      this.world.log(`send by ${d.deviceId} to ${to} failed for good: ${(err as Error).message}`);
    }
  }

  /** Acks so far, by sending device. */
  private acksBy(): Map<string, number> {
    const n = new Map<string, number>();
    for (const s of this.sent) n.set(s.senderDevice, (n.get(s.senderDevice) ?? 0) + 1);
    return n;
  }

  /**
   * Waits until every sending device has had `acks` more sends acked than when called: traffic
   * flows again for every pair (after a kill or a restart), however long a busy machine takes.
   */
  async progress(acks: number, what: string, timeoutMs = 120_000): Promise<void> {
    const from = this.acksBy();
    const senders = this.devices.filter((d) => d.deviceId.endsWith('-a')).map((d) => d.deviceId);
    await waitUntil(
      () => {
        const now = this.acksBy();
        return senders.every((d) => (now.get(d) ?? 0) - (from.get(d) ?? 0) >= acks);
      },
      timeoutMs,
      `${acks} more acks for every sender: ${what}`,
    );
  }

  async stopSending(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * Devices that must hold a message: both devices of the recipient (every member's, in the
   * group), and the sender's other device.
   */
  targets(s: Sent): Device[] {
    if (s.to === CHAOS_GROUP) return this.devices.filter((d) => d.deviceId !== s.senderDevice);
    return this.devices.filter((d) => d.userId === s.to || (d.userId === s.sender && d.deviceId !== s.senderDevice));
  }

  /** Group messages acked, and their deliveries to member devices so far. */
  groupCounts(): { acked: number; delivered: number } {
    const group = this.sent.filter((s) => s.to === CHAOS_GROUP);
    let delivered = 0;
    for (const s of group)
      for (const d of this.targets(s)) if (d.received.some((m) => m.conversation === s.conversation && m.seq === s.seq)) delivered++;
    return { acked: group.length, delivered };
  }

  delivered(): number {
    let n = 0;
    for (const s of this.sent)
      for (const d of this.targets(s)) if (d.received.some((m) => m.conversation === s.conversation && m.seq === s.seq)) n++;
    return n;
  }

  expectedDeliveries(): number {
    return this.sent.reduce((n, s) => n + this.targets(s).length, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.client.close()));
  }
}

export interface Accounting {
  line: string;
  lost: number;
  duplicated: number;
  reordered: number;
  details: string[];
}

/** Counts against the message store itself (not through imcloud) and the devices' views. */
export async function account(world: ChaosWorld, load: ChatLoad): Promise<Accounting> {
  const mongo = new MongoClient(world.servers.mongodb!.url);
  await mongo.connect();
  const rows = await mongo
    .db(world.database)
    .collection('messages')
    .find({ appId: world.appId, kind: 0 }, { projection: { conversation: 1, seq: 1, clientMsgId: 1, sender: 1 } })
    .toArray();
  await mongo.close();
  const { lost, duplicated, reordered, details } = countDeliveries({
    sent: load.sent,
    targets: (s) => load.targets(s),
    devices: load.devices,
    rows: rows.map((r) => ({ conversation: r.conversation, seq: r.seq, clientMsgId: r.clientMsgId, sender: r.sender })),
    whyMissing: (d, s) => {
      const told = d.skipped.find((e) => e.conversation === s.conversation && e.fromSeq <= s.seq && s.seq <= e.toSeq);
      return told ? ` (skipped as ${told.reason} ${told.fromSeq}..${told.toSeq})` : '';
    },
  });
  const group = load.groupCounts();
  const line =
    `sent=${load.attempts} acked=${load.sent.length} delivered=${load.delivered()} stored=${rows.length} ` +
    `group-acked=${group.acked} group-delivered=${group.delivered} lost=${lost} duplicated=${duplicated} reordered=${reordered}`;
  return { line, lost, duplicated, reordered, details };
}

/**
 * The accounting once nothing acked is missing (the consumers write the store behind the pushes,
 * so rows may still be on their way when every device has its messages), or at the deadline.
 */
export async function settledAccount(world: ChaosWorld, load: ChatLoad, timeoutMs: number): Promise<Accounting> {
  const deadline = Date.now() + timeoutMs;
  let result = await account(world, load);
  while (result.lost > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    result = await account(world, load);
  }
  return result;
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
