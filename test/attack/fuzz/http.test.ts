// Property-based fuzzing of the HTTP routes of the embedded mode (`imcloud all` as an OS process
// of its own, so a crash is seen as one): arbitrary methods, request targets (percent-encoding,
// dot segments, odd characters, queries), headers and bodies, written raw on sockets; and
// well-formed requests with arbitrary JSON bodies and credentials through fetch. Never a 5xx,
// never a hang, never a crash; every error body the server writes is JSON with a catalog code.

import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { isErrorCode } from '../../../protocol/errors.js';
import { isAlive } from '../../infra/base.js';
import { testLogDir } from '../../support/test-log-dir.js';
import { rawRequest } from '../harness/http.js';
import { startEmbedded, type Target } from '../harness/target.js';
import { type App, World } from '../harness/world.js';
import { budget, skipOpen, testTimeout } from './budget.js';

const logDir = testLogDir('attack-http-fuzz');
let target: Target;
let world: World;
let app: App;

beforeAll(async () => {
  target = await startEmbedded(logDir);
  world = new World(target);
  app = await world.createApp();
}, 120_000);

afterAll(async () => {
  await target?.stop();
});

const seen = { requests: 0, byStatus: new Map<number | string, number>() };
afterAll(() => {
  console.log(`http fuzz: ${seen.requests} requests; statuses ${JSON.stringify(Object.fromEntries([...seen.byStatus].sort()))}`);
});

/** Whether the embedded process still runs; if not, starts it again (and fails the property). */
async function stillAlive(): Promise<boolean> {
  const pid = target.processes[0]!.pid();
  if (pid !== undefined && isAlive(pid)) return true;
  await target.processes[0]!.restart();
  app = await world.createApp();
  return false;
}

const enc = (s: string) => encodeURIComponent(skipOpen ? s.replaceAll('/', '') : s);

// Left out with IMCLOUD_ATTACK_SKIP_OPEN=1: the open finding (encoded slashes that make the web
// page route name its own directory, found by this suite: 500).
const openSegments = ['%2F', '..%2F', '%2e%2e%2F'];

const segment = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      'v1',
      'apps',
      'tokens',
      'revocations',
      'dispatch',
      'demo',
      'token',
      'config',
      'healthz',
      'readyz',
      'metrics',
      'ws',
      'index.html',
      'main.js',
      'style.css',
      'x'.repeat(300),
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map(enc) },
  { weight: 1, arbitrary: fc.stringMatching(/^[!$&'()*+,;=:@~._A-Za-z0-9-]{1,6}$/) },
  { weight: 1, arbitrary: fc.constantFrom('%41', '%2e', '%2E%2E', '%20', '%00', '%7F', '%25') },
  // Malformed percent-encoding (hardening issue 8).
  { weight: 1, arbitrary: fc.constantFrom('%', '%E0%A4%A', '%zz', '%C0%AF', '%FF') },
  ...(skipOpen ? [] : [{ weight: 1, arbitrary: fc.constantFrom(...openSegments) }]),
);

const query = fc.option(
  fc
    .array(
      fc.tuple(
        fc.constantFrom('appId', 'userId', 'x', ''),
        fc.oneof(fc.string({ maxLength: 45 }).map(enc), fc.constantFrom('demo', 'NOT_VALID', 'a:b', '%', '%zz')),
      ),
      { maxLength: 3 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  { nil: '' },
);

const target$ = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(fc.constantFrom('/', '/v1/', '/v1/apps/', 'APP', '/v1/demo/'), fc.array(segment, { maxLength: 5 }), query)
      .map(([prefix, segs, q]) => `${prefix}${segs.join('/')}${q}`),
  },
  // Targets the WHATWG URL parser refuses (hardening issue 1); `//` names the web page's directory (open).
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '*',
      'http://127.0.0.1/healthz',
      '/healthz#frag',
      '/healthz?',
      '/v1/dispatch?appId=demo&appId=x',
      '//a:99999/',
      'http://a:99999/',
      '//[/',
      ...(skipOpen ? [] : ['//']),
    ),
  },
);

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const headerValue = fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, ''));

