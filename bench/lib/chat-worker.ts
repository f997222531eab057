// One client-load process of bench/single-chat.ts (forked; talks to its parent over IPC).
// It holds a slice of the user pairs: in pair i, user "p<i>a" sends to "p<i>b" over raw
// protocol frames on WebSocket. Both ends of a pair live in this process, so the receiver
// checks exactly-once delivery against what the sender saw acked, and measures
// send→delivered with the send time the sender wrote into the body (same monotonic clock).
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../protocol/frame-codec.js';
import type { imcloud } from '../../protocol/gen/im.js';
import { Histogram, nowUs } from './common.js';
import { connectAndAuth } from './ws-client.js';

export interface WorkerInit {
  type: 'init';
  wsUrl: string;
  /** Where receivers connect; default wsUrl (the distributed bench puts them on another gate). */
  receiverWsUrl?: string;
  appId: string;
  secret: string;
  /** Unique per run: part of every clientMsgId. */
  tag: string;
  pairFrom: number;
  pairTo: number;
  localAddress?: string;
}

export interface WorkerRun {
  type: 'run';
  mode: 'fixed' | 'saturation';
  /** fixed: messages/s this worker offers (spread round-robin over its senders). */
  rate: number;
  /** saturation: outstanding (unacked) sends per sender. */
  window: number;
  /** µs on the shared clock (nowUs) */
  startAtUs: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  ackIntervalMs: number;
  bodyBytes: number;
  /** Return every measured delivery's time and latency (deliverSamples). */
  samples?: boolean;
}

export interface WorkerResult {
  type: 'result';
  sent: number;
  sentInWindow: number;
  acked: number;
  ackedInWindow: number;
  delivered: number;
  deliveredInWindow: number;
  lost: number;
  duplicates: number;
  unacked: number;
  outOfOrder: number;
  errors: Record<string, number>;
  pushAcksSent: number;
  deliveryNotices: number;
  pushFrames: number;
  ackLatency: ReturnType<Histogram['toJSON']>;
  deliverLatency: ReturnType<Histogram['toJSON']>;
  /** Sends answered with an Error frame (refused): from the intended send time to the refusal, sends of the window. */
  refuseLatency: ReturnType<Histogram['toJSON']>;
  /** Sends answered with an Error frame, all and those sent in the window. */
  refused: number;
  refusedInWindow: number;
  /** Refusals that carried a retry hint (retry_after_ms > 0). */
  refusedWithRetryHint: number;
  /** With `samples`: ms into the window the message was sent, its send→delivered ms, and so on. */
  deliverSamples: number[];
  drainedMs: number;
  drained: boolean;
  cpuUserMs: number;
  cpuSystemMs: number;
}

