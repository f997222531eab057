// The file role as two OS processes on real MinIO and FerretDB, beside a gate, logic, consumer,
// dispatch and admin: an upload resumed through the other replica after kill -9, concurrent
// identical uploads, proofs against ranged reads of MinIO, who may download, a 500 MB upload and
// download with the role's memory measured, and the cleanup of abandoned uploads.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import { type ChatMessage, ImClient, type ImClientOptions } from '../../sdk/src/index.js';
import { MinioBlobStore } from '../../services/adapters/minio/minio-blob-store.js';
import { envName } from '../../services/shared/config.js';
import { type BackendEnv, type Cluster, type RoleProcess, startCluster } from '../support/cluster.js';
import { RawClient } from '../support/raw-client.js';
import { testLogDir } from '../support/test-log-dir.js';
import { requireEnv } from './real-clients.js';

const MiB = 1024 * 1024;
const logDir = testLogDir('file-role');
let cluster: Cluster;
let files: RoleProcess[];
let minio: MinioBlobStore;
const bucket = `files-${Date.now()}`;

beforeAll(async () => {
  const backend: BackendEnv = {
    IMCLOUD_REDIS_URL: requireEnv('IMCLOUD_REDIS_URL'),
    IMCLOUD_RABBITMQ_URL: requireEnv('IMCLOUD_RABBITMQ_URL'),
    IMCLOUD_MONGODB_URL: requireEnv('IMCLOUD_MONGODB_URL'),
    IMCLOUD_MONGODB_DATABASE: `files_${Date.now()}`,
  };
  const minioEnv = Object.fromEntries(
    ['END_POINT', 'PORT', 'ACCESS_KEY', 'SECRET_KEY', 'USE_SSL'].map((k) => [`IMCLOUD_MINIO_${k}`, requireEnv(`IMCLOUD_MINIO_${k}`)]),
  );
  cluster = await startCluster(
    backend,
    logDir,
    { gate: 1, logic: 1, consumer: 1, dispatch: 1, admin: 1, file: 2 },
    {
      ...minioEnv,
      [envName('minio', 'bucket')]: bucket,
      // Abandoned after 20 s of silence (the tests' own uploads never pause that long), checked every second.
      [envName('file', 'uploadTtlMs')]: '20000',
      [envName('file', 'cleanupIntervalMs')]: '1000',
      [envName('file', 'maxFileBytes')]: String(600 * MiB),
    },
  );
  files = cluster.byRole('file');
  minio = new MinioBlobStore({
    endPoint: minioEnv.IMCLOUD_MINIO_END_POINT!,
    port: Number(minioEnv.IMCLOUD_MINIO_PORT),
    accessKey: minioEnv.IMCLOUD_MINIO_ACCESS_KEY!,
    secretKey: minioEnv.IMCLOUD_MINIO_SECRET_KEY!,
    bucket,
  });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

interface Answer {
  status: number;
  json: any;
}

async function admin(path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${cluster.adminUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const newApp = async () => (await admin('/v1/apps', {})).json.appId as string;
const tokenOf = async (appId: string, userId: string) => (await admin(`/v1/apps/${appId}/tokens`, { userId })).json.token as string;

async function call(
  at: RoleProcess,
  method: string,
  path: string,
  token: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const raw = body instanceof Uint8Array;
  const res = await fetch(at.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && !raw && { 'content-type': 'application/json' }), ...headers },
    body: raw ? (body as unknown as BodyInit) : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text.startsWith('{') ? JSON.parse(text) : text };
}

/** A file of `chunks` × 5 MiB made of one random block, each chunk stamped with its index. */
function bigFile(chunks: number): { chunk(i: number): Buffer; md5: string; size: number } {
  const block = randomBytes(5 * MiB);
  const chunk = (i: number) => {
    const c = Buffer.from(block);
    c.writeUInt32BE(i, 0);
    return c;
  };
  const h = createHash('md5');
  for (let i = 0; i < chunks; i++) h.update(chunk(i));
  return { chunk, md5: h.digest('hex'), size: chunks * 5 * MiB };
}

const putChunk = (at: RoleProcess, token: string, uploadId: string, i: number, bytes: Buffer) =>
  call(at, 'PUT', `/v1/files/uploads/${uploadId}/chunks/${i}`, token, bytes, {
    'content-md5': createHash('md5').update(bytes).digest('base64'),
  });

async function uploadBytes(
  at: RoleProcess,
  token: string,
  data: Buffer,
  name = 'f.bin',
  contentType = 'application/octet-stream',
): Promise<Answer> {
  const md5 = createHash('md5').update(data).digest('hex');
  const up = await call(at, 'POST', '/v1/files/prepare', token, { md5, size: data.length, name, contentType });
  expect(up.json.kind, JSON.stringify(up.json)).toBe('upload');
  for (let i = up.json.chunksHeld; i < up.json.chunks; i++) {
    const r = await putChunk(at, token, up.json.uploadId, i, data.subarray(i * up.json.chunkBytes, (i + 1) * up.json.chunkBytes));
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }
  return call(at, 'POST', `/v1/files/uploads/${up.json.uploadId}/complete`, token);
}

async function download(at: RoleProcess, token: string, fileId: string): Promise<{ status: number; md5: string; bytes: number }> {
  const url = await call(at, 'GET', `/v1/files/${fileId}/url`, token);
  if (url.status !== 200) return { status: url.status, md5: '', bytes: 0 };
  const res = await fetch(at.url + url.json.url);
  const h = createHash('md5');
  let bytes = 0;
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    h.update(piece);
    bytes += piece.length;
  }
  return { status: res.status, md5: h.digest('hex'), bytes };
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

describe('file role on MinIO and FerretDB, two replicas', () => {
  it('an upload interrupted by kill -9 of its file process resumes through the other replica from the chunks held', async () => {
    const appId = await newApp();
    const alice = await tokenOf(appId, 'alice');
    const file = bigFile(3);
    const [first, second] = files as [RoleProcess, RoleProcess];
    const up = (
      await call(first, 'POST', '/v1/files/prepare', alice, { md5: file.md5, size: file.size, name: 'v.mp4', contentType: 'video/mp4' })
    ).json;
    expect(up).toMatchObject({ kind: 'upload', chunks: 3, chunksHeld: 0, chunkBytes: 5 * MiB });
    expect((await putChunk(first, alice, up.uploadId, 0, file.chunk(0))).json).toEqual({ chunksHeld: 1 });
    await first.kill9();

    const resumed = (
      await call(second, 'POST', '/v1/files/prepare', alice, { md5: file.md5, size: file.size, name: 'v.mp4', contentType: 'video/mp4' })
    ).json;
    expect(resumed).toMatchObject({ uploadId: up.uploadId, chunksHeld: 1 });
    for (const i of [1, 2]) expect((await putChunk(second, alice, up.uploadId, i, file.chunk(i))).status).toBe(200);
    const done = await call(second, 'POST', `/v1/files/uploads/${up.uploadId}/complete`, alice);
    expect(done.json).toMatchObject({ md5: file.md5, size: file.size, deduplicated: false });
    expect(await download(second, alice, done.json.fileId)).toEqual({ status: 200, md5: file.md5, bytes: file.size });
    expect((await minio.stat(appId, file.md5))?.size).toBe(file.size);

    await first.start();
    expect(await download(first, alice, done.json.fileId)).toEqual({ status: 200, md5: file.md5, bytes: file.size });
  }, 120_000);

  it('concurrent identical uploads through both replicas end as one object; a flash upload proves against MinIO', async () => {
    const appId = await newApp();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => tokenOf(appId, u)));
    const data = randomBytes(6 * MiB);
    const md5 = createHash('md5').update(data).digest('hex');
    const [a, b] = await Promise.all([uploadBytes(files[0]!, alice!, data), uploadBytes(files[1]!, bob!, data)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await minio.list(appId, '')).map((e) => e.key)).toEqual([md5]);

    const challenge = (
      await call(files[1]!, 'POST', '/v1/files/prepare', carol!, { md5, size: data.length, name: 'c', contentType: 'text/plain' })
    ).json;
    expect(challenge.kind).toBe('challenge');
    const answers = challenge.ranges.map((r: { offset: number; length: number }) =>
      createHmac('sha256', challenge.nonce)
        .update(data.subarray(r.offset, r.offset + r.length))
        .digest('hex'),
    );
    const wrong = [...answers];
    wrong[0] = createHmac('sha256', challenge.nonce).update(randomBytes(challenge.ranges[0].length)).digest('hex');
    expect(
      (await call(files[0]!, 'POST', '/v1/files/proofs', carol!, { challengeId: challenge.challengeId, answers: wrong })).json.error.code,
    ).toBe('IM_FILE_PROOF_FAILED');
    const again = (
      await call(files[0]!, 'POST', '/v1/files/prepare', carol!, { md5, size: data.length, name: 'c', contentType: 'text/plain' })
    ).json;
    const right = again.ranges.map((r: { offset: number; length: number }) =>
      createHmac('sha256', again.nonce)
        .update(data.subarray(r.offset, r.offset + r.length))
        .digest('hex'),
    );
    const proved = await call(files[1]!, 'POST', '/v1/files/proofs', carol!, { challengeId: again.challengeId, answers: right });
    expect(proved.json).toMatchObject({ md5, deduplicated: true, uploader: 'carol' });
  }, 120_000);

  it('a file sent in a chat is readable by its receiver; a non-member and another app are refused', async () => {
    const appId = await newApp();
    const otherApp = await newApp();
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => tokenOf(appId, u)));
    const done = (await uploadBytes(files[0]!, alice!, randomBytes(1000), 'notes.txt', 'text/plain')).json;
    const gate = cluster.byRole('gate')[0]!;
    const client = await RawClient.ws(`ws://127.0.0.1:${gate.httpPort}/ws`);
    expect((await client.auth(alice!, 'alice-web')).body).toBe('authOk');
    const body = imcloud.v1.FileRef.encode({ fileId: done.fileId }).finish();
    const ack = await client.request({ send: { clientMsgId: 'file-1', to: 'bob', contentType: 'file', body } }, 10_000);
    expect(ack.sendAck?.conversation, JSON.stringify(ack.error)).toBe(singleConversation('alice', 'bob'));
    client.close();

    expect((await download(files[1]!, bob!, done.fileId)).status).toBe(200);
    expect((await call(files[1]!, 'GET', `/v1/files/${done.fileId}/url`, carol!)).json.error.code).toBe('IM_FORBIDDEN');
    expect((await call(files[1]!, 'GET', `/v1/files/${done.fileId}/url`, await tokenOf(otherApp, 'alice'))).json.error.code).toBe(
      'IM_FILE_NOT_FOUND',
    );
  }, 60_000);

  it('a 500 MB upload and download keep the file process within 64 MB of its resident memory', async () => {
    const appId = await newApp();
    const alice = await tokenOf(appId, 'alice');
    const at = files[1]!;
    const pid = at.pid!;
    // Warm: every module and buffer pool the path uses is loaded before the baseline.
    await download(at, alice, (await uploadBytes(at, alice, randomBytes(6 * MiB))).json.fileId);
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
    const file = bigFile(100);
    try {
      const up = (
        await call(at, 'POST', '/v1/files/prepare', alice, {
          md5: file.md5,
          size: file.size,
          name: 'big.bin',
          contentType: 'application/octet-stream',
        })
      ).json;
      for (let i = 0; i < up.chunks; i++) expect((await putChunk(at, alice, up.uploadId, i, file.chunk(i))).status).toBe(200);
      const done = await call(at, 'POST', `/v1/files/uploads/${up.uploadId}/complete`, alice);
      expect(done.json).toMatchObject({ size: 500 * MiB, md5: file.md5 });
      expect(await download(at, alice, done.json.fileId)).toEqual({ status: 200, md5: file.md5, bytes: 500 * MiB });
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - baseline;
    console.log(
      `file-role: 500 MB up and down, RSS baseline ${(baseline / MiB).toFixed(0)} MB, peak ${(peak / MiB).toFixed(0)} MB, growth ${(growth / MiB).toFixed(1)} MB`,
    );
    expect(growth).toBeLessThan(64 * MiB);
  }, 300_000);

  it('the SDK: an upload whose file process is killed resumes through the other; the receiver downloads it; the same bytes again are instant', async () => {
    const appId = await newApp();
    const [first, second] = files as [RoleProcess, RoleProcess];
    const puts: string[] = [];
    // Alice's client talks to file-1 until, before her third chunk, it is killed: that chunk
    // finds no server, and what the SDK sends after its retry goes to file-2.
    let via = first;
    const fetchVia: NonNullable<ImClientOptions['fetch']> = async (url, init) => {
      if (!url.pathname.startsWith('/v1/files/')) return fetch(url, init);
      const at = via;
      if (init.method === 'PUT') {
        puts.push(`${at.name} ${url.pathname.split('/').pop()}`);
        if (puts.length === 3) {
          await first.kill9();
          via = second;
        }
      }
      return fetch(new URL(url.pathname + url.search, at.url), init);
    };
    const sdkUser = async (userId: string, filesUrl: string, fetchWith?: ImClientOptions['fetch']) => {
      const token = await tokenOf(appId, userId);
      const c = new ImClient({
        appId,
        dispatchUrl: cluster.dispatchUrl,
        filesUrl,
        getToken: () => token,
        deviceId: `${userId}-sdk`,
        ...(fetchWith && { fetch: fetchWith }),
      });
      const got: ChatMessage[] = [];
      c.on('message', (m) => got.push(m));
      const synced = c.once('synced');
      await c.connect();
      await synced;
      return { c, got };
    };
    const bobPuts: string[] = [];
    const alice = await sdkUser('alice', first.url, fetchVia);
    const bob = await sdkUser('bob', second.url, (url, init) => {
      if (init.method === 'PUT') bobPuts.push(url.pathname);
      return fetch(url, init);
    });
    try {
      const file = bigFile(4);
      const bytes = new Uint8Array(Buffer.concat([0, 1, 2, 3].map((i) => file.chunk(i))));
      const sent = await alice.c.upload(bytes, { name: 'clip.mp4', contentType: 'video/mp4' });
      expect(sent).toMatchObject({ md5: file.md5, size: file.size, deduplicated: false });
      expect(puts).toEqual(['file-1 0', 'file-1 1', 'file-1 2', 'file-2 2', 'file-2 3']);

      await alice.c.sendFile('bob', sent);
      const deadline = Date.now() + 15_000;
      while (!bob.got.some((m) => m.file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const received = bob.got.find((m) => m.file);
      expect(received?.file).toMatchObject({ fileId: sent.fileId, md5: file.md5, size: file.size });
      const res = await fetch(await bob.c.fileUrl(sent.fileId));
      expect(
        createHash('md5')
          .update(Buffer.from(await res.arrayBuffer()))
          .digest('hex'),
      ).toBe(file.md5);

      const again = await bob.c.upload(bytes, { name: 'copy.mp4', contentType: 'video/mp4' });
      expect(again).toMatchObject({ md5: file.md5, deduplicated: true });
      expect(again.fileId).not.toBe(sent.fileId);
      expect(bobPuts).toEqual([]);
    } finally {
      await alice.c.close();
      await bob.c.close();
      if (!first.pid) await first.start();
    }
  }, 180_000);

  it('an upload abandoned for the TTL is removed and its MinIO multipart upload aborted', async () => {
    const appId = await newApp();
    const alice = await tokenOf(appId, 'alice');
    const file = bigFile(2);
    const up = (
      await call(files[0]!, 'POST', '/v1/files/prepare', alice, { md5: file.md5, size: file.size, name: 'x', contentType: 'text/plain' })
    ).json;
    await putChunk(files[0]!, alice, up.uploadId, 0, file.chunk(0));
    const open = async () => (await minio.staleMultiparts(new Date(Date.now() + 60_000))).filter((m) => m.appId === appId);
    expect(await open()).toHaveLength(1);
    const deadline = Date.now() + 90_000;
    let state: Answer;
    do {
      await new Promise((r) => setTimeout(r, 1_000));
      state = await call(files[0]!, 'GET', `/v1/files/uploads/${up.uploadId}`, alice);
    } while (state.status === 200 && Date.now() < deadline);
    expect(state.json.error?.code).toBe('IM_UPLOAD_NOT_FOUND');
    expect(await open()).toEqual([]);
  }, 120_000);
});
