// One signed POST to a webhook (docs/webhooks.md): the event's JSON, the signature headers, a
// hard timeout. The answer's body is read only when asked for, and only up to a bound: an
// endpoint cannot make the platform hold much of anything.
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

export async function postWebhook(target: WebhookTarget, body: string, opts: PostOptions): Promise<PostResult> {
  const ts = (opts.now ?? Date.now)();
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(target.url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'imcloud-webhooks/1',
        [WEBHOOK_HEADERS.timestamp]: String(ts),
        [WEBHOOK_HEADERS.signature]: signWebhook(target.secret, ts, body),
        [WEBHOOK_HEADERS.eventId]: opts.eventId,
        [WEBHOOK_HEADERS.eventType]: opts.eventType,
      },
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, status: res.status, error: 'status' };
    }
    if (!opts.readBodyBytes) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: true, status: res.status };
    }
    const text = await readBounded(res, opts.readBodyBytes);
    return text === undefined ? { ok: false, status: res.status, error: 'too-large' } : { ok: true, status: res.status, body: text };
  } catch {
    return { ok: false, error: signal.aborted ? 'timeout' : 'network' };
  }
}

/** The body as text, or undefined when it is longer than `max` bytes (the rest is not read). */
async function readBounded(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks).toString('utf8');
    size += value.length;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
}
