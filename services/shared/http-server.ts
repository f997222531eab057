// A small HTTP server on node:http for every role: /healthz, /readyz, /metrics, plus the role's
// own routes. JSON in and out; errors are catalog codes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ImError, toImError } from './errors.js';
import type { Metrics } from './metrics.js';

export interface HttpRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body (undefined when empty). */
  body: unknown;
  raw: IncomingMessage;
}

export interface HttpReply {
  status?: number;
  json?: unknown;
  text?: string;
  bytes?: Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpReply> | HttpReply;

interface RouteEntry {
  method: string;
  pattern: RegExp;
  names: string[];
  label: string;
  handler: HttpHandler;
}

const MAX_BODY_BYTES = 1024 * 1024;

export class HttpServer {
  readonly server: Server;
  private readonly routes: RouteEntry[] = [];
  private readonly readiness: Array<() => boolean> = [];

  constructor(
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly role: string,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.route('GET', '/healthz', () => ({ json: { ok: true } }));
    this.route('GET', '/readyz', () => {
      const ready = this.readiness.every((check) => check());
      return { status: ready ? 200 : 503, json: { ready } };
    });
    this.route('GET', '/metrics', async () => ({
      text: await this.metrics.registry.metrics(),
      contentType: this.metrics.registry.contentType,
    }));
  }

  /** Adds a readiness condition; /readyz is 200 only when all hold. */
  readyWhen(check: () => boolean): void {
    this.readiness.push(check);
  }

  /** `path` may contain :params, e.g. /admin/apps/:appId. A trailing * matches any rest. */
  route(method: string, path: string, handler: HttpHandler): void {
    const names: string[] = [];
    const source = path
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/:([A-Za-z]+)/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      })
      .replace(/\*$/, '(.*)');
    if (path.endsWith('*')) names.push('rest');
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, label: path, handler });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    let reply: HttpReply;
    try {
      const match = this.match(method, url.pathname);
      if (!match) throw new ImError('IM_ROUTE_NOT_FOUND', `no endpoint ${method} ${url.pathname}`);
      const body = await readJson(req);
      reply = await match.entry.handler({ method, path: url.pathname, params: match.params, query: url.searchParams, headers: req.headers, body, raw: req });
    } catch (err) {
      const e = toImError(err);
      if (e.code === 'IM_INTERNAL') this.log.error({ err: (err as Error)?.stack ?? String(err) }, 'http handler failed');
      this.metrics.errors.inc({ code: e.code, role: this.role });
      reply = {
        status: e.status,
        json: { error: { code: e.code, message: e.message, ...(e.retryAfterMs > 0 && { retryAfterMs: e.retryAfterMs }) } },
        ...(e.retryAfterMs > 0 && { headers: { 'retry-after': String(Math.ceil(e.retryAfterMs / 1000)) } }),
      };
    }
    const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
    let payload: string | Uint8Array = '';
    if (reply.json !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      payload = JSON.stringify(reply.json);
    } else if (reply.text !== undefined) {
      headers['content-type'] = reply.contentType ?? 'text/plain; charset=utf-8';
      payload = reply.text;
    } else if (reply.bytes !== undefined) {
      headers['content-type'] = reply.contentType ?? 'application/octet-stream';
      payload = reply.bytes;
    }
    res.writeHead(reply.status ?? 200, headers);
    res.end(payload);
  }

  private match(method: string, path: string): { entry: RouteEntry; params: Record<string, string> } | null {
    let pathMatched = false;
    for (const entry of this.routes) {
      const m = entry.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (entry.method !== method && !(method === 'HEAD' && entry.method === 'GET')) continue;
      const params: Record<string, string> = {};
      entry.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { entry, params };
    }
    if (pathMatched) throw new ImError('IM_ROUTE_NOT_FOUND', `${method} is not allowed on ${path}`);
    return null;
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ImError('IM_ADMIN_INVALID', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ImError('IM_ADMIN_INVALID', 'the request body is not valid JSON');
  }
}
