// The file role's HTTP API as an attacker uses it (docs/adr/0031-files.md): a client bound to
// one tenant that records every answer it got, so that the harness scans them for another
// tenant's canary like it scans messages (canary.ts); the upload steps; signing a content URL
// the way the server does (to forge one with the wrong secret); images that lie.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { isErrorCode } from '../../../protocol/errors.js';
import { canary, canaryTenantsIn, type Leak, track } from './canary.js';
import { type RawResponse, rawRequest } from './http.js';
import type { Target } from './target.js';
import type { App, World } from './world.js';

export interface FileAnswer {
  status: number;
  /** The catalog code of an error answer. */
  code?: string;
  json: any;
  headers: Headers;
  bytes: Buffer;
}

export interface CallOptions {
  /** Default: the client's own token; null: no Authorization header. */
  token?: string | null;
  /** A raw Authorization header (instead of the token). */
  authorization?: string;
  json?: unknown;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export const md5Hex = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
export const md5Base64 = (b: Uint8Array) => createHash('md5').update(b).digest('base64');

/** `size` bytes that start with a canary of `tenant` (the rest random): whoever downloads them shows where they came from. */
export function canaryFile(tenant: string, label: string, size = 4_000): Buffer {
  const head = Buffer.from(canary(tenant, label));
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]);
}

/** A file name that is a canary too (names come back in file records and file messages). */
export function canaryName(tenant: string, label: string): string {
  return `${Buffer.from(canary(tenant, label)).toString('utf8').replaceAll('/', '_')}.txt`;
}

/** The signature of a content URL, as services/file/downloads.ts computes it. */
export function signContent(secret: string, appId: string, fileId: string, variant: string, exp: number): string {
  return createHmac('sha256', secret).update(`imcloud-file\n${appId}\n${fileId}\n${variant}\n${exp}`).digest('base64url');
}

/** The answers that prove possession of `data` for a challenge. */
export function proofAnswers(challenge: { nonce: string; ranges: Array<{ offset: number; length: number }> }, data: Uint8Array): string[] {
  return challenge.ranges.map((r) =>
    createHmac('sha256', challenge.nonce)
      .update(data.subarray(r.offset, r.offset + r.length))
      .digest('hex'),
  );
}

/** The HTTP base URL of the target's (first) file process. */
export function fileUrlOf(target: Target): string {
  const url = target.fileUrls[0];
  if (!url) throw new Error(`the ${target.kind} target has no file process`);
  return url;
}

export class FileClient {
  private readonly seen: Array<{ what: string; bytes: Buffer }> = [];

  /** @param tenant the AppId whose token this client holds ('' for none): any other tenant's canary it receives is a leak. */
  constructor(
    readonly base: string,
    readonly tenant: string,
    readonly token: string | undefined,
    readonly userId = '',
  ) {
    track(this);
  }

  static async of(target: Target, world: World, app: App, userId: string): Promise<FileClient> {
    return new FileClient(fileUrlOf(target), app.appId, await world.token(app, userId), userId);
  }

  messages() {
    return [];
  }

  otherLeaks(): Leak[] {
    const out: Leak[] = [];
    for (const { what, bytes } of this.seen) {
      for (const tag of canaryTenantsIn(bytes)) {
        if (tag !== this.tenant)
          out.push({
            tenant: this.tenant,
            saw: `canary of ${tag} in the answer to ${what}`,
            conversation: '(http)',
            sender: '(file role)',
          });
      }
    }
    return out;
  }

  close(): void {}

  /** Keeps what arrived for the leak scan (raw answers made elsewhere too). */
  saw(what: string, bytes: Uint8Array | string): void {
    this.seen.push({ what: what.slice(0, 160), bytes: Buffer.from(bytes as Uint8Array) });
  }

