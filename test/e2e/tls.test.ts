// TLS on every listener when a certificate and key are configured: dispatch and the admin API
// over https, the gate over wss:// and TLS over TCP, the SDK following dispatch to wss://, and a
// renewed certificate served without a restart.
import { copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ChatMessage, ImClient, type WebSocketConstructor } from '../../sdk/src/index.js';
import { type TestCa, testCa } from '../support/certificates.js';
import { startTestPlatform, type TestPlatform } from '../support/platform.js';
import { RawClient } from '../support/raw-client.js';

let ca: TestCa;
let renewedCa: TestCa;
let platform: TestPlatform;
let base: string;
let certFile: string;
let keyFile: string;

beforeAll(async () => {
  ca = testCa();
  renewedCa = testCa();
  const first = ca.issue('first');
  certFile = join(ca.dir, 'tls.crt');
  keyFile = join(ca.dir, 'tls.key');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  platform = await startTestPlatform({ tls: { certFile, keyFile, reloadMs: 200 } });
  base = `https://127.0.0.1:${platform.runtime.httpPort}`;
});

afterAll(async () => {
  await platform?.stop();
  ca?.remove();
  renewedCa?.remove();
});

/** GET over https trusting `trust`; resolves with status and JSON body. */
function get(url: string, trust: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    request(url, { ca: trust, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    })
      .on('error', reject)
      .end();
  });
}

const fetchTrusting = (trust: string) => async (url: URL) => {
  const { status, body } = await get(url.toString(), trust);
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
};

const wsTrusting = (trust: string): WebSocketConstructor =>
  class extends WebSocket {
    constructor(url: string) {
      super(url, { ca: trust });
    }
  } as unknown as WebSocketConstructor;

function peerCertificate(port: number, trust: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ca: trust }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  it('serves the HTTP API over https only, and dispatch hands out wss:// gates', async () => {
    const health = await get(`${base}/healthz`, ca.ca);
    expect(health.status).toBe(200);
    const { appId } = await platform.createApp();
    const answer = await get(`${base}/v1/dispatch?appId=${appId}`, ca.ca);
    expect(answer.body.gates[0]).toMatchObject({ tls: true });
    expect(answer.body.gates[0].ws).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    const plain = await fetch(`http://127.0.0.1:${platform.runtime.httpPort}/healthz`).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    expect(plain).not.toBe(200);
  });

  it('two SDK clients chat through dispatch over https and the gate over wss://', async () => {
    const { appId } = await platform.createApp();
    const messages: ChatMessage[] = [];
    const make = async (userId: string) =>
      new ImClient({
        appId,
        dispatchUrl: `${base}/v1/dispatch`,
        token: await platform.token(appId, userId),
        deviceId: `${userId}-d`,
        webSocket: wsTrusting(ca.ca),
        fetch: fetchTrusting(ca.ca),
      });
    const alice = await make('alice');
    const bob = await make('bob');
    bob.on('message', (m) => messages.push(m));
    try {
      await Promise.all([alice.connect(), bob.connect()]);
      const ack = await alice.send('bob', 'over tls');
      expect(ack.seq).toBe(1);
      for (let i = 0; i < 200 && messages.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(messages.map((m) => m.text)).toEqual(['over tls']);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });

  it('speaks TLS over TCP with the same frames', async () => {
    const { appId } = await platform.createApp();
    const client = await RawClient.tcp(platform.tcpPort, '127.0.0.1', { ca: ca.ca });
    const ok = await client.auth(await platform.token(appId, 'carol'), 'carol-d');
    expect(ok.body).toBe('authOk');
    client.close();
  });

  it('serves a renewed certificate without a restart', async () => {
    const renewed = renewedCa.issue('renewed');
    expect((await peerCertificate(platform.runtime.httpPort, ca.ca)).subject.CN).toBe('first');
    copyFileSync(renewed.keyFile, keyFile);
    copyFileSync(renewed.certFile, certFile);
    let seen: string | undefined;
    for (let i = 0; i < 100 && seen !== 'renewed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await peerCertificate(platform.runtime.httpPort, renewedCa.ca).then(
        (c) => String(c.subject.CN),
        () => undefined,
      );
    }
    expect(seen).toBe('renewed');
    // The TCP listener took it too.
    expect((await peerCertificate(platform.tcpPort, renewedCa.ca)).subject.CN).toBe('renewed');
  });
});
