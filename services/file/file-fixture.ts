// A file role on memory adapters behind a real HTTP listener, for the unit tests next to it:
// apps, tokens, a clock the test moves, and the client's steps (prepare, chunks, complete, proof).
import { createHash, createHmac } from 'node:crypto';
import { MemoryAppRegistry } from '../adapters/memory/memory-app-registry.js';
import { MemoryBlobStore } from '../adapters/memory/memory-blob-store.js';
import { MemoryBus } from '../adapters/memory/memory-bus.js';
import { MemoryFileCatalog } from '../adapters/memory/memory-file-catalog.js';
import { MemoryGroupDirectory } from '../adapters/memory/memory-group-directory.js';
import type { AppLimits } from '../ports/app-registry.js';
import { type ConfigInput, compileConfig } from '../shared/config.js';
import { HttpServer } from '../shared/http-server.js';
import { createLogger } from '../shared/logger.js';
import { createMetrics } from '../shared/metrics.js';
import { roleConfig } from '../shared/role-config.js';
import { mintToken } from '../shared/tokens.js';
import { FileService } from './file-service.js';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field
  json: any;
}

export const md5Hex = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

export async function fileFixture(file: ConfigInput['file'] = {}) {
  const clock = { now: Date.now() };
  const ports = {
    files: new MemoryFileCatalog(),
    blobs: new MemoryBlobStore(),
    apps: new MemoryAppRegistry(),
    groups: new MemoryGroupDirectory(),
    bus: new MemoryBus(),
  };
  const metrics = createMetrics();
  const log = createLogger('file', 'test', 'silent');
  const config = compileConfig({ file: { chunkBytes: 64 * 1024, ...file } });
  const service = new FileService(roleConfig(config, 'file'), ports, metrics, log, () => clock.now);
  const http = new HttpServer(log, metrics, 'file');
  service.register(http);
  const port = await http.listen(0, '127.0.0.1');
  await http.serve();
  await ports.blobs.ensureBucket();
  const base = `http://127.0.0.1:${port}`;

  const secrets = new Map<string, string>();
  const addApp = async (appId: string, limits?: AppLimits) => {
    const secret = `${appId}-secret-${'x'.repeat(24)}`;
    secrets.set(appId, secret);
    await ports.apps.create({ appId, name: appId, secret, multiLogin: 'all', createdAt: Date.now(), ...(limits && { limits }) });
  };
  const tokenOf = async (appId: string, userId: string) => (await mintToken(appId, secrets.get(appId)!, userId, 3600)).token;

  const call = async (
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const raw = body instanceof Uint8Array;
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && !raw && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: raw ? (body as unknown as BodyInit) : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : text };
  };
  const prepare = (token: string, data: Uint8Array, name = 'f.bin', contentType = 'application/octet-stream') =>
    call('POST', '/v1/files/prepare', token, { md5: md5Hex(data), size: data.length, name, contentType });
  const putChunk = (
    token: string,
    uploadId: string,
    index: number,
    bytes: Uint8Array,
    md5 = createHash('md5').update(bytes).digest('base64'),
  ) =>
    call('PUT', `/v1/files/uploads/${uploadId}/chunks/${index}`, token, bytes, {
      'content-md5': md5,
      'content-type': 'application/octet-stream',
    });
  /** Sends the chunks of `data` from `from` on (or up to `until`). */
  const sendChunks = async (
    token: string,
    up: { uploadId: string; chunkBytes: number; chunks: number },
    data: Uint8Array,
    from = 0,
    until = up.chunks,
  ) => {
    for (let i = from; i < until; i++) {
      const r = await putChunk(token, up.uploadId, i, data.subarray(i * up.chunkBytes, (i + 1) * up.chunkBytes));
      if (r.status !== 200) throw new Error(`chunk ${i}: ${r.status} ${JSON.stringify(r.json)}`);
    }
  };
  /** A whole upload of new bytes: prepare, every chunk, complete. */
  const upload = async (token: string, data: Uint8Array, name?: string, contentType?: string): Promise<Answer> => {
    const up = await prepare(token, data, name, contentType);
    if (up.json.kind !== 'upload') throw new Error(`expected an upload, got ${JSON.stringify(up.json)}`);
    await sendChunks(token, up.json, data);
    return call('POST', `/v1/files/uploads/${up.json.uploadId}/complete`, token);
  };
  const answersFor = (challenge: { nonce: string; ranges: Array<{ offset: number; length: number }> }, data: Uint8Array) =>
    challenge.ranges.map((r) =>
      createHmac('sha256', challenge.nonce)
        .update(data.subarray(r.offset, r.offset + r.length))
        .digest('hex'),
    );
  const prove = (token: string, challengeId: string, answers: string[]) =>
    call('POST', '/v1/files/proofs', token, { challengeId, answers });

  return {
    ports,
    metrics,
    service,
    clock,
    base,
    addApp,
    tokenOf,
    call,
    prepare,
    putChunk,
    sendChunks,
    upload,
    answersFor,
    prove,
    async close() {
      await service.stop();
      await http.close();
    },
  };
}

export type FileFixture = Awaited<ReturnType<typeof fileFixture>>;
