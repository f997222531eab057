import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postWebhook } from './webhook-post.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

describe('postWebhook', () => {
  it('closes the connection of an endpoint that answers and then trickles its body forever', async () => {
    let closed = false;
    server = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.write('x');
      const drip = setInterval(() => res.write('x'), 100);
      res.on('close', () => {
        clearInterval(drip);
        closed = true;
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const result = await postWebhook({ url, secret: 's' }, '{}', { eventId: 'e', eventType: 't', timeoutMs: 5_000 });
    expect(result).toEqual({ ok: false, status: 500, error: 'status' });
    const end = Date.now() + 10_000;
    while (!closed && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(closed, 'the platform closed the trickling answer').toBe(true);
  });
});
