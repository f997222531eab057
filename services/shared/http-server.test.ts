import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits, HttpServer } from './http-server.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function server(limits: Partial<HttpLimits> = {}) {
  const s = new HttpServer(createLogger('test', 'test', 'silent'), createMetrics(), 'test', { ...DEFAULT_HTTP_LIMITS, ...limits });
  servers.push(s);
  return s;
}

/** Writes `request` on a raw socket and collects the answer until the server closes (or `waitMs`). */
function raw(port: number, request: string, waitMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, waitMs).unref();
  });
}

const statusOf = (answer: string) => Number(answer.split(' ')[1]);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error?: { code: string } };

describe('HttpServer', () => {
  it('answers request targets the URL parser rejects and malformed percent-encodings with 4xx and a catalog code', async () => {
    const http = server();
    http.route('GET', '/v1/apps/:appId', (req) => ({ json: { appId: req.params.appId } }));
    const port = await http.listen(0, '127.0.0.1');
    await http.serve();
    const odd = await raw(port, 'GET //a:99999/ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(statusOf(odd)).toBe(404);
    expect(bodyOf(odd).error?.code).toBe('IM_ROUTE_NOT_FOUND');
    const badEscape = await raw(port, 'GET /v1/apps/%E0%A4%A HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(statusOf(badEscape)).toBe(400);
    expect(bodyOf(badEscape).error?.code).toBe('IM_BAD_REQUEST');
    const garbage = await raw(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(statusOf(garbage)).toBe(400);
    const fine = await fetch(`http://127.0.0.1:${port}/v1/apps/acme`);
    expect(await fine.json()).toEqual({ appId: 'acme' });
  });

  it('refuses a caller before reading its body: a 401 comes back while the announced body never arrives', async () => {
    const http = server();
    let handled = 0;
    http.route(
      'POST',
      '/v1/apps',
      () => {
        handled += 1;
        return { json: {} };
      },
      {
        authorize: (req) => {
          if (req.headers.authorization !== 'Bearer good') throw new ImError('IM_ADMIN_UNAUTHORIZED');
        },
      },
    );
    const port = await http.listen(0, '127.0.0.1');
    await http.serve();
    const answer = await raw(
      port,
      'POST /v1/apps HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n[[[[',
      2_000,
    );
    expect(statusOf(answer)).toBe(401);
    expect(bodyOf(answer).error?.code).toBe('IM_ADMIN_UNAUTHORIZED');
    expect(handled).toBe(0);
  });

  it('refuses bodies over the limit with IM_REQUEST_TOO_LARGE and invalid JSON with IM_ADMIN_INVALID', async () => {
    const http = server({ bodyLimitBytes: 1024 });
    http.route('POST', '/echo', (req) => ({ json: req.body }));
    const port = await http.listen(0, '127.0.0.1');
    await http.serve();
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const big = await post(JSON.stringify({ x: 'y'.repeat(2_000) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('IM_REQUEST_TOO_LARGE');
    const bad = await post('{"a":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('IM_ADMIN_INVALID');
    expect(await (await post('{"a":1}')).json()).toEqual({ a: 1 });
  });

  it('takes an empty body with a JSON content type as no body (a DELETE from a client that always sends the header)', async () => {
    const http = server();
    http.route('DELETE', '/thing', (req) => ({ json: { body: req.body ?? null } }));
    const port = await http.listen(0, '127.0.0.1');
    await http.serve();
    const res = await fetch(`http://127.0.0.1:${port}/thing`, { method: 'DELETE', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ body: null });
  });

  it('serves ops routes (metrics, admin) only on the ops listener when there is one', async () => {
    const http = server();
    http.route('GET', '/v1/apps', () => ({ json: { apps: [] } }), { listener: 'ops' });
    http.route('GET', '/v1/dispatch', () => ({ json: { gates: [] } }));
    const pub = await http.listen(0, '127.0.0.1');
    const ops = await http.listenOps(0, '127.0.0.1');
    await http.serve();
    const status = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    expect(await status(pub, '/metrics')).toBe(404);
    expect(await status(pub, '/v1/apps')).toBe(404);
    expect(await status(pub, '/v1/dispatch')).toBe(200);
    expect(await status(ops, '/metrics')).toBe(200);
    expect(await status(ops, '/v1/apps')).toBe(200);
    expect(await status(ops, '/v1/dispatch')).toBe(404);
    expect(await status(pub, '/healthz')).toBe(200);
    expect(await status(ops, '/healthz')).toBe(200);
  });

  it('answers liveness from the start and everything else with 503 until it serves', async () => {
    const http = server();
    http.readyWhen(() => true);
    http.route('GET', '/v1/dispatch', () => ({ json: {} }));
    const port = await http.listen(0, '127.0.0.1');
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    expect([await status('/healthz'), await status('/readyz'), await status('/v1/dispatch')]).toEqual([200, 503, 503]);
    await http.serve();
    expect([await status('/healthz'), await status('/readyz'), await status('/v1/dispatch')]).toEqual([200, 200, 200]);
  });

  it('cuts off a client that sends its headers too slowly', async () => {
    const http = server({ headersTimeoutMs: 500 });
    const port = await http.listen(0, '127.0.0.1');
    await http.serve();
    // The request line, then nothing: the connection must not be held open. The 408 is the
    // headers timeout's answer (raw() gives up after 10 s without one); how soon it came is not
    // asserted, a busy machine delays it.
    const answer = await raw(port, 'GET /healthz HTTP/1.1\r\nhost: x\r\n', 10_000);
    expect(statusOf(answer)).toBe(408);
  });
});
