// Files through the SDK against the embedded platform (docs/adr/0031-files.md): upload, send
// and receive a file message, download the same bytes; a second upload of the same bytes is a
// flash upload (proof of possession, no chunk sent); an aborted upload resumes from the chunks
// the server holds; who is not in the conversation cannot get a URL.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ImClient, ImClientError, ImClientOptions } from '../../sdk/src/index.js';
import { client, newApp, type Platform, type Probe, startPlatform, until } from './sdk-fixture.js';

let platform: Platform;
const clients: ImClient[] = [];

beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.runtime.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Every HTTP request the SDK makes, as "METHOD /path". */
function recordingFetch(log: string[]): NonNullable<ImClientOptions['fetch']> {
  return (url, init) => {
    log.push(`${init.method ?? 'GET'} ${url.pathname}`);
    return fetch(url, init);
  };
}

function user(app: string, userId: string, opts: Partial<ImClientOptions> = {}): Promise<Probe> {
  return client(platform, app, userId, opts, true, (c) => clients.push(c));
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const chunkPuts = (log: string[]) => log.filter((l) => l.startsWith('PUT ')).map((l) => Number(l.split('/').pop()));

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as ImClientError,
  );
  return err?.code ?? 'resolved';
}

describe('files through the SDK', () => {
  it('upload → sendFile → the receiver gets ChatMessage.file and downloads the same bytes through fileUrl', async () => {
    const app = await newApp(platform, 'files');
    const [alice, bob] = [await user(app, 'alice'), await user(app, 'bob')];
    const bytes = new Uint8Array(randomBytes(300_000));
    const progress: Array<[number, number]> = [];
    const file = await alice.client.upload(new Blob([bytes]), {
      name: 'notes.bin',
      contentType: 'application/octet-stream',
      onProgress: (sent, total) => progress.push([sent, total]),
    });
    expect(file).toMatchObject({ md5: md5(bytes), size: bytes.byteLength, name: 'notes.bin', thumbnail: false, deduplicated: false });
    expect(file.fileId).toMatch(/^f/);
    expect(progress.at(-1)).toEqual([bytes.byteLength, bytes.byteLength]);

    const ack = await alice.client.sendFile('bob', file);
    expect(ack.conversation).toBe('s:alice:bob');
    await until('bob gets the file message', () => bob.messages.some((m) => m.file));
    const got = bob.messages.find((m) => m.file)!;
    expect(got).toMatchObject({ conversation: 's:alice:bob', contentType: 'file', sender: 'alice', seq: ack.seq });
    expect(got.file).toEqual({
      fileId: file.fileId,
      name: 'notes.bin',
      size: bytes.byteLength,
      md5: md5(bytes),
      contentType: 'application/octet-stream',
      thumbnail: false,
    });
    // Alice's own message shows the file too.
    expect(alice.messages.find((m) => m.seq === ack.seq)?.file?.fileId).toBe(file.fileId);

    const url = await bob.client.fileUrl(got.file!.fileId);
    expect(url.startsWith(`${platform.base}/v1/files/content/`)).toBe(true);
    const res = await fetch(url); // no token: the URL is signed
    expect(res.status).toBe(200);
    expect(md5(new Uint8Array(await res.arrayBuffer()))).toBe(md5(bytes));
    const part = await fetch(url, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.subarray(10, 20));
  });

  it('the same bytes again are deduplicated: a proof of possession, no chunk sent, at once', async () => {
    const app = await newApp(platform, 'files');
    const log: string[] = [];
    const alice = await user(app, 'alice', { fetch: recordingFetch(log) });
    const bob = await user(app, 'bob', { fetch: recordingFetch(log) });
    const bytes = new Uint8Array(randomBytes(6 * 1024 * 1024 + 123));
    const first = await alice.client.upload(bytes, { name: 'a.bin', contentType: 'application/octet-stream' });
    expect(first.deduplicated).toBe(false);
    expect(chunkPuts(log)).toEqual([0, 1]);

    log.length = 0;
    const started = Date.now();
    // Another user of the app, another name: still the same bytes.
    const second = await bob.client.upload(new Blob([bytes]), { name: 'b.bin', contentType: 'application/octet-stream' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(second).toMatchObject({ deduplicated: true, md5: first.md5, size: first.size, name: 'b.bin' });
    expect(second.fileId).not.toBe(first.fileId); // a record of its own
    expect(log.filter((l) => l.includes('/v1/files/'))).toEqual(['POST /v1/files/prepare', 'POST /v1/files/proofs']);

    // Bob's flash-uploaded file is his like any other: he sends it, Alice downloads the bytes.
    await bob.client.sendFile('alice', second);
    await until('alice gets it', () => alice.messages.some((m) => m.file?.fileId === second.fileId));
    const res = await fetch(await alice.client.fileUrl(second.fileId));
    expect(md5(new Uint8Array(await res.arrayBuffer()))).toBe(first.md5);
  });

  it('an upload aborted after 2 chunks rejects with an AbortError and the next upload() resumes from the chunks held', async () => {
    const app = await newApp(platform, 'files');
    const log: string[] = [];
    const alice = await user(app, 'alice', { fetch: recordingFetch(log) });
    const bytes = new Uint8Array(randomBytes(12 * 1024 * 1024));
    const controller = new AbortController();
    let chunkBytes = 0;
    const aborted = await alice.client
      .upload(new Blob([bytes]), {
        name: 'big.bin',
        contentType: 'application/octet-stream',
        signal: controller.signal,
        onProgress: (sent) => {
          // The first chunk tells the chunk size (5 MiB by default); abort once two are held.
          if (sent > 0 && chunkBytes === 0) chunkBytes = sent;
          if (chunkBytes > 0 && sent >= 2 * chunkBytes) controller.abort();
        },
      })
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(aborted?.name).toBe('AbortError');
    expect(chunkPuts(log)).toEqual([0, 1]);
    expect(log.some((l) => l.startsWith('DELETE'))).toBe(false);

    log.length = 0;
    const progress: number[] = [];
    const file = await alice.client.upload(new Blob([bytes]), {
      name: 'big.bin',
      contentType: 'application/octet-stream',
      onProgress: (sent) => progress.push(sent),
    });
    expect(progress[0]).toBe(2 * chunkBytes); // where it stopped
    expect(chunkPuts(log)).toEqual([2]);
    expect(file).toMatchObject({ deduplicated: false, md5: md5(bytes), size: bytes.byteLength });
  });

  it('a user outside the conversation cannot get a URL of its file (IM_FORBIDDEN); the members can', async () => {
    const app = await newApp(platform, 'files');
    const [alice, bob, carol] = [await user(app, 'alice'), await user(app, 'bob'), await user(app, 'carol')];
    const file = await alice.client.upload(new Uint8Array(randomBytes(1000)), { name: 'secret.txt', contentType: 'text/plain' });
    const group = await alice.client.createGroup({ name: 'Team', members: ['bob'] });
    await alice.client.sendFile({ group: group.groupId }, file);
    await until('bob gets it', () => bob.messages.some((m) => m.file?.fileId === file.fileId));
    expect(await bob.client.fileUrl(file.fileId)).toContain('/v1/files/content/');
    expect(await alice.client.fileUrl(file.fileId)).toContain('/v1/files/content/');

    expect(await codeOf(carol.client.fileUrl(file.fileId))).toBe('IM_FORBIDDEN');
    expect(await codeOf(carol.client.fileUrl(file.fileId, { conversation: group.conversation }))).toBe('IM_FORBIDDEN');
    expect(await codeOf(carol.client.fileUrl(file.fileId, { conversation: 's:alice:carol' }))).toBe('IM_FORBIDDEN');
    // Nor can she send it on: logic refuses a file the sender may not read.
    expect(await codeOf(carol.client.sendFile('bob', file))).toBe('IM_FORBIDDEN');
    // Another app's client does not even see it.
    const other = await newApp(platform, 'files');
    const stranger = await user(other, 'alice');
    expect(await codeOf(stranger.client.fileUrl(file.fileId))).toBe('IM_FILE_NOT_FOUND');
  });
});
