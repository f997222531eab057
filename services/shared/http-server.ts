// The HTTP side of every role, on fastify: /healthz, /readyz, /metrics and the roles' own
// routes, on one or two listeners. The public listener is what clients reach (the gate's
// WebSocket at /ws, dispatch, the web page); the ops listener (http.opsPort) carries /metrics
// and the admin API, so that neither is exposed where clients connect. Without an ops port
// both share the public listener (the embedded mode on a laptop).
//
// A listener answers /healthz from the moment it listens; the roles' routes are served once
// serve() is called, after the backends are up (fastify takes no routes once it runs, so the
// node server is ours and fastify's handler is switched in then). Credentials are checked on
// the request line and headers, before a body is read; bodies are JSON, bounded in size.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type ErrorCode, ImError, toImError } from '../../protocol/errors.js';
import type { Metrics } from './metrics.js';
import type { TlsFiles } from './tls-files.js';

export type Listener = 'public' | 'ops';

/** What a route sees of a request before its body is read. */
export interface HttpRequestHead {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  raw: IncomingMessage;
}

export interface HttpRequest<Auth = unknown> extends HttpRequestHead {
  /** Parsed JSON body (undefined when empty). */
  body: unknown;
  /** What the route's authorize() returned. */
  auth: Auth;
}

export interface HttpReply {
  status?: number;
  json?: unknown;
  text?: string;
  bytes?: Uint8Array;
  /** Streamed with backpressure (a download); destroyed if the client goes away. */
  stream?: Readable;
  contentType?: string;
  headers?: Record<string, string>;
}

export type HttpHandler<Auth = unknown> = (req: HttpRequest<Auth>) => Promise<HttpReply> | HttpReply;

export interface RouteOptions<Auth = unknown> {
  /** Default 'public'. 'ops' routes are served on the ops listener when there is one. */
  listener?: Listener;
  /** Runs on the request line and headers before the body is read; throws to refuse. */
  authorize?: (req: HttpRequestHead) => Promise<Auth> | Auth;
  /** Largest accepted body in bytes (default: the server's bodyLimitBytes). */
  bodyLimit?: number;
  /**
   * The body is not parsed: `body` is the request stream, read by the handler (which bounds it;
   * bodyLimit does not apply). For uploads.
   */
  rawBody?: boolean;
  /**
   * Callable from any origin (a page served elsewhere): answers and errors carry
   * Access-Control-Allow-Origin: *, and the path answers preflight requests. Only for routes
   * whose credentials travel in headers or signed URLs, never in cookies.
   */
  cors?: boolean;
}

export interface HttpLimits {
  /** Open connections per listener (WebSocket connections on the public listener count). */
  maxConnections: number;
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  bodyLimitBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 18_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  bodyLimitBytes: 64 * 1024,
};

interface RouteEntry {
  method: string;
  path: string;
  handler: HttpHandler<unknown>;
  opts: RouteOptions<unknown>;
}

interface Endpoint {
  server: Server;
  /** Set by serve(): fastify's request handler for this listener. */
  handle?: (req: IncomingMessage, res: ServerResponse) => void;
  app?: FastifyInstance;
}

type Head = FastifyRequest & { imcloudAuth?: unknown };