  async call(method: string, path: string, opts: CallOptions = {}): Promise<FileAnswer> {
    const token = opts.token === undefined ? this.token : opts.token;
    const headers: Record<string, string> = {
      ...(opts.authorization !== undefined
        ? { authorization: opts.authorization }
        : token !== null && token !== undefined && { authorization: `Bearer ${token}` }),
      ...(opts.json !== undefined && { 'content-type': 'application/json' }),
      ...opts.headers,
    };
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
    const res = await fetch(this.base + path, {
      method,
      headers,
      body: body as BodyInit | undefined,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    this.saw(`${method} ${path}`, bytes);
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
    let json: any;
    if (isJson && bytes.length > 0) json = JSON.parse(bytes.toString('utf8'));
    const code = typeof json?.error?.code === 'string' ? (json.error.code as string) : undefined;
    return { status: res.status, json, headers: res.headers, bytes, ...(code !== undefined && { code }) };
  }

  /** Writes `request` as it is on a fresh socket (http.ts rawRequest); the answer is scanned too. */
  async raw(request: string | Uint8Array, opts: Parameters<typeof rawRequest>[2] = {}): Promise<RawResponse> {
    const answer = await rawRequest(this.base, request, opts);
    this.saw(typeof request === 'string' ? request.split('\r\n')[0]! : 'raw request', answer.text);
    return answer;
  }

  prepare(data: Uint8Array, name = 'f.bin', contentType = 'application/octet-stream'): Promise<FileAnswer> {
    return this.call('POST', '/v1/files/prepare', { json: { md5: md5Hex(data), size: data.length, name, contentType } });
  }

  /** A new upload of `data` (fails the attack when prepare answers anything else). */
  async begin(data: Uint8Array, name?: string, contentType?: string): Promise<{ uploadId: string; chunkBytes: number; chunks: number }> {
    const up = await this.prepare(data, name, contentType);
    expect(up.json?.kind, `prepare: ${up.status} ${up.bytes.toString().slice(0, 200)}`).toBe('upload');
    return up.json;
  }

  putChunk(uploadId: string, index: number | string, bytes: Uint8Array, md5 = md5Base64(bytes)): Promise<FileAnswer> {
    return this.call('PUT', `/v1/files/uploads/${uploadId}/chunks/${index}`, {
      body: bytes,
      headers: { 'content-md5': md5, 'content-type': 'application/octet-stream' },
    });
  }

  /** prepare, every chunk, complete: the file record. */
  async upload(data: Uint8Array, name?: string, contentType?: string) {
    const up = await this.begin(data, name, contentType);
    for (let i = 0; i < up.chunks; i++) {
      const r = await this.putChunk(up.uploadId, i, data.subarray(i * up.chunkBytes, (i + 1) * up.chunkBytes));
      expect(r.status, `chunk ${i}: ${r.bytes.toString().slice(0, 200)}`).toBe(200);
    }
    const done = await this.call('POST', `/v1/files/uploads/${up.uploadId}/complete`);
    expect(done.status, `complete: ${done.bytes.toString().slice(0, 200)}`).toBe(200);
    return done.json as {
      fileId: string;
      md5: string;
      size: number;
      name: string;
      contentType: string;
      thumbnail: boolean;
      width?: number;
      height?: number;
    };
  }

  /** A content URL for the file (fails the attack when refused). */
  async urlOf(fileId: string, query = ''): Promise<string> {
    const r = await this.call('GET', `/v1/files/${fileId}/url${query}`);
    expect(r.status, `url of ${fileId}: ${r.bytes.toString().slice(0, 200)}`).toBe(200);
    return r.json.url as string;
  }
}

/** An answer refused with this status and catalog code. */
export function expectFileError(answer: { status: number; code?: string }, status: number, code: string, what: string): void {
  expect(`${answer.status} ${answer.code}`, what).toBe(`${status} ${code}`);
  expect(isErrorCode(code), `${code} is in the catalog`).toBe(true);
}

/** An answer refused with a 4xx and a catalog code (which one is left to the server). */
export function expectClientError(answer: { status?: number; body?: string; code?: string }, what: string): string {
  expect(answer.status, what).toBeGreaterThanOrEqual(400);
  expect(answer.status, what).toBeLessThan(500);
  const code = answer.code ?? parseCode(answer.body ?? '');
  expect(isErrorCode(code ?? ''), `${what}: error code ${code} is in the catalog`).toBe(true);
  return code!;
}

/** `<status> <catalog code>` of a raw answer (its first response), or what happened instead. */
export function rawStatusCode(answer: { status?: number; text: string; body: string; error?: string; closed: boolean }): string {
  if (answer.status === undefined)
    return answer.closed ? `no answer, connection closed${answer.error ? ` (${answer.error})` : ''}` : 'no answer';
  // Only the first response's body (a keep-alive connection may carry a 408 after it).
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(answer.text.slice(0, answer.text.indexOf('\r\n\r\n') + 2))?.[1];
  const body = length === undefined ? answer.body : answer.body.slice(0, Number(length));
  return `${answer.status} ${parseCode(body) ?? body.slice(0, 60)}`.trim();
}

function parseCode(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

export { claimingSize } from '../../support/png-claiming-size.js';
