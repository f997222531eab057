// One signed POST to a webhook (docs/webhooks.md): the event's JSON, the signature headers, a
// hard timeout over the whole exchange. The answer's body is read only when asked for, and only
// up to a bound: an endpoint cannot make the platform hold much of anything. node:http(s) with
// keep-alive agents: a third of fetch's CPU per request (measured, ADR 0037), which the send
// path pays for every before-send call.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { signWebhook, WEBHOOK_HEADERS } from '../../protocol/webhook-signature.js';

export interface WebhookTarget {
  url: string;
  secret: string;
}

export type PostResult =
  | { ok: true; status: number; body?: string }
  | { ok: false; status?: number; error: 'timeout' | 'status' | 'network' | 'too-large' };

export interface PostOptions {
  eventId: string;
  eventType: string;
  timeoutMs: number;
  /** Read and return the answer's body up to this many bytes (before-send); 0: do not read it. */
  readBodyBytes?: number;
  now?: () => number;
}

/** Connections kept per process: the deliverer's and before-send's bounds keep far fewer busy. */
const agentOptions = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, timeout: 60_000 };
/** An answer whose body is not wanted is drained up to this, then its connection is closed. */
const MAX_DRAINED_BYTES = 64 * 1024;
/** ... and for at most this long: an endpoint that trickles its answer loses the connection. */
const MAX_DRAIN_MS = 1_000;
const agents = { 'http:': new HttpAgent(agentOptions), 'https:': new HttpsAgent(agentOptions) };

export function postWebhook(target: WebhookTarget, body: string, opts: PostOptions): Promise<PostResult> {
  const ts = (opts.now ?? Date.now)();
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return Promise.resolve({ ok: false, error: 'network' });
  }
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'user-agent': 'imcloud-webhooks/1',
    [WEBHOOK_HEADERS.timestamp]: String(ts),
    [WEBHOOK_HEADERS.signature]: signWebhook(target.secret, ts, body),
    [WEBHOOK_HEADERS.eventId]: opts.eventId,
    [WEBHOOK_HEADERS.eventType]: opts.eventType,
  };
  const https = url.protocol === 'https:';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = (https ? httpsRequest : httpRequest)(url, { method: 'POST', headers, agent: agents[https ? 'https:' : 'http:'] }, (res) =>
      answer(res, opts.readBodyBytes ?? 0).then(finish),
    );
    const timer = setTimeout(() => {
      finish({ ok: false, error: 'timeout' });
      req.destroy();
    }, opts.timeoutMs);
    req.on('error', () => finish({ ok: false, error: 'network' }));
    req.end(body);
  });
}

/** The result an answer makes; its body read (bounded) only for a 2xx that the caller wants read. */
function answer(res: IncomingMessage, readBodyBytes: number): Promise<PostResult> {
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 299 || readBodyBytes === 0) {
    // Drained so the connection can be reused, unless the endpoint sends more than a short answer.
    let drained = 0;
    const cut = setTimeout(() => res.destroy(), MAX_DRAIN_MS);
    res.on('close', () => clearTimeout(cut));
    res.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > MAX_DRAINED_BYTES) res.destroy();
    });
    res.on('error', () => undefined);
    return Promise.resolve(status >= 200 && status <= 299 ? { ok: true, status } : { ok: false, status, error: 'status' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > readBodyBytes) {
        res.destroy();
        resolve({ ok: false, status, error: 'too-large' });
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve({ ok: true, status, body: Buffer.concat(chunks).toString('utf8') }));
    res.on('error', () => resolve({ ok: false, status, error: 'network' }));
  });
}