export class HttpServer {
  private readonly routes: RouteEntry[] = [];
  private readonly readiness: Array<() => boolean> = [];
  private readonly endpoints = new Map<Listener, Endpoint>();
  private serving = false;

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly role: string,
    private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    private readonly tls?: TlsFiles,
  ) {
    this.route('GET', '/healthz', () => ({ json: { ok: true } }), { listener: 'public' });
    this.route(
      'GET',
      '/readyz',
      () => {
        const ready = this.ready();
        return { status: ready ? 200 : 503, json: { ready } };
      },
      { listener: 'public' },
    );
    this.route(
      'GET',
      '/metrics',
      async () => ({ text: await this.metrics.registry.metrics(), contentType: this.metrics.registry.contentType }),
      { listener: 'ops' },
    );
  }

  /** The public listener's node server (the gate takes WebSocket upgrades from it). */
  get server(): Server {
    return this.endpoint('public').server;
  }

  /** Adds a readiness condition; /readyz is 200 only when all hold. */
  readyWhen(check: () => boolean): void {
    this.readiness.push(check);
  }

  /** `path` may contain :params, e.g. /v1/apps/:appId; a trailing * matches any rest (params.rest). */
  route<Auth>(method: string, path: string, handler: HttpHandler<Auth>, opts: RouteOptions<Auth> = {}): void {
    if (this.serving) throw new Error(`route ${method} ${path} added after serve()`);
    this.routes.push({ method, path, handler: handler as HttpHandler<unknown>, opts: opts as RouteOptions<unknown> });
  }

  /** Starts the public listener; until serve() it answers /healthz, /readyz (503) and 503 otherwise. */
  listen(port: number, host: string): Promise<number> {
    return this.listenOn('public', port, host);
  }

  /** Starts a separate ops listener for /metrics, the admin API and the health checks. */
  listenOps(port: number, host: string): Promise<number> {
    return this.listenOn('ops', port, host);
  }

  /** Serves every route added so far; call once the backends are up. */
  async serve(): Promise<void> {
    this.serving = true;
    for (const [listener, endpoint] of this.endpoints) {
      let handle: Endpoint['handle'];
      const app = this.buildApp(listener, endpoint.server, (h) => (handle = h));
      await app.ready();
      endpoint.app = app;
      endpoint.handle = handle;
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.endpoints.values()].map(
        (e) =>
          new Promise<void>((resolve) => {
            e.server.close(() => resolve());
            e.server.closeAllConnections();
          }),
      ),
    );
    await Promise.all([...this.endpoints.values()].map((e) => e.app?.close()));
  }

  private ready(): boolean {
    return this.serving && this.readiness.every((check) => check());
  }

  private endpoint(listener: Listener): Endpoint {
    const e = this.endpoints.get(listener);
    if (!e) throw new Error(`the ${listener} listener is not started`);
    return e;
  }

  private listenOn(listener: Listener, port: number, host: string): Promise<number> {
    const endpoint: Endpoint = { server: this.createNodeServer((req, res) => (endpoint.handle ?? this.beforeServing)(req, res)) };
    this.endpoints.set(listener, endpoint);
    const { server } = endpoint;
    server.maxConnections = this.limits.maxConnections;
    server.keepAliveTimeout = this.limits.keepAliveTimeoutMs;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    this.tls?.onChange((ctx) => (server as unknown as { setSecureContext(c: object): void }).setSecureContext(ctx));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err: String(err), listener }, 'http listener error'));
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  private createNodeServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
    const opts = {
      headersTimeout: this.limits.headersTimeoutMs,
      requestTimeout: this.limits.requestTimeoutMs,
      // How often those two are checked (Node's default, 30 s, would let a slow client sit that long).
      connectionsCheckingInterval: Math.min(1_000, this.limits.headersTimeoutMs),
    };
    if (!this.tls) return createHttpServer(opts, handler);
    return createHttpsServer({ ...opts, ...this.tls.current() }, handler) as unknown as Server;
  }

  /** Before serve(): liveness answers, everything else is not available yet. */
  private readonly beforeServing = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void sendJson(res, 200, { ok: true });
    if (path === '/readyz') return void sendJson(res, 503, { ready: false });
    sendJson(res, 503, errorBody(new ImError('IM_UNAVAILABLE', 'starting; retry shortly', { retryAfterMs: 1_000 })));
  };

  /** A request Node could not parse, or a connection that timed out: answered, never thrown. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    this.metrics.httpClientErrors.inc({ reason: err.code ?? 'unknown' });
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? '408 Request Timeout'
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  }

  private buildApp(listener: Listener, server: Server, takeHandler: (h: Endpoint['handle']) => void): FastifyInstance {
    const app = Fastify({
      logger: false,
      bodyLimit: this.limits.bodyLimitBytes,
      // The node server is ours (it listens before fastify exists); fastify hands us its handler.
      serverFactory: (handler) => {
        takeHandler(handler);
        return server;
      },
      // Unparseable requests are answered by clientError() above, from the first moment.
      clientErrorHandler: () => undefined,
      routerOptions: { maxParamLength: 200 },
      frameworkErrors: (err, req, reply) => void this.sendError(reply, req, err),
    });
    // Any content type is read as JSON (within the body limit), as curl users send it; an empty
    // body is no body (a DELETE sent with a JSON content type), not a syntax error.
    const json = app.getDefaultJsonParser('error', 'error');
    const jsonOrNothing: typeof json = (req, body, done) => (body === '' ? done(null, undefined) : json(req, body, done));
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonOrNothing);
    app.addContentTypeParser('*', { parseAs: 'string' }, jsonOrNothing);
    app.setErrorHandler((err, req, reply) => this.sendError(reply, req, err));
    app.setNotFoundHandler((req, reply) =>
      this.sendError(reply, req, new ImError('IM_ROUTE_NOT_FOUND', `no endpoint ${req.method} ${pathOf(req.url)}`)),
    );
    app.addHook('onSend', async (_req, reply, payload) => {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });
    const hasOps = this.endpoints.has('ops');
    for (const r of this.routes) {
      const where = r.opts.listener ?? 'public';
      const here = where === listener || (where === 'ops' && !hasOps) || r.path === '/healthz' || r.path === '/readyz';
      if (here && !r.opts.rawBody) this.register(app, r);
    }
    const raw = this.routes.filter((r) => r.opts.rawBody && (r.opts.listener ?? 'public') === listener);
    if (raw.length > 0) {
      // Routes that read their own body: in their own context, every content type passes through unread.
      app.register(async (child) => {
        child.removeAllContentTypeParsers();
        child.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
        for (const r of raw) this.register(child, r);
      });
    }
    return app;
  }

  private register(app: FastifyInstance, r: RouteEntry): void {
    const url = r.path.endsWith('*') ? `${r.path.slice(0, -1)}*` : r.path;
    if (r.opts.cors) this.preflight(app, url);
    app.route({
      method: r.method as 'GET',
      url,
      ...(r.opts.bodyLimit !== undefined && { bodyLimit: r.opts.bodyLimit }),
      ...(r.opts.cors && { onSend: allowAnyOrigin }),
      ...(r.opts.authorize && {
        onRequest: async (req: FastifyRequest) => {
          (req as Head).imcloudAuth = await r.opts.authorize!(head(req));
        },
      }),
      handler: async (req, reply) => {
        const out = await r.handler({ ...head(req), body: req.body ?? undefined, auth: (req as Head).imcloudAuth });
        return this.sendReply(reply, out);
      },
    });
  }

  /** One OPTIONS answer per path, however many methods it has. */
  private preflight(app: FastifyInstance, url: string): void {
    if (app.hasRoute({ method: 'OPTIONS', url })) return;
    app.route({
      method: 'OPTIONS',
      url,
      handler: async (_req, reply) =>
        reply
          .code(204)
          .headers({
            'access-control-allow-origin': '*',
            'access-control-allow-methods': 'GET, POST, PUT, DELETE',
            'access-control-allow-headers': 'authorization, content-type, content-md5, range',
            'access-control-max-age': '600',
          })
          .send(),
    });
  }

  private sendReply(reply: FastifyReply, out: HttpReply): FastifyReply {
    reply.code(out.status ?? 200);
    if (out.headers) reply.headers(out.headers);
    if (out.json !== undefined) return reply.type('application/json; charset=utf-8').send(JSON.stringify(out.json));
    if (out.text !== undefined) return reply.type(out.contentType ?? 'text/plain; charset=utf-8').send(out.text);
    if (out.bytes !== undefined)
      return reply
        .type(out.contentType ?? 'application/octet-stream')
        .send(Buffer.from(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength));
    if (out.stream !== undefined) return reply.type(out.contentType ?? 'application/octet-stream').send(out.stream);
    return reply.send('');
  }

  private sendError(reply: FastifyReply, req: FastifyRequest, err: unknown): void {
    const e = httpError(err);
    if (e.code === 'IM_INTERNAL')
      this.log.error({ err: (err as Error)?.stack ?? String(err), method: req.method, path: pathOf(req.url) }, 'http handler failed');
    this.metrics.errors.inc({ code: e.code, role: this.role });
    reply.code(e.status).type('application/json; charset=utf-8');
    // A refused caller may have a body on its way that nobody will read (and Node would read to
    // its end to keep the connection): do not keep the connection.
    if (e.status === 400 || e.status === 401 || e.status === 403 || e.status === 413 || !req.raw.complete)
      reply.header('connection', 'close');
    if (e.retryAfterMs > 0) reply.header('retry-after', String(Math.ceil(e.retryAfterMs / 1000)));
    void reply.send(JSON.stringify(errorBody(e)));
  }
}

