// One member-load process of bench/group-fanout.ts (forked; IPC with its parent): holds the
// WebSocket connections of a slice of a group's members, takes their pushes, acknowledges them
// (a cumulative PushAck per connection every --ack-interval ms) and counts, per seq, how many of
// its members got it and when the last one did. The sender writes its send time (µs on the
// machine's shared monotonic clock, nowUs) into the first 8 bytes of every body.
import type WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../protocol/frame-codec.js';
import { nowUs } from './common.js';
import { connectAndAuth } from './ws-client.js';

export interface GroupWorkerInit {
  type: 'init';
  wsUrl: string;
  appId: string;
  secret: string;
  /** Members m<from> … m<to - 1>. */
  from: number;
  to: number;
  conversation: string;
  ackIntervalMs: number;
  localAddress?: string;
}

/** Per seq: members of this worker that got it, and when the last of them did (µs). */
export interface GroupWorkerResult {
  type: 'result';
  members: number;
  seqs: number[];
  counts: number[];
  lastAtUs: number[];
  sentAtUs: number[];
  duplicates: number;
  outOfOrder: number;
  pushFrames: number;
}

interface Member {
  ws: WebSocket;
  /** seq → 1 once received (pushes of concurrent sends may arrive out of seq order on a raw socket). */
  seen: Uint8Array;
  /** The highest seq received; the PushAck says it (a bench member does not pull gaps, as the SDK would). */
  lastSeq: number;
  ackedSeq: number;
}

const members: Member[] = [];
const bySeq = new Map<number, { count: number; lastAtUs: number; sentAtUs: number }>();
let init: GroupWorkerInit;
let duplicates = 0;
let outOfOrder = 0;
let pushFrames = 0;

function onFrame(m: Member, data: Buffer): void {
  const now = nowUs();
  const f = decodeFrame(data);
  if (f.body !== 'push') return;
  pushFrames++;
  for (const msg of f.push!.messages!) {
    if (msg.conversation !== init.conversation || msg.kind !== 0) continue;
    const seq = Number(msg.seq);
    if (seq >= m.seen.length) {
      const grown = new Uint8Array(Math.max(seq + 1, m.seen.length * 2));
      grown.set(m.seen);
      m.seen = grown;
    }
    if (m.seen[seq]) {
      duplicates++;
      continue;
    }
    m.seen[seq] = 1;
    if (seq < m.lastSeq) outOfOrder++;
    m.lastSeq = Math.max(m.lastSeq, seq);
    let s = bySeq.get(seq);
    const body = msg.body as Buffer;
    if (!s) bySeq.set(seq, (s = { count: 0, lastAtUs: 0, sentAtUs: body.length >= 8 ? body.readDoubleLE(0) : 0 }));
    s.count++;
    s.lastAtUs = Math.max(s.lastAtUs, now);
  }
}

async function connectAll(): Promise<void> {
  const ids = Array.from({ length: init.to - init.from }, (_, i) => `m${init.from + i}`);
  // A hundred at a time: enough to be quick, few enough not to time out the Auths.
  for (let i = 0; i < ids.length; i += 100) {
    const batch = await Promise.all(
      ids
        .slice(i, i + 100)
        .map((userId) =>
          connectAndAuth({ wsUrl: init.wsUrl, appId: init.appId, secret: init.secret, userId, localAddress: init.localAddress }),
        ),
    );
    for (const ws of batch) {
      const m: Member = { ws, seen: new Uint8Array(1024), lastSeq: 0, ackedSeq: 0 };
      ws.on('message', (data: Buffer) => onFrame(m, data));
      members.push(m);
    }
  }
  setInterval(() => {
    for (const m of members) {
      if (m.lastSeq === m.ackedSeq) continue;
      m.ackedSeq = m.lastSeq;
      m.ws.send(encodeFrame({ pushAck: { cursors: [{ conversation: init.conversation, seq: m.lastSeq }] } }));
    }
  }, init.ackIntervalMs).unref();
}

function result(): GroupWorkerResult {
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  return {
    type: 'result',
    members: members.length,
    seqs,
    counts: seqs.map((s) => bySeq.get(s)!.count),
    lastAtUs: seqs.map((s) => bySeq.get(s)!.lastAtUs),
    sentAtUs: seqs.map((s) => bySeq.get(s)!.sentAtUs),
    duplicates,
    outOfOrder,
    pushFrames,
  };
}

if (!process.send) throw new Error('group-worker runs as a forked child of bench/group-fanout.ts');
process.on('message', (msg: { type: string } & Partial<GroupWorkerInit>) => {
  if (msg.type === 'init') {
    init = msg as GroupWorkerInit;
    connectAll().then(
      () => process.send!({ type: 'ready', members: members.length }),
      (err: unknown) => process.send!({ type: 'failed', error: String(err) }),
    );
  } else if (msg.type === 'reset') {
    bySeq.clear();
    process.send!({ type: 'reset-done' });
  } else if (msg.type === 'collect') {
    process.send!(result());
  } else if (msg.type === 'exit') {
    for (const m of members) m.ws.close();
    process.disconnect();
  }
});
