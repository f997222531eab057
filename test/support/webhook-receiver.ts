// A real HTTP endpoint in the test process that receives imcloud webhooks: it records every
// request (headers and the raw body, with the time it arrived) and answers as the test says,
// per app: events with a status (or not at all while "down"), before-send calls with an answer,
// late or never. Close and reopen it on the same port to play an endpoint that dies and returns.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_HEADERS } from '../../sdk/src/webhooks.js';

export interface ReceivedRequest {
  appId: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** What the receiver answered (events only). */
  status?: number;
}

export interface AppBehaviour {
  /** Status for events (default 200). */
  eventStatus?: number;
  /** Answer to before-send calls (JSON), after `beforeSendDelayMs`. */
  beforeSend?: unknown;
  beforeSendDelayMs?: number;
  beforeSendStatus?: number;
}

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  readonly behaviour = new Map<string, AppBehaviour>();
  private server: Server | undefined;
  private readonly open = new Set<ServerResponse>();
  port = 0;

  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** The endpoint dies: the listener closes and open connections are cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const res of this.open) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  url(appId: string): string {
    return `http://127.0.0.1:${this.port}/hook/${appId}`;
  }

  of(appId: string, type?: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.appId === appId && (type === undefined || r.headers[WEBHOOK_HEADERS.eventType] === type));
  }

  private answer(path: string, headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const appId = path.replace(/^\/hook\//, '');
    const received: ReceivedRequest = { appId, headers, body, at: Date.now() };
    this.requests.push(received);
    const b = this.behaviour.get(appId) ?? {};
    if (headers[WEBHOOK_HEADERS.eventType] !== 'message.before_send') {
      received.status = b.eventStatus ?? 200;
      res.writeHead(received.status).end();
      return;
    }
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    const reply = () => {
      if (res.destroyed) return;
      res
        .writeHead(b.beforeSendStatus ?? 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(b.beforeSend ?? { action: 'allow' }));
    };
    if (b.beforeSendDelayMs) setTimeout(reply, b.beforeSendDelayMs).unref();
    else reply();
  }
}
