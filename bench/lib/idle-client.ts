// One client process of bench/idle-connections.ts (forked; IPC with the parent): opens many
// WebSocket connections from several 127.0.0.x source addresses (ephemeral ports are per
// address), authenticates each with raw frames and keeps it alive with heartbeats — or, for
// the bare `ws` baseline, just holds the socket open.
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { mintToken } from '../../services/shared/tokens.js';

export interface IdleTarget {
  wsUrl: string;
  /** Absent: a bare ws server (no auth, no heartbeats). */
  appId?: string;
  secret?: string;
  count: number;
  userPrefix: string;
}

export interface IdleInit {
  type: 'init';
  targets: IdleTarget[];
  addresses: string[];
  concurrency: number;
}

export interface IdleStats {
  type: 'stats';
  open: number;
  authenticated: number;
  failed: number;
  pings: number;
  pongs: number;
  unexpectedCloses: number;
  errors: Record<string, number>;
}

const sockets: WebSocket[] = [];
const stats: IdleStats = { type: 'stats', open: 0, authenticated: 0, failed: 0, pings: 0, pongs: 0, unexpectedCloses: 0, errors: {} };
let exiting = false;
let nextAddress = 0;

function note(err: string): void {
  stats.errors[err] = (stats.errors[err] ?? 0) + 1;
}

async function open(target: IdleTarget, index: number, addresses: string[]): Promise<void> {
  const token = target.appId ? (await mintToken(target.appId, target.secret!, `${target.userPrefix}${index}`, 24 * 3600)).token : '';
  const localAddress = addresses[nextAddress++ % addresses.length];
  const ws = new WebSocket(target.wsUrl, { perMessageDeflate: false, localAddress, handshakeTimeout: 30_000 });
  ws.binaryType = 'nodebuffer';
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  stats.open++;
  sockets.push(ws);
  ws.on('error', (err) => note(`error: ${err.message}`));
  ws.on('close', (code) => {
    stats.open--;
    if (!exiting) {
      stats.unexpectedCloses++;
      note(`closed ${code}`);
    }
  });
  if (!target.appId) return;
  const ok = await new Promise<imcloud.v1.AuthOk>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no AuthOk in 30 s')), 30_000);
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer);
      const f = decodeFrame(data);
      if (f.body === 'authOk') resolve(f.authOk as imcloud.v1.AuthOk);
      else reject(new Error(`auth refused: ${f.error?.code ?? f.body}`));
    });
    ws.send(
      encodeFrame({ reqId: 1, auth: { token, deviceId: 'idle', platform: imcloud.v1.Platform.PLATFORM_ANDROID, sdkVersion: 'bench' } }),
    );
  });
  stats.authenticated++;
  ws.on('message', (data: Buffer) => {
    const f = decodeFrame(data);
    if (f.body === 'pong') stats.pongs++;
    else note(`frame ${f.body}${f.error ? ` ${f.error.code}` : ''}`);
  });
  // Heartbeats as an SDK sends them: every interval, the first one at a random offset.
  const interval = ok.heartbeatIntervalMs || 30_000;
  const beat = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(encodeFrame({ ping: { clientTime: Date.now() } }));
    stats.pings++;
  };
  setTimeout(() => {
    beat();
    setInterval(beat, interval).unref();
  }, Math.random() * interval).unref();
}

async function start(init: IdleInit): Promise<void> {
  const jobs: Array<() => Promise<void>> = [];
  for (const t of init.targets) for (let i = 0; i < t.count; i++) jobs.push(() => open(t, i, init.addresses));
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        stats.failed++;
        note(`connect: ${(err as Error).message}`);
      }
    }
  };
  const progress = setInterval(() => process.send!({ ...stats, type: 'progress' }), 1000);
  await Promise.all(Array.from({ length: Math.min(init.concurrency, jobs.length) }, lane));
  clearInterval(progress);
  process.send!({ ...stats, type: 'connected' });
}

if (!process.send) throw new Error('idle-client runs as a forked child of bench/idle-connections.ts');
process.on('message', (msg: IdleInit | { type: 'stats' | 'exit' }) => {
  if (msg.type === 'init') void start(msg);
  else if (msg.type === 'stats') process.send!(stats);
  else if (msg.type === 'exit') {
    exiting = true;
    for (const ws of sockets) ws.terminate();
    process.disconnect();
    setTimeout(() => process.exit(0), 500).unref();
  }
});
