// HTTP to the file service (docs/adr/0031-files.md): JSON requests with the user's token as
// Bearer, answers and `{error: {code, message, retryAfterMs}}` refusals turned into the SDK's
// ImClientError, network failures into SDK_NETWORK and timeouts into SDK_TIMEOUT (both worth
// retrying), an abort into the signal's reason.
import { abortReason } from './abort.js';
import { ImClientError, RETRYABLE_CODES } from './client-error.js';

export type FileFetch = (url: URL, init: RequestInit & { signal: AbortSignal }) => Promise<Response>;

export interface FileHttpOptions {
  /** Absolute, ending in "/": paths such as "v1/files/prepare" are resolved against it. */
  baseUrl: string;
  /** The user's token; called again (fresh: true) after IM_TOKEN_EXPIRED. */
  token: (fresh: boolean) => string | Promise<string>;
  /** Per request unless the request says otherwise. */
  timeoutMs: number;
  fetch?: FileFetch;
}

export interface FileRequest {
  /** JSON body. */
  json?: unknown;
  /** Raw bytes (a chunk). */
  bytes?: Uint8Array;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * The file service's base URL: `filesUrl` when given; else the part of dispatchUrl before
 * "v1/dispatch" (relative URLs against the page); else the gate's host over http(s).
 */
export function filesBaseUrl(opts: { filesUrl?: string; dispatchUrl?: string; gateUrl?: string }): string {
  const page = typeof location !== 'undefined' ? location.href : undefined;
  let base: URL;
  if (opts.filesUrl) base = new URL(opts.filesUrl, page);
  else if (opts.dispatchUrl) {
    base = new URL(opts.dispatchUrl, page);
    base.pathname = base.pathname.replace(/v1\/dispatch\/?$/, '');
  } else {
    base = new URL('/', opts.gateUrl!);
    base.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  }
  base.search = '';
  base.hash = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return base.href;
}

/** Worth sending again: no answer (network, timeout) or a server code that says so. */
export function retryable(err: unknown): boolean {
  return err instanceof ImClientError && (err.code === 'SDK_NETWORK' || err.code === 'SDK_TIMEOUT' || RETRYABLE_CODES.has(err.code));
}

export class FileHttp {
  constructor(private readonly opts: FileHttpOptions) {}

  /** `path` ("v1/files/…" or "/v1/files/…") as an absolute URL under the base. */
  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.opts.baseUrl);
  }

  /** Sends the request; resolves with the JSON answer, rejects with an ImClientError (or the abort reason). */
  async request<T>(method: string, path: string, req: FileRequest = {}): Promise<T> {
    try {
      return await this.once<T>(method, path, req, false);
    } catch (err) {
      if (!(err instanceof ImClientError) || err.code !== 'IM_TOKEN_EXPIRED') throw err;
      return await this.once<T>(method, path, req, true);
    }
  }

  private async once<T>(method: string, path: string, req: FileRequest, freshToken: boolean): Promise<T> {
    const url = this.url(path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const token = await this.opts.token(freshToken);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...req.headers };
    let body: BodyInit | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.bytes) {
      headers['content-type'] = 'application/octet-stream';
      body = req.bytes as Uint8Array<ArrayBuffer>;
    }
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const doFetch: FileFetch = this.opts.fetch ?? ((u, init) => fetch(u, init));
    let res: Response;
    let text: string;
    try {
      res = await doFetch(url, { method, headers, body, signal });
      text = await res.text();
    } catch (err) {
      if (req.signal?.aborted) throw abortReason(req.signal);
      if (timeout.aborted) throw new ImClientError('SDK_TIMEOUT', `${method} ${url.pathname}: no answer within ${timeoutMs} ms`);
      throw new ImClientError('SDK_NETWORK', `${method} ${url.pathname} failed: ${(err as Error)?.message ?? String(err)}`, 0, false, {
        cause: err,
      });
    }
    let answer: unknown;
    try {
      answer = text ? JSON.parse(text) : {};
    } catch {
      answer = undefined;
    }
    if (!res.ok) {
      const e = (answer as { error?: { code?: string; message?: string; retryAfterMs?: number } } | undefined)?.error;
      const retryAfter = e?.retryAfterMs ?? Number(res.headers.get('retry-after') ?? 0) * 1000;
      throw new ImClientError(
        e?.code ?? (res.status >= 500 ? 'IM_UNAVAILABLE' : 'SDK_PROTOCOL'),
        e?.message ?? `${method} ${url.pathname} answered ${res.status}`,
        Number.isFinite(retryAfter) ? retryAfter : 0,
      );
    }
    if (answer === undefined || answer === null || typeof answer !== 'object')
      throw new ImClientError('SDK_PROTOCOL', `${method} ${url.pathname} answered ${res.status} with no JSON object`);
    return answer as T;
  }
}
