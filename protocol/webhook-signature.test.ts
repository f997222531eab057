import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, WEBHOOK_HEADERS, WEBHOOK_TOLERANCE_MS } from './webhook-signature.js';

const secret = 'whsec-test';
const now = 1_800_000_000_000;
function headersFor(body: string, ts = now, key = secret): Record<string, string> {
  return { [WEBHOOK_HEADERS.timestamp]: String(ts), [WEBHOOK_HEADERS.signature]: signWebhook(key, ts, body) };
}

describe('webhook signatures', () => {
  it('a request signed with the secret verifies; any change to body, timestamp or secret does not', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ minLength: 1, maxLength: 20 }), (body, other) => {
        expect(verifyWebhook({ secret, headers: headersFor(body), body, now })).toEqual({ ok: true });
        expect(verifyWebhook({ secret, headers: headersFor(body), body: `${body}${other}`, now })).toEqual({
          ok: false,
          reason: 'bad-signature',
        });
        expect(verifyWebhook({ secret, headers: headersFor(body, now, `${secret}${other}`), body, now })).toEqual({
          ok: false,
          reason: 'bad-signature',
        });
        const moved = { ...headersFor(body), [WEBHOOK_HEADERS.timestamp]: String(now + 1) };
        expect(verifyWebhook({ secret, headers: moved, body, now })).toEqual({ ok: false, reason: 'bad-signature' });
      }),
    );
  });

  it('a correctly signed request older or newer than the tolerance is refused as a replay', () => {
    const body = '{"id":"e1"}';
    const old = now - WEBHOOK_TOLERANCE_MS - 1;
    expect(verifyWebhook({ secret, headers: headersFor(body, old), body, now })).toEqual({ ok: false, reason: 'stale-timestamp' });
    expect(verifyWebhook({ secret, headers: headersFor(body, now + WEBHOOK_TOLERANCE_MS + 1), body, now })).toEqual({
      ok: false,
      reason: 'stale-timestamp',
    });
    expect(verifyWebhook({ secret, headers: headersFor(body, now - WEBHOOK_TOLERANCE_MS), body, now })).toEqual({ ok: true });
  });

  it('missing or malformed headers are refused without computing anything from them', () => {
    const body = 'x';
    expect(verifyWebhook({ secret, headers: {}, body, now })).toEqual({ ok: false, reason: 'missing-headers' });
    const h = headersFor(body);
    expect(verifyWebhook({ secret, headers: { ...h, [WEBHOOK_HEADERS.signature]: 'v0=abc' }, body, now })).toEqual({
      ok: false,
      reason: 'missing-headers',
    });
    expect(verifyWebhook({ secret, headers: { ...h, [WEBHOOK_HEADERS.timestamp]: 'soon' }, body, now })).toEqual({
      ok: false,
      reason: 'missing-headers',
    });
  });
});