function head(req: FastifyRequest): HttpRequestHead {
  const raw = req.raw;
  const url = raw.url ?? '/';
  const q = url.indexOf('?');
  const params = (req.params ?? {}) as Record<string, string>;
  const named: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) named[k === '*' ? 'rest' : k] = v;
  return {
    method: req.method,
    path: q < 0 ? url : url.slice(0, q),
    params: named,
    query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
    headers: req.headers,
    raw,
  };
}

async function allowAnyOrigin(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  reply.header('access-control-allow-origin', '*');
  reply.header('access-control-expose-headers', 'content-range, content-length, retry-after');
  return payload;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

/** fastify's own errors (body too large, bad JSON, bad URL …) as catalog codes. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'IM_REQUEST_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'IM_BAD_REQUEST',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'IM_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'IM_ADMIN_INVALID',
  FST_ERR_CTP_INVALID_JSON_BODY: 'IM_ADMIN_INVALID',
  FST_ERR_BAD_URL: 'IM_BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'IM_BAD_REQUEST',
};

export function httpError(err: unknown): ImError {
  if (err instanceof ImError) return err;
  const f = err as Partial<FastifyError> | undefined;
  const mapped = f?.code ? FRAMEWORK_CODES[f.code] : undefined;
  if (mapped) return new ImError(mapped, mapped === 'IM_ADMIN_INVALID' ? 'the request body is not valid JSON' : f!.message, { cause: err });
  // A JSON syntax error from the body parser, or another client mistake fastify reports.
  if (f?.statusCode !== undefined && f.statusCode >= 400 && f.statusCode < 500) {
    return new ImError(
      err instanceof SyntaxError ? 'IM_ADMIN_INVALID' : 'IM_BAD_REQUEST',
      err instanceof SyntaxError ? 'the request body is not valid JSON' : f.message,
      { cause: err },
    );
  }
  return toImError(err);
}

function errorBody(e: ImError) {
  return { error: { code: e.code, message: e.message, ...(e.retryAfterMs > 0 && { retryAfterMs: e.retryAfterMs }) } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
