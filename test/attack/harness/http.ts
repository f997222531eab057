// HTTP as an attacker writes it: raw bytes on a socket (request lines fetch would refuse to
// send), partial requests, and a look at the metrics a process exports.
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  /** The status code of the first response, if one arrived. */
  status?: number;
  /** Everything received after any interim (1xx) answer, as text (latin1). */
  text: string;
  /** The response body (after the first blank line). */
  body: string;
  /** Whether the server closed the connection before the timeout. */
  closed: boolean;
  /** ms from the write to the first byte of the answer. */
  firstByteMs?: number;
  error?: string;
}

export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export function openSocket(url: string): Promise<Socket> {
  const { host, port } = hostPort(url);
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Writes `request` as it is and collects the answer until the server closes the connection,
 * or `timeoutMs` passes (then the socket is destroyed). With `stopAtResponse`, stops as soon as
 * a whole status line and headers arrived (for requests whose body is never finished).
 */
export async function rawRequest(
  url: string,
  request: string | Uint8Array,
  opts: { timeoutMs?: number; stopAtResponse?: boolean } = {},
): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  let socket: Socket;
  try {
    socket = await openSocket(url);
  } catch (err) {
    return { text: '', body: '', closed: true, error: (err as Error).message };
  }
  const chunks: Buffer[] = [];
  const started = performance.now();
  let firstByteMs: number | undefined;
  return new Promise<RawResponse>((resolve) => {
    let done = false;
    const finish = (closed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      let text = Buffer.concat(chunks).toString('latin1');
      // Interim answers (100 Continue) come before the response itself.
      while (/^HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      const head = split >= 0 ? text.slice(0, split) : text;
      let body = split >= 0 ? text.slice(split + 4) : '';
      if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body);
      resolve({
        status: m ? Number(m[1]) : undefined,
        text,
        body: Buffer.from(body, 'latin1').toString('utf8'),
        closed,
        firstByteMs,
        ...(error && { error }),
      });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      firstByteMs ??= performance.now() - started;
      chunks.push(chunk);
      if (opts.stopAtResponse && Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err) => finish(true, err.message));
    socket.write(request);
  });
}

/** The payload of a chunked body (as far as it arrived). */
function dechunk(raw: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) return out;
    const size = parseInt(raw.slice(at, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += raw.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** A plain request line with Host and Connection: close. */
export function requestText(method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body || method === 'POST' || method === 'PUT' || method === 'PATCH') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Parses `{"error":{"code":…}}`, or undefined. */
export function errorCode(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The sum of a metric's samples whose labels include every `labels` pair. */
export async function metricSum(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