const request = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS') },
    { weight: 1, arbitrary: fc.oneof(token, fc.constantFrom('get', 'TRACE', 'PROPFIND')) },
  ),
  target: target$,
  auth: fc.constantFrom('none', 'admin', 'bearer-wrong', 'basic-app', 'basic-wrong', 'basic-garbage'),
  contentType: fc.option(
    fc.oneof(
      fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'),
      headerValue,
    ),
    { nil: undefined },
  ),
  extra: fc.array(
    fc.oneof(
      fc.tuple(token, headerValue),
      fc.constantFrom<[string, string]>(
        ['Expect', '100-continue'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Encoding', 'gzip'],
        ['Upgrade', 'websocket'],
        ['X-Forwarded-For', '1.2.3.4'],
      ),
    ),
    { maxLength: 3 },
  ),
  body: fc.oneof(
    fc.constant(''),
    fc.json({ maxDepth: 3 }),
    fc
      .record(
        {
          appId: fc.oneof(fc.string({ maxLength: 45 }), fc.integer()),
          name: fc.string(),
          multiLogin: fc.constantFrom('all', 'single', 'per-platform', 'nope'),
          userId: fc.string({ maxLength: 70 }),
          ttlSec: fc.oneof(fc.integer(), fc.double(), fc.string()),
          jti: fc.string(),
          expiresAt: fc.integer(),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.string({ maxLength: 200 }),
    fc.nat({ max: 50_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  ),
});

function credentials(kind: string): string | undefined {
  switch (kind) {
    case 'admin':
      return `Bearer ${target.adminToken}`;
    case 'bearer-wrong':
      return 'Bearer wrong';
    case 'basic-app':
      return `Basic ${Buffer.from(`${app.appId}:${app.secret}`).toString('base64')}`;
    case 'basic-wrong':
      return `Basic ${Buffer.from(`${app.appId}:nope`).toString('base64')}`;
    case 'basic-garbage':
      return 'Basic %%%';
    default:
      return undefined;
  }
}

/** The error body must be JSON with a catalog code. */
function expectCatalogBody(status: number, head: string, body: string, what: string): void {
  if (status < 400 || body.length === 0) return;
  expect(head, `${what}: content-type of a ${status} with a body`).toMatch(/content-type: application\/json/i);
  const code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
  expect(isErrorCode(code), `${what}: error code ${code}`).toBe(true);
}

describe('HTTP routes', () => {
  test.prop([request], budget(600, 25))(
    'raw requests: never a 5xx, a hang or a crash; errors are JSON with a catalog code',
    async (r) => {
      const path = r.target.replace('APP', `/v1/apps/${app.appId}/`);
      const lines = [`${r.method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
      const auth = credentials(r.auth);
      if (auth) lines.push(`Authorization: ${auth}`);
      if (r.contentType !== undefined) lines.push(`Content-Type: ${r.contentType}`);
      for (const [k, v] of r.extra) lines.push(`${k}: ${v}`);
      if (r.body || !['GET', 'HEAD'].includes(r.method)) lines.push(`Content-Length: ${Buffer.byteLength(r.body)}`);
      const what = `${r.method} ${path.slice(0, 120)}`;
      const answer = await rawRequest(target.adminUrl, `${lines.join('\r\n')}\r\n\r\n${r.body}`, { timeoutMs: 5_000 });
      seen.requests += 1;
      seen.byStatus.set(
        answer.status ?? (answer.closed ? 'closed' : 'hang'),
        (seen.byStatus.get(answer.status ?? (answer.closed ? 'closed' : 'hang')) ?? 0) + 1,
      );
      expect(await stillAlive(), `the process survived ${what}`).toBe(true);
      expect(answer.status !== undefined || answer.closed, `${what}: neither answered nor closed within 5 s`).toBe(true);
      if (answer.status !== undefined) {
        expect(answer.status, `${what} → ${answer.body.slice(0, 200)}`).toBeLessThan(500);
        const head = answer.text.slice(0, Math.max(0, answer.text.indexOf('\r\n\r\n')));
        if (r.method !== 'HEAD') expectCatalogBody(answer.status, head, answer.body, what);
      }
    },
    testTimeout(25),
  );

  const routes = fc.constantFrom(
    '/v1/apps',
    '/v1/apps/APP',
    '/v1/apps/APP/tokens',
    '/v1/apps/APP/revocations',
    '/v1/apps/OTHER/tokens',
    '/v1/demo/token',
    '/v1/dispatch',
  );
  test.prop(
    [
      fc.constantFrom('POST', 'PATCH', 'PUT', 'DELETE', 'GET'),
      routes,
      fc.constantFrom('none', 'admin', 'basic-app', 'basic-wrong'),
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.anything({ maxDepth: 2, withNullPrototype: false }).filter((v) => v !== undefined),
      ),
    ],
    budget(400, 20),
  )(
    'well-formed requests with arbitrary JSON bodies (fetch): never a 5xx, errors with a catalog code',
    async (method, route, auth, json) => {
      const path = route.replace('APP', app.appId).replace('OTHER', 'some-other-app');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const cred = credentials(auth);
      if (cred) headers.authorization = cred;
      let body: string | undefined;
      try {
        body = method === 'GET' ? undefined : JSON.stringify(json);
      } catch {
        body = '{';
      }
      const res = await fetch(`${target.adminUrl}${path}`, { method, headers, body, signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      seen.requests += 1;
      seen.byStatus.set(res.status, (seen.byStatus.get(res.status) ?? 0) + 1);
      expect(await stillAlive(), `the process survived ${method} ${path}`).toBe(true);
      expect(res.status, `${method} ${path} ${body?.slice(0, 100)} → ${text.slice(0, 200)}`).toBeLessThan(500);
      if (res.status >= 400) {
        const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? '';
        expect(isErrorCode(code), `${method} ${path}: ${code}`).toBe(true);
      }
    },
    testTimeout(20),
  );
});
