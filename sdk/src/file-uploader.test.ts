// upload() against a fake file service (an in-memory model of docs/adr/0031-files.md's HTTP API,
// with Node's crypto checking what the SDK computed): full uploads, proofs, resumes, drops, order
// refusals and aborts.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ImClientError } from './client-error.js';
import { FileHttp } from './file-http.js';
import { FileUploader } from './file-uploader.js';

interface Upload {
  uploadId: string;
  md5: string;
  size: number;
  chunks: Uint8Array[];
}

class FakeFileService {
  readonly chunkBytes = 1024;
  readonly uploads = new Map<string, Upload>();
  readonly stored = new Map<string, Uint8Array>();
  readonly challenges = new Map<string, { nonce: string; ranges: Array<{ offset: number; length: number }>; key: string }>();
  readonly log: string[] = [];
  /** Fault injection, by request: 'request' (lost before the server saw it) or 'answer' (lost after). */
  faults: Array<{ match: RegExp; lose: 'request' | 'answer' }> = [];
  /** Called before each request is handled (an abort, say). */
  onRequest?: (method: string, path: string) => void;
  private ids = 0;

  fetch = async (url: URL, init: RequestInit): Promise<Response> => {
    const method = init.method ?? 'GET';
    const path = url.pathname;
    this.onRequest?.(method, path);
    if (init.signal?.aborted) throw init.signal.reason;
    const fault = this.faults.findIndex((f) => f.match.test(`${method} ${path}`));
    const lose = fault >= 0 ? this.faults.splice(fault, 1)[0]!.lose : undefined;
    if (lose === 'request') throw new TypeError('fetch failed: socket hang up');
    this.log.push(`${method} ${path}`);
    const res = this.handle(method, path, init);
    if (lose === 'answer') throw new TypeError('fetch failed: other side closed');
    return res;
  };

  private handle(method: string, path: string, init: RequestInit): Response {
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    let m: RegExpMatchArray | null;
    if (method === 'POST' && path === '/v1/files/prepare') {
      const key = `${body.md5}/${body.size}`;
      const have = this.stored.get(key);
      if (have) {
        const challengeId = `c${++this.ids}`;
        const ranges = [0, 1, 2, 3].map(() => {
          const offset = Math.floor(Math.random() * have.byteLength);
          return { offset, length: Math.min(100, have.byteLength - offset) };
        });
        const nonce = randomBytes(8).toString('hex');
        this.challenges.set(challengeId, { nonce, ranges, key });
        return json(200, { kind: 'challenge', challengeId, nonce, ranges, expiresAt: Date.now() + 60_000 });
      }
      let up = [...this.uploads.values()].find((u) => u.md5 === body.md5 && u.size === body.size);
      if (!up) {
        up = { uploadId: `u${++this.ids}`, md5: body.md5, size: body.size, chunks: [] };
        this.uploads.set(up.uploadId, up);
      }
      return json(200, { kind: 'upload', ...this.status(up) });
    }
    if (method === 'POST' && path === '/v1/files/proofs') {
      const c = this.challenges.get(body.challengeId);
      this.challenges.delete(body.challengeId);
      if (!c) return error(409, 'IM_FILE_CHALLENGE_INVALID');
      const bytes = this.stored.get(c.key)!;
      const right = c.ranges.map((r) =>
        createHmac('sha256', Buffer.from(c.nonce))
          .update(bytes.subarray(r.offset, r.offset + r.length))
          .digest('hex'),
      );
      if (JSON.stringify(right) !== JSON.stringify(body.answers)) return error(403, 'IM_FILE_PROOF_FAILED');
      return json(200, this.file(c.key, true));
    }
    if ((m = path.match(/^\/v1\/files\/uploads\/([^/]+)$/)) && method === 'GET') {
      const up = this.uploads.get(m[1]!);
      return up ? json(200, { ...this.status(up), size: up.size, md5: up.md5 }) : error(404, 'IM_UPLOAD_NOT_FOUND');
    }
    if ((m = path.match(/^\/v1\/files\/uploads\/([^/]+)\/chunks\/(\d+)$/)) && method === 'PUT') {
      const up = this.uploads.get(m[1]!);
      if (!up) return error(404, 'IM_UPLOAD_NOT_FOUND');
      const index = Number(m[2]);
      const bytes = new Uint8Array(init.body as Uint8Array);
      const md5 = createHash('md5').update(bytes).digest('base64');
      if (new Headers(init.headers).get('content-md5') !== md5) return error(400, 'IM_FILE_CHUNK_MD5');
      if (index < up.chunks.length) {
        if (createHash('md5').update(up.chunks[index]!).digest('base64') !== md5) return error(409, 'IM_FILE_CHUNK_CONFLICT');
        return json(200, { chunksHeld: up.chunks.length });
      }
      if (index > up.chunks.length) return error(409, 'IM_FILE_CHUNK_ORDER');
      up.chunks.push(bytes);
      return json(200, { chunksHeld: up.chunks.length });
    }
    if ((m = path.match(/^\/v1\/files\/uploads\/([^/]+)\/complete$/)) && method === 'POST') {
      const up = this.uploads.get(m[1]!);
      if (!up) return error(404, 'IM_UPLOAD_NOT_FOUND');
      const all = Buffer.concat(up.chunks);
      if (all.byteLength !== up.size || createHash('md5').update(all).digest('hex') !== up.md5) return error(400, 'IM_FILE_MD5_MISMATCH');
      this.uploads.delete(up.uploadId);
      const key = `${up.md5}/${up.size}`;
      this.stored.set(key, new Uint8Array(all));
      return json(200, this.file(key, false));
    }
    return error(404, 'IM_ROUTE_NOT_FOUND');
  }

