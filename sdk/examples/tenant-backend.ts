// A tenant's backend, the other half of an imcloud app (README, "Your backend: send and hear"):
// it receives the app's webhook events on a small HTTP server and checks each one's signature,
// registers that server as the app's webhook, and sends a user a system message. Reply to it
// from the web page: the reply's signed `message.sent` event is printed here.
//
//   npx tsx sdk/examples/tenant-backend.ts --secret <the demo app's secret> --to alice
//
// --app (default demo), --api (the admin API, default http://127.0.0.1:8080), --port (this
// receiver, default 8787; 0 picks one), --text (the system message).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { verifyWebhook } from '../src/webhooks.js';

const { values: opt } = parseArgs({
  options: {
    app: { type: 'string', default: 'demo' },
    secret: { type: 'string' },
    to: { type: 'string', default: 'alice' },
    api: { type: 'string', default: 'http://127.0.0.1:8080' },
    port: { type: 'string', default: '8787' },
    text: { type: 'string', default: 'Welcome! Reply to this message and our backend hears it.' },
  },
});
if (!opt.secret) {
  console.error('give --secret: the app secret `make run` prints on its "demo app" line');
  process.exit(2);
}
const authorization = `Basic ${Buffer.from(`${opt.app}:${opt.secret}`).toString('base64')}`;

async function call<T>(method: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${opt.api}${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer as T;
}

/** What this example reads of an event (docs/webhooks.md has them all). */
interface WebhookEvent {
  id: string;
  type: string;
  conversation: string;
  seq?: number;
  user?: string;
  message?: { sender: string; contentType: string; body: string };
}

let signingSecret = '';
/** Event ids already handled: delivery is at least once, so repeats are dropped (the latest 10,000). */
const handled = new Set<string>();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const check = verifyWebhook({ secret: signingSecret, headers: req.headers, body });
    if (!check.ok) {
      console.log(`refused a request: ${check.reason}`);
      res.writeHead(401).end();
      return;
    }
    res.writeHead(204).end();
    const event = JSON.parse(body.toString('utf8')) as WebhookEvent;
    if (handled.has(event.id)) return;
    handled.add(event.id);
    if (handled.size > 10_000) handled.delete(handled.values().next().value as string);
    const m = event.message;
    const text = m?.contentType === 'text' ? `: ${Buffer.from(m.body, 'base64').toString('utf8')}` : '';
    console.log(`event ${event.type}, signature verified: ${event.conversation} seq ${event.seq} from ${m?.sender ?? event.user}${text}`);
  });
});
await new Promise<void>((resolve, reject) => {
  server.once('error', (err) => reject(new Error(`cannot listen on 127.0.0.1:${opt.port} (${err.message}); give another --port`)));
  server.listen(Number(opt.port), '127.0.0.1', resolve);
});
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/imcloud`;

const hook = await call<{ secret: string; events: string[] }>('PUT', `/v1/apps/${opt.app}/webhook`, {
  url,
  events: ['message.sent', 'message.read'],
  rotateSecret: true,
});
signingSecret = hook.secret;
console.log(`webhook of app ${opt.app}: ${url} (events ${hook.events.join(', ')})`);
// The platform reads an app's webhook through short caches (logic 5 s, the deliverer 2 s): until
// then events go unsent, or signed with the secret this run just replaced.
console.log('waiting 6 s for the platform to take the webhook…');
await new Promise((r) => setTimeout(r, 6_000));
const ack = await call<{ conversation: string; seq: number }>('POST', `/v1/apps/${opt.app}/messages`, {
  system: true,
  to: opt.to,
  body: opt.text,
  clientMsgId: `welcome-${Date.now()}`,
});
console.log(`sent ${opt.to} a system message (${ack.conversation}, seq ${ack.seq}); reply to it, events show here (Ctrl-C stops)`);
