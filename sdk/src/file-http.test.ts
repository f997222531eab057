import { describe, expect, it } from 'vitest';
import { ImClientError } from './client-error.js';
import { FileConversations } from './file-conversations.js';
import { FileHttp, filesBaseUrl } from './file-http.js';
import { FileUrls } from './file-urls.js';

describe('the file service base URL', () => {
  it('is filesUrl, else the base of dispatchUrl, else the gate host over http(s)', () => {
    expect(filesBaseUrl({ filesUrl: 'https://files.example.com/im', dispatchUrl: 'http://x/v1/dispatch' })).toBe(
      'https://files.example.com/im/',
    );
    expect(filesBaseUrl({ dispatchUrl: 'http://127.0.0.1:8080/v1/dispatch' })).toBe('http://127.0.0.1:8080/');
    expect(filesBaseUrl({ dispatchUrl: 'https://im.example.com/chat/v1/dispatch?x=1' })).toBe('https://im.example.com/chat/');
    expect(filesBaseUrl({ gateUrl: 'wss://gate.example.com:8443/ws' })).toBe('https://gate.example.com:8443/');
    expect(filesBaseUrl({ gateUrl: 'ws://gate:8080/ws' })).toBe('http://gate:8080/');
  });
});

type Call = { url: URL; init: RequestInit };

function fakeFetch(answer: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const fetch = async (url: URL, init: RequestInit) => {
    calls.push({ url, init });
    return answer({ url, init });
  };
  return { calls, fetch };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('FileHttp', () => {
  it("sends the token as Bearer and turns the server's refusal into an ImClientError with its code", async () => {
    const { calls, fetch } = fakeFetch(() => json(403, { error: { code: 'IM_FORBIDDEN', message: 'not yours' } }));
    const http = new FileHttp({ baseUrl: 'http://h/', token: () => 'tok', timeoutMs: 1000, fetch });
    const err = await http.request('GET', 'v1/files/f1').catch((e) => e);
    expect(err).toBeInstanceOf(ImClientError);
    expect(err).toMatchObject({ code: 'IM_FORBIDDEN', message: 'not yours' });
    expect(new Headers(calls[0]!.init.headers).get('authorization')).toBe('Bearer tok');
    expect(calls[0]!.url.href).toBe('http://h/v1/files/f1');
  });

  it('asks for a fresh token once after IM_TOKEN_EXPIRED', async () => {
    const tokens: boolean[] = [];
    let n = 0;
    const { calls, fetch } = fakeFetch(() =>
      n++ === 0 ? json(401, { error: { code: 'IM_TOKEN_EXPIRED', message: 'old' } }) : json(200, { ok: 1 }),
    );
    const http = new FileHttp({
      baseUrl: 'http://h/',
      token: (fresh) => {
        tokens.push(fresh);
        return fresh ? 'new' : 'old';
      },
      timeoutMs: 1000,
      fetch,
    });
    expect(await http.request('GET', 'v1/x')).toEqual({ ok: 1 });
    expect(tokens).toEqual([false, true]);
    expect(calls.map((c) => new Headers(c.init.headers).get('authorization'))).toEqual(['Bearer old', 'Bearer new']);
  });

  it('a network failure is SDK_NETWORK, a 503 without a body IM_UNAVAILABLE with its Retry-After', async () => {
    const down = new FileHttp({
      baseUrl: 'http://h/',
      token: () => 't',
      timeoutMs: 1000,
      fetch: () => Promise.reject(new TypeError('fetch failed')),
    });
    await expect(down.request('GET', 'v1/x')).rejects.toMatchObject({ code: 'SDK_NETWORK' });
    const busy = new FileHttp({
      baseUrl: 'http://h/',
      token: () => 't',
      timeoutMs: 1000,
      fetch: async () => new Response('busy', { status: 503, headers: { 'retry-after': '2' } }),
    });
    await expect(busy.request('GET', 'v1/x')).rejects.toMatchObject({ code: 'IM_UNAVAILABLE', retryAfterMs: 2000 });
  });
});

describe('fileUrl', () => {
  it('makes the answered path absolute under the base, passes the remembered conversation, and reuses a fresh URL', async () => {
    let now = 1_000_000;
    const { calls, fetch } = fakeFetch(({ url }) =>
      json(200, {
        url: `/v1/files/content/app/f1?variant=${url.searchParams.get('thumbnail') ? 'thumbnail' : 'original'}&sig=s`,
        expiresAt: now + 300_000,
      }),
    );
    const conversations = new FileConversations();
    conversations.remember('f1', 'g:team');
    const urls = new FileUrls(
      new FileHttp({ baseUrl: 'http://h:8080/im/', token: () => 't', timeoutMs: 1000, fetch }),
      conversations,
      () => now,
    );
    expect(await urls.url('f1', { thumbnail: true })).toBe('http://h:8080/im/v1/files/content/app/f1?variant=thumbnail&sig=s');
    expect(calls[0]!.url.pathname).toBe('/im/v1/files/f1/url');
    expect(Object.fromEntries(calls[0]!.url.searchParams)).toEqual({ thumbnail: '1', conversation: 'g:team' });
    await urls.url('f1', { thumbnail: true });
    expect(calls).toHaveLength(1);
    now += 250_000; // less than a minute left: asked again
    await urls.url('f1', { thumbnail: true });
    expect(calls).toHaveLength(2);
    await urls.url('f1', { conversation: 's:a:b' });
    expect(Object.fromEntries(calls[2]!.url.searchParams)).toEqual({ conversation: 's:a:b' });
  });
});