  private status(up: Upload) {
    return {
      uploadId: up.uploadId,
      chunkBytes: this.chunkBytes,
      chunks: Math.ceil(up.size / this.chunkBytes),
      chunksHeld: up.chunks.length,
    };
  }

  private file(key: string, deduplicated: boolean) {
    const [md5, size] = key.split('/');
    return {
      fileId: `f${++this.ids}`,
      md5,
      size: Number(size),
      name: 'x.bin',
      contentType: 'application/octet-stream',
      thumbnail: false,
      uploader: 'a',
      createdAt: 1,
      deduplicated,
    };
  }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const error = (status: number, code: string) => json(status, { error: { code, message: code } });

function setup(opts: { maxAttempts?: number } = {}) {
  const server = new FakeFileService();
  const http = new FileHttp({ baseUrl: 'http://files.test/', token: () => 'tok', timeoutMs: 1000, fetch: server.fetch });
  const uploader = new FileUploader(http, { chunkTimeoutMs: 1000, backoff: { baseMs: 1, maxMs: 2 }, maxAttempts: opts.maxAttempts });
  return { server, uploader };
}

const file = (n: number) => new Uint8Array(randomBytes(n));
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const puts = (log: string[]) => log.filter((l) => l.startsWith('PUT')).map((l) => Number(l.split('/').pop()));

describe('FileUploader', () => {
  it('sends a Blob in order with Content-MD5, then completes; progress counts the bytes held', async () => {
    const { server, uploader } = setup();
    const bytes = file(3500);
    const progress: Array<[number, number]> = [];
    const f = await uploader.upload(new Blob([bytes]), {
      name: 'x.bin',
      contentType: 'application/octet-stream',
      onProgress: (s, t) => progress.push([s, t]),
    });
    expect(f).toMatchObject({ md5: md5(bytes), size: 3500, deduplicated: false });
    expect(puts(server.log)).toEqual([0, 1, 2, 3]);
    expect(progress.map(([s]) => s)).toEqual([0, 1024, 2048, 3072, 3500]);
    expect(progress.every(([, t]) => t === 3500)).toBe(true);
  });

  it('the same bytes again are a flash upload: proof answers, no chunk sent', async () => {
    const { server, uploader } = setup();
    const bytes = file(5000);
    await uploader.upload(bytes, { name: 'a', contentType: 'text/plain' });
    server.log.length = 0;
    const progress: number[] = [];
    const again = await uploader.upload(new Blob([bytes]), { name: 'b', contentType: 'text/plain', onProgress: (s) => progress.push(s) });
    expect(again).toMatchObject({ deduplicated: true, md5: md5(bytes), size: 5000 });
    expect(server.log).toEqual(['POST /v1/files/prepare', 'POST /v1/files/proofs']);
    expect(progress).toEqual([5000]);
  });

  it('a used-up challenge (its answer was lost) starts over with a new one', async () => {
    const { server, uploader } = setup();
    const bytes = file(2000);
    await uploader.upload(bytes, { name: 'a', contentType: 'x/y' });
    server.faults.push({ match: /proofs/, lose: 'answer' });
    await expect(uploader.upload(bytes, { name: 'a', contentType: 'x/y' })).resolves.toMatchObject({ deduplicated: true });
    expect(server.log.filter((l) => l.includes('prepare'))).toHaveLength(3);
  });

  it('retries a chunk after a dropped connection, whether the request or the answer was lost', async () => {
    const { server, uploader } = setup();
    const bytes = file(5 * 1024);
    server.faults.push(
      { match: /chunks\/1$/, lose: 'request' },
      { match: /chunks\/3$/, lose: 'answer' },
      { match: /complete/, lose: 'request' },
    );
    const f = await uploader.upload(bytes, { name: 'a', contentType: 'x/y' });
    expect(f.md5).toBe(md5(bytes));
    // Chunk 3 reached the server; the status read after the lost answer skips resending it.
    expect(puts(server.log)).toEqual([0, 1, 2, 3, 4]);
    expect(server.log).toContain('GET /v1/files/uploads/u1');
  });

  it('gives up with the last error after too many failures in a row', async () => {
    const { server, uploader } = setup({ maxAttempts: 3 });
    server.faults = Array.from({ length: 10 }, () => ({ match: /chunks/, lose: 'request' as const }));
    const err = await uploader.upload(file(2000), { name: 'a', contentType: 'x/y' }).catch((e) => e);
    expect(err).toBeInstanceOf(ImClientError);
    expect(err.code).toBe('SDK_NETWORK');
  });

  it('on IM_FILE_CHUNK_ORDER re-reads the upload and goes on from its chunksHeld', async () => {
    const { server, uploader } = setup();
    const bytes = file(4096);
    // The server lost chunk 1 after acknowledging it (say, a write that did not stick): chunk 2 is out of order.
    server.onRequest = (method, path) => {
      if (method === 'PUT' && path.endsWith('/chunks/2')) {
        server.onRequest = undefined;
        server.uploads.get('u1')!.chunks.length = 1;
      }
    };
    const f = await uploader.upload(bytes, { name: 'a', contentType: 'x/y' });
    expect(f.md5).toBe(md5(bytes));
    expect(puts(server.log)).toEqual([0, 1, 2, 1, 2, 3]);
    expect(server.log).toContain('GET /v1/files/uploads/u1');
  });

  it('a chunk the server already holds (another tab sent it) is answered with how far it is', async () => {
    const { server, uploader } = setup();
    const bytes = file(4096);
    server.onRequest = (method, path) => {
      if (method === 'PUT' && path.endsWith('/chunks/0')) {
        server.onRequest = undefined;
        server.uploads.get('u1')!.chunks.push(bytes.slice(0, 1024), bytes.slice(1024, 2048));
      }
    };
    await uploader.upload(bytes, { name: 'a', contentType: 'x/y' });
    expect(puts(server.log)).toEqual([0, 2, 3]);
  });

  it('an abort rejects with an AbortError and keeps the upload; the next upload() resumes from the chunks held', async () => {
    const { server, uploader } = setup();
    const bytes = file(10 * 1024);
    const controller = new AbortController();
    server.onRequest = (method, path) => {
      if (method === 'PUT' && path.endsWith('/chunks/2')) controller.abort();
    };
    const err = await uploader
      .upload(new Blob([bytes]), { name: 'a', contentType: 'x/y', signal: controller.signal })
      .catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(server.uploads.get('u1')!.chunks).toHaveLength(2);
    expect(server.log.some((l) => l.startsWith('DELETE'))).toBe(false);

    server.onRequest = undefined;
    server.log.length = 0;
    const progress: number[] = [];
    const f = await uploader.upload(new Blob([bytes]), { name: 'a', contentType: 'x/y', onProgress: (s) => progress.push(s) });
    expect(f).toMatchObject({ md5: md5(bytes), deduplicated: false });
    expect(puts(server.log)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(progress[0]).toBe(2048);
  });

  it("rejects with the server's code", async () => {
    const { server, uploader } = setup();
    server.fetch = async () => error(413, 'IM_FILE_TOO_LARGE');
    (uploader as unknown as { http: FileHttp }).http = new FileHttp({
      baseUrl: 'http://files.test/',
      token: () => 't',
      timeoutMs: 1000,
      fetch: server.fetch,
    });
    await expect(uploader.upload(file(10), { name: 'a', contentType: 'x/y' })).rejects.toMatchObject({ code: 'IM_FILE_TOO_LARGE' });
  });
});
