// Webhook signatures (docs/webhooks.md, ADR 0037): HMAC-SHA256 with the webhook's secret over
// `${timestamp}.${body}`, sent as `imcloud-signature: v1=<hex>` beside `imcloud-timestamp` (ms).
// The timestamp is signed, so a receiver that refuses old timestamps refuses replays of old
// requests; the event id (imcloud-event-id) lets it drop the repeats at-least-once brings.
// Node only (node:crypto): for the platform and tenants' Node backends (sdk/src/webhooks.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_HEADERS = {
  timestamp: 'imcloud-timestamp',
  signature: 'imcloud-signature',
  eventId: 'imcloud-event-id',
  eventType: 'imcloud-event-type',
} as const;

/** How far a request's timestamp may be from the receiver's clock (either way) before it is refused. */
export const WEBHOOK_TOLERANCE_MS = 5 * 60_000;

const SIGNATURE = /^v1=([0-9a-f]{64})$/;

/** The `imcloud-signature` header's value for this body at this time. */
export function signWebhook(secret: string, timestampMs: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestampMs}.`);
  mac.update(body);
  return `v1=${mac.digest('hex')}`;
}

export type WebhookCheck = { ok: true } | { ok: false; reason: 'missing-headers' | 'bad-signature' | 'stale-timestamp' };

export interface VerifyWebhookInput {
  secret: string;
  /** The request's headers (lower-case names, as node:http gives them). */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body, exactly as received. */
  body: string | Uint8Array;
  /** The receiver's clock (ms); default Date.now(). */
  now?: number;
  toleranceMs?: number;
}

/** The receiver's check: a signature that matches (compared in constant time) and a timestamp within the tolerance. */
export function verifyWebhook({
  secret,
  headers,
  body,
  now = Date.now(),
  toleranceMs = WEBHOOK_TOLERANCE_MS,
}: VerifyWebhookInput): WebhookCheck {
  const ts = one(headers[WEBHOOK_HEADERS.timestamp]);
  const sig = one(headers[WEBHOOK_HEADERS.signature]);
  if (!ts || !sig || !/^\d{1,16}$/.test(ts) || !SIGNATURE.test(sig)) return { ok: false, reason: 'missing-headers' };
  const expected = Buffer.from(signWebhook(secret, Number(ts), body));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  if (Math.abs(now - Number(ts)) > toleranceMs) return { ok: false, reason: 'stale-timestamp' };
  return { ok: true };
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
