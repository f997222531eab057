// A benchmark client's connection: WebSocket, Auth with a token minted for the user, AuthOk,
// then Pings at the interval AuthOk gives. Shared by the chat and group workers.
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, type Frame } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import { mintToken } from '../../services/shared/tokens.js';

export interface BenchUser {
  wsUrl: string;
  appId: string;
  secret: string;
  userId: string;
  localAddress?: string;
}

export async function connectAndAuth(u: BenchUser): Promise<WebSocket> {
  const { token } = await mintToken(u.appId, u.secret, u.userId, 3600);
  const ws = new WebSocket(u.wsUrl, { perMessageDeflate: false, localAddress: u.localAddress });
  ws.binaryType = 'nodebuffer';
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const ok = await new Promise<Frame>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${u.userId}: no AuthOk in 10 s`)), 10_000);
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer);
      resolve(decodeFrame(data));
    });
    ws.send(
      encodeFrame({ reqId: 1, auth: { token, deviceId: 'bench', platform: imcloud.v1.Platform.PLATFORM_SERVER, sdkVersion: 'bench' } }),
    );
  });
  if (ok.body !== 'authOk') throw new Error(`${u.userId}: auth failed: ${JSON.stringify(ok.error)}`);
  const interval = ok.authOk!.heartbeatIntervalMs || 30_000;
  const ping = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame({ ping: { clientTime: Date.now() } }));
  }, interval);
  ping.unref();
  ws.on('close', () => clearInterval(ping));
  return ws;
}
