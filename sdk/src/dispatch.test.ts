import { describe, expect, it } from 'vitest';
import { ImClientError } from './client-error.js';
import { askDispatch, type DispatchFetch, gateUrls, tokenSubject } from './dispatch.js';

const base64url = (s: string) => Buffer.from(s).toString('base64url');
const jwt = (claims: object) => `${base64url('{"alg":"HS256"}')}.${base64url(JSON.stringify(claims))}.signature`;

/** A dispatch that answers every request with `status` and `body`, and records what it was asked. */
function fakeDispatch(status: number, body: unknown): { fetch: DispatchFetch; asked: URL[] } {
  const asked: URL[] = [];
  const fetch: DispatchFetch = async (url) => {
    asked.push(url);
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { fetch, asked };
}

const request = { dispatchUrl: 'https://im.example.com/v1/dispatch', appId: 'demo', token: jwt({ sub: 'alice' }), timeoutMs: 1000 };
const gates = {
  gates: [{ ws: 'wss://g1/ws' }, { ws: '', tcp: 'g2:7000' }, { ws: 'wss://g3/ws' }],
  heartbeatIntervalMs: 25_000,
  reconnect: { baseMs: 100, maxMs: 900 },
};

async function refusal(status: number, body: unknown): Promise<ImClientError> {
  const err = await askDispatch({ ...request, fetch: fakeDispatch(status, body).fetch }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ImClientError);
  return err as ImClientError;
}

describe('askDispatch', () => {
  it("asks for the app and the token's user, and returns the answer with its hints", async () => {
    const d = fakeDispatch(200, gates);
    expect(await askDispatch({ ...request, fetch: d.fetch })).toEqual(gates);
    expect(d.asked.map(String)).toEqual(['https://im.example.com/v1/dispatch?appId=demo&userId=alice']);
  });

  it('prefers the signed-in user, and sends no user for a token it cannot read', async () => {
    const d = fakeDispatch(200, gates);
    await askDispatch({ ...request, userId: 'bob', fetch: d.fetch });
    await askDispatch({ ...request, token: 'opaque-token', fetch: d.fetch });
    expect(d.asked.map((u) => u.searchParams.get('userId'))).toEqual(['bob', null]);
  });

  it("keeps dispatch's error code and retry hint when it refuses", async () => {
    const err = await refusal(429, { error: { code: 'IM_RATE_LIMITED', message: 'slow down', retryAfterMs: 1500 } });
    expect(err).toMatchObject({ code: 'IM_RATE_LIMITED', message: 'dispatch answered 429: slow down', retryAfterMs: 1500 });
  });

  it('says to check dispatchUrl when the server has no such endpoint', async () => {
    const err = await refusal(404, { error: { code: 'IM_ROUTE_NOT_FOUND', message: 'no route' } });
    expect(err.code).toBe('IM_ROUTE_NOT_FOUND');
    expect(err.message).toContain('is dispatchUrl right? (https://im.example.com/v1/dispatch should be');
  });

  it('fails with SDK_DISPATCH_FAILED on an answer without gates or a body that is not JSON', async () => {
    expect(await refusal(200, { something: 'else' })).toMatchObject({
      code: 'SDK_DISPATCH_FAILED',
      message: 'dispatch answered 200: no gates',
    });
    expect((await refusal(502, '<html>bad gateway</html>')).code).toBe('SDK_DISPATCH_FAILED');
  });

  it('fails with SDK_DISPATCH_FAILED, keeping the cause, when dispatch cannot be reached', async () => {
    const down = new TypeError('fetch failed');
    const err = await askDispatch({ ...request, fetch: () => Promise.reject(down) }).catch((e: unknown) => e as ImClientError);
    expect(err).toMatchObject({
      code: 'SDK_DISPATCH_FAILED',
      message: 'dispatch https://im.example.com unreachable: fetch failed',
      cause: down,
    });
  });
});

describe('gateUrls', () => {
  it('lists the WebSocket gates and fails with IM_NO_GATE when there are none', () => {
    expect(gateUrls(gates)).toEqual(['wss://g1/ws', 'wss://g3/ws']);
    expect(() => gateUrls({ gates: [{ ws: '', tcp: 'g2:7000' }] })).toThrow(expect.objectContaining({ code: 'IM_NO_GATE' }));
  });
});

describe('tokenSubject', () => {
  it('reads a valid user id from the sub claim and nothing else', () => {
    expect(tokenSubject(jwt({ sub: 'alice' }))).toBe('alice');
    expect(tokenSubject(jwt({ sub: 'not a user id!' }))).toBeUndefined();
    expect(tokenSubject(jwt({ sub: 42 }))).toBeUndefined();
    expect(tokenSubject('not-a-jwt')).toBeUndefined();
  });
});