/** Growable typed arrays indexed by the per-sender message counter. */
class Grow<T extends Float64Array | Uint8Array> {
  constructor(
    public a: T,
    private readonly make: (n: number) => T,
  ) {}
  at(i: number): number {
    return i < this.a.length ? this.a[i]! : 0;
  }
  set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = this.make(Math.max(i + 1, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

interface Pair {
  index: number;
  to: string;
  sender: WebSocket;
  receiver: WebSocket;
  /** Next counter to send. */
  next: number;
  /** counter → intended send time (µs). */
  sentAt: Grow<Float64Array>;
  /** counter → 1 once acked. */
  acked: Grow<Uint8Array>;
  /** counter → times received. */
  received: Grow<Uint8Array>;
  ackedCount: number;
  receivedUnique: number;
  outstanding: number;
  conversation: string;
  maxSeq: number;
  ackedSeq: number;
  lastSeq: number;
}

let init: WorkerInit;
const pairs: Pair[] = [];
let body: Buffer;
let run: WorkerRun | undefined;
let windowStart = 0;
let windowEnd = 0;
let sendUntil = 0;
let stopped = false;
const ackLatency = new Histogram();
const deliverLatency = new Histogram();
const refuseLatency = new Histogram();
const deliverSamples: number[] = [];
const counters = {
  sent: 0,
  sentInWindow: 0,
  acked: 0,
  ackedInWindow: 0,
  delivered: 0,
  deliveredInWindow: 0,
  duplicates: 0,
  outOfOrder: 0,
  pushAcksSent: 0,
  deliveryNotices: 0,
  pushFrames: 0,
  refused: 0,
  refusedInWindow: 0,
  refusedWithRetryHint: 0,
};
const errors: Record<string, number> = {};

function reply(msg: unknown): void {
  process.send!(msg as object);
}

function connect(userId: string, url = init.wsUrl): Promise<WebSocket> {
  return connectAndAuth({ wsUrl: url, appId: init.appId, secret: init.secret, userId, localAddress: init.localAddress });
}

function sendOne(p: Pair, intendedUs: number): void {
  const counter = p.next++;
  body.writeDoubleLE(intendedUs, 0);
  body.writeUInt32LE(p.index, 8);
  body.writeUInt32LE(counter, 12);
  p.sentAt.set(counter, intendedUs);
  p.outstanding++;
  counters.sent++;
  if (intendedUs >= windowStart && intendedUs < windowEnd) counters.sentInWindow++;
  // reqId = counter + 1: the SendAck echoes it, so no clientMsgId parsing is needed.
  p.sender.send(
    encodeFrame({ reqId: counter + 1, send: { clientMsgId: `${init.tag}.${p.index}.${counter}`, to: p.to, contentType: 'text', body } }),
  );
}

function onSenderFrame(p: Pair, data: Buffer): void {
  const now = nowUs();
  const f = decodeFrame(data);
  switch (f.body) {
    case 'sendAck': {
      const counter = f.reqId - 1;
      if (p.acked.at(counter)) return; // a duplicate ack (never expected without retries)
      p.acked.set(counter, 1);
      p.ackedCount++;
      p.outstanding--;
      counters.acked++;
      const sentAt = p.sentAt.at(counter);
      if (sentAt >= windowStart && sentAt < windowEnd) {
        counters.ackedInWindow++;
        ackLatency.record(now - sentAt);
      }
      if (run?.mode === 'saturation' && !stopped && now < sendUntil) sendOne(p, now);
      return;
    }
    case 'deliveryNotice':
      counters.deliveryNotices++;
      return;
    case 'pong':
      return;
    case 'error': {
      const code = String(f.error!.code);
      errors[code] = (errors[code] ?? 0) + 1;
      if (f.reqId > 0) {
        // A send refused (reqId = counter + 1): how fast the refusal came, and whether it said when to retry.
        const sentAt = p.sentAt.at(f.reqId - 1);
        counters.refused++;
        if (Number(f.error!.retryAfterMs) > 0) counters.refusedWithRetryHint++;
        if (sentAt >= windowStart && sentAt < windowEnd) {
          counters.refusedInWindow++;
          refuseLatency.record(now - sentAt);
        }
        p.outstanding--;
        if (run?.mode === 'saturation' && !stopped && now < sendUntil) sendOne(p, now);
      }
      return;
    }
    default:
      return;
  }
}

function onReceiverFrame(p: Pair, data: Buffer): void {
  const now = nowUs();
  const f = decodeFrame(data);
  if (f.body === 'push') {
    counters.pushFrames++;
    for (const m of f.push!.messages as imcloud.v1.Message[]) {
      const b = m.body as Buffer;
      const sentAt = b.readDoubleLE(0);
      const counter = b.readUInt32LE(12);
      const seq = Number(m.seq);
      if (seq < p.lastSeq) counters.outOfOrder++;
      p.lastSeq = seq;
      if (seq > p.maxSeq) p.maxSeq = seq;
      if (!p.conversation) p.conversation = m.conversation;
      const times = p.received.at(counter);
      p.received.set(counter, Math.min(255, times + 1));
      if (times > 0) {
        counters.duplicates++;
        continue;
      }
      p.receivedUnique++;
      counters.delivered++;
      if (now >= windowStart && now < windowEnd) counters.deliveredInWindow++;
      if (sentAt >= windowStart && sentAt < windowEnd) {
        deliverLatency.record(now - sentAt);
        if (run?.samples) deliverSamples.push((sentAt - windowStart) / 1000, (now - sentAt) / 1000);
      }
    }
  } else if (f.body === 'error') {
    const code = String(f.error!.code);
    errors[`receiver:${code}`] = (errors[`receiver:${code}`] ?? 0) + 1;
  }
}

/** Cumulative PushAck per receiver, batched: at most one per ackIntervalMs. */
function flushPushAcks(): void {
  for (const p of pairs) {
    if (p.maxSeq > p.ackedSeq && p.receiver.readyState === WebSocket.OPEN) {
      p.ackedSeq = p.maxSeq;
      p.receiver.send(encodeFrame({ pushAck: { cursors: [{ conversation: p.conversation, seq: p.maxSeq }] } }));
      counters.pushAcksSent++;
    }
  }
}

async function setup(msg: WorkerInit): Promise<void> {
  init = msg;
  const jobs: Array<Promise<void>> = [];
  for (let i = msg.pairFrom; i < msg.pairTo; i++) {
    jobs.push(
      (async () => {
        const receiver = await connect(`p${i}b`, init.receiverWsUrl ?? init.wsUrl);
        const sender = await connect(`p${i}a`);
        const p: Pair = {
          index: i,
          to: `p${i}b`,
          sender,
          receiver,
          next: 0,
          sentAt: new Grow(new Float64Array(1024), (n) => new Float64Array(n)),
          acked: new Grow(new Uint8Array(1024), (n) => new Uint8Array(n)),
          received: new Grow(new Uint8Array(1024), (n) => new Uint8Array(n)),
          ackedCount: 0,
          receivedUnique: 0,
          outstanding: 0,
          conversation: '',
          maxSeq: 0,
          ackedSeq: 0,
          lastSeq: 0,
        };
        sender.on('message', (data: Buffer) => onSenderFrame(p, data));
        receiver.on('message', (data: Buffer) => onReceiverFrame(p, data));
        const closed = (who: string) => () => {
          if (!stopped) errors[`${who}-closed`] = (errors[`${who}-closed`] ?? 0) + 1;
        };
        sender.on('close', closed('sender'));
        receiver.on('close', closed('receiver'));
        pairs.push(p);
      })(),
    );
  }
  await Promise.all(jobs);
}

async function execute(r: WorkerRun): Promise<WorkerResult> {
  run = r;
  body = Buffer.alloc(Math.max(16, r.bodyBytes));
  const t0 = r.startAtUs;
  windowStart = t0 + r.warmupMs * 1000;
  windowEnd = windowStart + r.durationMs * 1000;
  sendUntil = windowEnd;
  const ackTimer = setInterval(flushPushAcks, r.ackIntervalMs);
  const cpu0 = process.cpuUsage();

  const wait = Math.max(0, (t0 - nowUs()) / 1000);
  await new Promise((res) => setTimeout(res, wait));

  if (r.mode === 'saturation') {
    const now = nowUs();
    for (const p of pairs) for (let k = 0; k < r.window; k++) sendOne(p, now);
    await new Promise((res) => setTimeout(res, (sendUntil - nowUs()) / 1000));
  } else {
    // Open loop: message k is due at t0 + k/rate whatever the server does; latency counts from
    // that intended time, so a stall shows up as latency instead of as fewer samples.
    const perUs = r.rate / 1e6;
    let k = 0;
    await new Promise<void>((done) => {
      const tick = () => {
        const now = nowUs();
        // Message k is due at t0 + k/rate, so k + 1 messages are due once that time has come.
        const due = now < t0 ? 0 : Math.floor((Math.min(now, sendUntil) - t0) * perUs) + 1;
        while (k < due) {
          const p = pairs[k % pairs.length]!;
          sendOne(p, t0 + k / perUs);
          k++;
        }
        if (now >= sendUntil) done();
        else setTimeout(tick, 1);
      };
      tick();
    });
  }

  // Drain: every send acked (or refused) and every acked message delivered.
  const drainStart = Date.now();
  let drained = false;
  while (Date.now() - drainStart < r.drainMs) {
    drained = pairs.every((p) => p.outstanding <= 0 && p.receivedUnique >= p.ackedCount);
    if (drained) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const drainedMs = Date.now() - drainStart;
  // Late duplicates would arrive now.
  await new Promise((res) => setTimeout(res, 300));
  flushPushAcks();
  clearInterval(ackTimer);
  stopped = true;

  let lost = 0;
  let unacked = 0;
  for (const p of pairs) {
    for (let c = 0; c < p.next; c++) {
      const acked = p.acked.at(c) === 1;
      if (!acked) unacked++;
      if (acked && p.received.at(c) === 0) lost++;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    type: 'result',
    ...counters,
    lost,
    unacked,
    errors,
    ackLatency: ackLatency.toJSON(),
    deliverLatency: deliverLatency.toJSON(),
    refuseLatency: refuseLatency.toJSON(),
    deliverSamples,
    drainedMs,
    drained,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
  };
}

if (!process.send) throw new Error('chat-worker runs as a forked child of bench/single-chat.ts');
process.on('message', (msg: WorkerInit | WorkerRun | { type: 'exit' }) => {
  if (msg.type === 'init') {
    setup(msg).then(
      () => reply({ type: 'ready', pairs: pairs.length }),
      (err: Error) => reply({ type: 'failed', error: err.stack ?? String(err) }),
    );
  } else if (msg.type === 'run') {
    execute(msg).then(
      (res) => reply(res),
      (err: Error) => reply({ type: 'failed', error: err.stack ?? String(err) }),
    );
  } else if (msg.type === 'exit') {
    stopped = true;
    for (const p of pairs) {
      p.sender.terminate();
      p.receiver.terminate();
    }
    process.disconnect();
    setTimeout(() => process.exit(0), 200).unref();
  }
});
