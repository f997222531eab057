// What the file role takes in (docs/adr/0031-files.md), bounded: chunk bodies that lie about
// their length or hash, chunk indexes out of range, prepare bodies too big or with odd names and
// types, proofs of possession guessed, replayed or expired, images that lie about their size or
// are no images, and more chunk bodies at once than a process reads. Every refusal has its
// catalog code, nothing is stored from it, and the file process stays up.
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { expect } from 'vitest';
import { mb, processesOf, sampleRss, sleep } from '../harness/checks.js';
import {
  canaryFile,
  claimingSize,
  expectClientError,
  expectFileError,
  FileClient,
  md5Base64,
  md5Hex,
  proofAnswers,
  rawStatusCode,
} from '../harness/files.js';
import { metricSum, openSocket, rawRequest } from '../harness/http.js';
import type { Group } from '../harness/suite.js';
import type { Target } from '../harness/target.js';
import { INTENDED } from '../intended.js';

/** A metric summed over every file process of the target. */
async function fileMetric(target: Target, name: string, labels: Record<string, string>): Promise<number> {
  let sum = 0;
  for (const url of target.fileUrls) sum += await metricSum(url, name, labels);
  return sum;
}

/** Every file process answers /healthz with 200 on a fresh connection. */
async function fileProcessesAnswer(target: Target, what: string): Promise<void> {
  for (const url of target.fileUrls) {
    const res = await rawRequest(url, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', { timeoutMs: 5_000 });
    expect(res.status, `${url}/healthz after ${what}`).toBe(200);
  }
}

/** A raw chunk PUT: headers as given, then `body` as it is. */
function chunkRequest(path: string, token: string, headers: Record<string, string>, body: Buffer | string = ''): Buffer {
  const head = [`PUT ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Authorization: Bearer ${token}`]
    .concat(Object.entries(headers).map(([k, v]) => `${k}: ${v}`))
    .join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
}

function chunked(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
}

export const fileInput: Group = {
  name: 'files: input',
  attacks: [
    {
      name: 'chunk bodies that lie: longer or shorter than expected (Content-Length and chunked), a Content-Length lie, a wrong, missing or malformed Content-MD5 → refused, the upload still expects chunk 0',
      timeoutMs: 90_000,
      async run({ world, target }) {
        const alice = await FileClient.of(target, world, world.attacker, 'alice');
        // Small enough that the server takes every byte sent off the socket before it answers (a
        // body left unread when it closes the connection turns the close into a reset, which
        // may lose the answer on the way).
        const data = canaryFile(world.attacker.appId, 'lying chunks', 10_000);
        const up = await alice.begin(data);
        const path = `/v1/files/uploads/${up.uploadId}/chunks/0`;
        const longer = Buffer.concat([data, randomBytes(1_000)]);
        const shorter = data.subarray(0, 9_000);
        const md5 = md5Base64(data);
        const cases: Array<[string, Buffer, string]> = [
          [
            'Content-Length 1,000 over the chunk',
            chunkRequest(path, alice.token!, { 'Content-MD5': md5Base64(longer), 'Content-Length': String(longer.length) }, longer),
            '400 IM_FILE_CHUNK_CORRUPT',
          ],
          [
            'Content-Length 1,000 under the chunk',
            chunkRequest(path, alice.token!, { 'Content-MD5': md5Base64(shorter), 'Content-Length': String(shorter.length) }, shorter),
            '400 IM_FILE_CHUNK_CORRUPT',
          ],
          // Chunked with bytes over: the open attack below.
          [
            'chunked, 1,000 bytes under',
            chunkRequest(path, alice.token!, { 'Content-MD5': md5Base64(shorter), 'Transfer-Encoding': 'chunked' }, chunked(shorter)),
            '400 IM_FILE_CHUNK_CORRUPT',
          ],
          [
            'the right length, the MD5 of other bytes',
            chunkRequest(path, alice.token!, { 'Content-MD5': md5Base64(longer), 'Content-Length': String(data.length) }, data),
            '400 IM_FILE_CHUNK_CORRUPT',
          ],
          ['no Content-MD5', chunkRequest(path, alice.token!, { 'Content-Length': String(data.length) }, data), '400 IM_BAD_REQUEST'],
          [
            'Content-MD5 in hex',
            chunkRequest(path, alice.token!, { 'Content-MD5': md5Hex(data), 'Content-Length': String(data.length) }, data),
            '400 IM_BAD_REQUEST',
          ],
          [
            'Content-MD5 empty',
            chunkRequest(path, alice.token!, { 'Content-MD5': '', 'Content-Length': String(data.length) }, data),
            '400 IM_BAD_REQUEST',
          ],
          [
            'Content-MD5 of 4 KB',
            chunkRequest(path, alice.token!, { 'Content-MD5': 'A'.repeat(4096), 'Content-Length': String(data.length) }, data),
            '400 IM_BAD_REQUEST',
          ],
          [
            'two Content-MD5 headers',
            chunkRequest(
              path,
              alice.token!,
              { 'Content-MD5': md5, 'content-md5': md5Base64(longer), 'Content-Length': String(data.length) },
              data,
            ),
            '400 IM_BAD_REQUEST',
          ],
        ];
        for (const [what, request, expected] of cases) {
          const answer = await alice.raw(request, { timeoutMs: 10_000 });
          expect(rawStatusCode(answer), what).toBe(expected);
          expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json, `after ${what}`).toMatchObject({ chunksHeld: 0 });
        }
        // A Content-Length lie: 10,000 announced, half sent, then the client stops writing (half-close).
        {
          const socket = await openSocket(alice.base);
          let text = '';
          socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
          const closed = new Promise<void>((r) => socket.once('close', () => r()));
          socket.write(
            chunkRequest(path, alice.token!, { 'Content-MD5': md5, 'Content-Length': String(data.length) }, data.subarray(0, 5_000)),
          );
          await sleep(300);
          socket.end();
          await Promise.race([closed, sleep(INTENDED.slowRequestCutOffWithinMs)]);
          socket.destroy();
          alice.saw('Content-Length lie, half-closed', text);
          const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
          // The request cannot be parsed to its end: 400 (http-server.ts clientError), never the chunk.
          expect(status, `half-closed lie answered ${text.slice(0, 300)}`).toBe('400');
          expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json, 'after the half-closed lie').toMatchObject({
            chunksHeld: 0,
          });
        }
        // A Content-Length lie that stalls: cut off by http.requestTimeoutMs.
        {
          const started = performance.now();
          const answer = await alice.raw(
            chunkRequest(path, alice.token!, { 'Content-MD5': md5, 'Content-Length': String(data.length) }, data.subarray(0, 5_000)),
            { timeoutMs: INTENDED.slowRequestCutOffWithinMs },
          );
          expect(
            answer.closed,
            `a stalled body is cut off within ${INTENDED.slowRequestCutOffWithinMs} ms (${Math.round(performance.now() - started)} ms)`,
          ).toBe(true);
          if (answer.status !== undefined) expect(answer.status, `stalled lie: ${rawStatusCode(answer)}`).toBeLessThan(500);
        }
        await fileProcessesAnswer(target, 'lying chunks');
        // The upload still takes its real chunk and completes.
        expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json).toMatchObject({ chunksHeld: 0 });
        expect((await alice.putChunk(up.uploadId, 0, data)).json).toEqual({ chunksHeld: 1 });
        const done = await alice.call('POST', `/v1/files/uploads/${up.uploadId}/complete`);
        expect(done.json).toMatchObject({ md5: md5Hex(data), size: data.length });
      },
    },
    {
      name: 'a chunk sent chunked (no Content-Length) with 1,000 bytes more than expected → 400 IM_FILE_CHUNK_CORRUPT',
      // Found by this suite: services/file/chunk-body.ts readChunk calls req.destroy() before it
      // throws IM_FILE_CHUNK_CORRUPT, which destroys the socket, so the client gets no answer at
      // all (the connection just closes), where every other bad chunk gets its code.
      async run({ world, target }) {
        const alice = await FileClient.of(target, world, world.attacker, 'alice');
        const data = canaryFile(world.attacker.appId, 'chunked over', 10_000);
        const up = await alice.begin(data);
        const longer = Buffer.concat([data, randomBytes(1_000)]);
        const answer = await alice.raw(
          chunkRequest(
            `/v1/files/uploads/${up.uploadId}/chunks/0`,
            alice.token!,
            { 'Content-MD5': md5Base64(longer), 'Transfer-Encoding': 'chunked' },
            chunked(longer),
          ),
          { timeoutMs: 10_000 },
        );
        expect(rawStatusCode(answer), 'chunked, 1,000 bytes over').toBe('400 IM_FILE_CHUNK_CORRUPT');
        expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json).toMatchObject({ chunksHeld: 0 });
        expect((await alice.putChunk(up.uploadId, 0, data)).json).toEqual({ chunksHeld: 1 });
      },
    },
    {
      name: 'chunk indexes far past the end, negative, fractional, not a number, 2^53, 1e400, and ahead of the next → IM_BAD_REQUEST / IM_FILE_CHUNK_ORDER',
      async run({ world, target }) {
        const alice = await FileClient.of(target, world, world.attacker, 'alice');
        // Two chunks (the second of 10 bytes); none held yet.
        const prep = await alice.call('POST', '/v1/files/prepare', {
          json: {
            md5: md5Hex(randomBytes(8)),
            size: INTENDED.fileChunkBytes + 10,
            name: 'two.bin',
            contentType: 'application/octet-stream',
          },
        });
        expect(prep.json).toMatchObject({ kind: 'upload', chunks: 2, chunksHeld: 0 });
        const body = Buffer.from('0123456789');
        for (const index of [
          '2',
          '3',
          '1000000000',
          '9007199254740993',
          '1e400',
          'Infinity',
          '-1',
          '-9999999999',
          '0.5',
          'NaN',
          'x',
          '%00',
        ]) {
          expectFileError(await alice.putChunk(prep.json.uploadId, index, body), 400, 'IM_BAD_REQUEST', `chunk index ${index}`);
        }
        expectFileError(await alice.putChunk(prep.json.uploadId, 1, body), 409, 'IM_FILE_CHUNK_ORDER', 'chunk 1 before chunk 0');
        expect((await alice.call('GET', `/v1/files/uploads/${prep.json.uploadId}`)).json).toMatchObject({ chunksHeld: 0 });
      },
    },
    {
      name: 'prepare bodies: 1 MB of JSON, size 2^60 / 1e400 / negative / fractional, names with control characters or slashes, content types with spaces → refused, no upload started',
      async run({ world, target }) {
        const app = world.attacker;
        const alice = await FileClient.of(target, world, app, 'alice');
        const started = () => fileMetric(target, 'imcloud_file_uploads_total', { app_id: app.appId, stage: 'started' });
        const before = await started();
        const md5 = md5Hex(randomBytes(16));
        const valid = { md5, size: 1_000, name: 'ok.bin', contentType: 'application/octet-stream' };
        const big = (n: number) => JSON.stringify({ ...valid, name: 'x'.repeat(n) });
        const raw: Array<[string, string, string]> = [
          ['1 MB of JSON', big(1024 * 1024), '413 IM_REQUEST_TOO_LARGE'],
          ['1 MB of nested arrays', `${'['.repeat(512 * 1024)}${']'.repeat(512 * 1024)}`, '413 IM_REQUEST_TOO_LARGE'],
          ['size 1e400', JSON.stringify(valid).replace('"size":1000', '"size":1e400'), '400 IM_BAD_REQUEST'],
        ];
        for (const [what, body, expected] of raw) {
          const res = await alice.call('POST', '/v1/files/prepare', { body, headers: { 'content-type': 'application/json' } });
          expect(`${res.status} ${res.code}`, what).toBe(expected);
        }
        const notJson = await alice.call('POST', '/v1/files/prepare', { body: '{"md5":', headers: { 'content-type': 'application/json' } });
        expect(notJson.status, 'a body that is not JSON').toBe(400);
        expectClientError(notJson, 'a body that is not JSON');
        const bad: Array<[string, Record<string, unknown>, string]> = [
          // Past 2^53 a size is no safe integer: refused as malformed; below it, as too large.
          ['size 2^60', { size: 2 ** 60 }, '400 IM_BAD_REQUEST'],
          ['size 2^53 + 2', { size: 2 ** 53 + 2 }, '400 IM_BAD_REQUEST'],
          ['size 2^53 - 1', { size: 2 ** 53 - 1 }, '413 IM_FILE_TOO_LARGE'],
          ['size 1 TB', { size: 2 ** 40 }, '413 IM_FILE_TOO_LARGE'],
          ['size -1', { size: -1 }, '400 IM_BAD_REQUEST'],
          ['size 0', { size: 0 }, '400 IM_BAD_REQUEST'],
          ['size 1.5', { size: 1.5 }, '400 IM_BAD_REQUEST'],
          ['size as a string', { size: '1000' }, '400 IM_BAD_REQUEST'],
          ['md5 of 31 digits', { md5: md5.slice(1) }, '400 IM_BAD_REQUEST'],
          ['md5 not hex', { md5: 'z'.repeat(32) }, '400 IM_BAD_REQUEST'],
          ['name with NUL', { name: 'a\u0000b' }, '400 IM_BAD_REQUEST'],
          ['name with a newline', { name: 'a\nContent-Type: text/html' }, '400 IM_BAD_REQUEST'],
          ['name with CR LF', { name: 'a\r\nb' }, '400 IM_BAD_REQUEST'],
          ['name with ESC', { name: '\u001b[31mred' }, '400 IM_BAD_REQUEST'],
          ['name with DEL', { name: 'a\u007f' }, '400 IM_BAD_REQUEST'],
          ['name ../../etc/passwd', { name: '../../etc/passwd' }, '400 IM_BAD_REQUEST'],
          ['name with a backslash', { name: '..\\..\\boot.ini' }, '400 IM_BAD_REQUEST'],
          ['name empty', { name: '' }, '400 IM_BAD_REQUEST'],
          ['name of 256 characters', { name: 'n'.repeat(256) }, '400 IM_BAD_REQUEST'],
          ['content type with a parameter', { contentType: 'image/png; charset=utf-8' }, '400 IM_BAD_REQUEST'],
          ['content type with a leading space', { contentType: ' image/png' }, '400 IM_BAD_REQUEST'],
          ['content type with a trailing space', { contentType: 'image/png ' }, '400 IM_BAD_REQUEST'],
          ['content type with an inner space', { contentType: 'image/ png' }, '400 IM_BAD_REQUEST'],
          ['content type with CR LF', { contentType: 'text/plain\r\nX-Injected: 1' }, '400 IM_BAD_REQUEST'],
          ['content type without a subtype', { contentType: 'image' }, '400 IM_BAD_REQUEST'],
          ['content type */*', { contentType: '*/*' }, '400 IM_BAD_REQUEST'],
          ['content type of 200 characters', { contentType: `application/${'x'.repeat(190)}` }, '400 IM_BAD_REQUEST'],
          ['an extra field', { uploader: 'bob' }, '400 IM_BAD_REQUEST'],
        ];
        for (const [what, change, expected] of bad) {
          const res = await alice.call('POST', '/v1/files/prepare', { json: { ...valid, ...change } });
          expect(`${res.status} ${res.code}`, what).toBe(expected);
        }
        for (const body of [[], 'x', 42, null])
          expectFileError(
            await alice.call('POST', '/v1/files/prepare', { json: body }),
            400,
            'IM_BAD_REQUEST',
            `body ${JSON.stringify(body)}`,
          );
        expect(await started(), 'uploads started by refused prepares').toBe(before);
        // The valid body does start one: the count above is not blind.
        expect((await alice.call('POST', '/v1/files/prepare', { json: valid })).json?.kind).toBe('upload');
        expect(await started()).toBe(before + 1);
      },
    },
    {
      name: 'active content (HTML, SVG) downloads as a sandboxed attachment with nosniff, never inline',
      async run({ world, target }) {
        const alice = await FileClient.of(target, world, world.attacker, 'alice');
        for (const [name, contentType] of [
          ['x.html', 'text/html'],
          ['x.svg', 'image/svg+xml'],
          ['x.xhtml', 'application/xhtml+xml'],
        ] as const) {
          const data = Buffer.concat([Buffer.from('<script>alert(1)</script>'), canaryFile(world.attacker.appId, name, 200)]);
          const file = await alice.upload(data, name, contentType);
          const res = await alice.call('GET', await alice.urlOf(file.fileId), { token: null });
          expect(res.status).toBe(200);
          expect(res.headers.get('content-disposition'), name).toMatch(/^attachment;/);
          expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
          expect(res.headers.get('content-security-policy'), name).toContain('sandbox');
        }
      },
    },
    {
      name: 'proofs of possession: 20 wrong answers (each range in turn) refused alike and counted; replayed, expired, foreign and malformed challenges; answers of the wrong length',
      timeoutMs: 90_000,
      async run({ world, target }) {
        const app = world.attacker;
        const alice = await FileClient.of(target, world, app, 'alice');
        const mallory = await FileClient.of(target, world, app, 'mallory');
        const bob = await FileClient.of(target, world, app, 'bob');
        const data = canaryFile(app.appId, 'proof', 100_000);
        await alice.upload(data, 'held.bin');
        const failures = () => fileMetric(target, 'imcloud_file_proof_failures_total', { app_id: app.appId });
        const before = await failures();
        const challenge = async (who: FileClient) => {
          const c = await who.prepare(data, 'copy.bin');
          expect(c.json?.kind, `prepare of held bytes: ${c.bytes.toString().slice(0, 200)}`).toBe('challenge');
          expect(c.json.ranges.length).toBe(4);
          return c.json as { challengeId: string; nonce: string; ranges: Array<{ offset: number; length: number }> };
        };
        const prove = (who: FileClient, challengeId: unknown, answers: unknown) =>
          who.call('POST', '/v1/files/proofs', { json: { challengeId, answers } });
        let refused = 0;
        const bodies = new Set<string>();
        for (let i = 0; i < 20; i++) {
          const c = await challenge(mallory);
          const answers = proofAnswers(c, data);
          const wrong = i % 5;
          if (wrong < 4) answers[wrong] = randomBytes(32).toString('hex');
          else answers.fill('0'.repeat(64));
          const res = await prove(mallory, c.challengeId, answers);
          expectFileError(res, 403, 'IM_FILE_PROOF_FAILED', `wrong proof ${i} (range ${wrong})`);
          bodies.add(JSON.stringify(res.json));
          refused += 1;
          // Taken by the wrong answer: the right ones cannot follow.
          expectFileError(
            await prove(mallory, c.challengeId, proofAnswers(c, data)),
            410,
            'IM_FILE_CHALLENGE_INVALID',
            `right answers after wrong proof ${i}`,
          );
        }
        expect([...bodies], 'every wrong proof gets the same answer, whichever range was wrong').toHaveLength(1);
        expect([...bodies][0]).not.toMatch(/range|offset|\b[0-3]\b/i);
        // Answers of the wrong length, or not hex: wrong proofs too.
        for (const [what, make] of [
          ['no answers', () => []],
          ['3 answers', (a: string[]) => a.slice(0, 3)],
          ['5 answers', (a: string[]) => [...a, a[0]!]],
          ['16 answers', (a: string[]) => [...a, ...a, ...a, ...a]],
          ['answers not hex', (a: string[]) => a.map(() => 'zz'.repeat(32))],
          ['answers in upper case hex of other bytes', (a: string[]) => a.map((x) => x.split('').reverse().join('').toUpperCase())],
        ] as Array<[string, (a: string[]) => string[]]>) {
          const c = await challenge(mallory);
          expectFileError(await prove(mallory, c.challengeId, make(proofAnswers(c, data))), 403, 'IM_FILE_PROOF_FAILED', what);
          refused += 1;
        }
        // Malformed requests: refused before any challenge is looked up (not counted as proofs).
        const c0 = await challenge(mallory);
        for (const [what, challengeId, answers] of [
          ['17 answers', c0.challengeId, Array.from({ length: 17 }, () => 'a'.repeat(64))],
          ['an answer of 200 characters', c0.challengeId, ['a'.repeat(200)]],
          ['answers not an array', c0.challengeId, 'a'.repeat(64)],
          ['challengeId of 65 characters', `c${'A'.repeat(64)}`, []],
          ['challengeId a number', 7, []],
        ] as Array<[string, unknown, unknown]>) {
          expectFileError(await prove(mallory, challengeId, answers), 400, 'IM_BAD_REQUEST', what);
        }
        for (const [what, challengeId] of [
          ['an unknown challengeId', 'cAAAAAAAAAAAAAAAAAAAAAA'],
          ['an upload id', 'uAAAAAAAAAAAAAAAAAAAAAA'],
          ['a challengeId with a slash', `c${'A'.repeat(20)}/x`],
          ['a challengeId of ../', '../../../../etc/passwd'],
        ]) {
          expectFileError(await prove(mallory, challengeId, proofAnswers(c0, data)), 410, 'IM_FILE_CHALLENGE_INVALID', what);
        }
        // The untouched challenge still takes its right answers; then it is spent.
        expect((await prove(mallory, c0.challengeId, proofAnswers(c0, data))).json).toMatchObject({
          deduplicated: true,
          uploader: 'mallory',
        });
        expectFileError(
          await prove(mallory, c0.challengeId, proofAnswers(c0, data)),
          410,
          'IM_FILE_CHALLENGE_INVALID',
          'a replayed right proof',
        );
        // Another user of the app answers mallory's challenge with the right answers.
        const c1 = await challenge(mallory);
        expectFileError(
          await prove(bob, c1.challengeId, proofAnswers(c1, data)),
          410,
          'IM_FILE_CHALLENGE_INVALID',
          "bob answers mallory's challenge",
        );
        // Expired: answered right, after file.challengeTtlMs.
        const c2 = await challenge(mallory);
        await sleep(INTENDED.fileChallengeTtlMs + 500);
        expectFileError(
          await prove(mallory, c2.challengeId, proofAnswers(c2, data)),
          410,
          'IM_FILE_CHALLENGE_INVALID',
          'an expired challenge',
        );
        expect(await failures(), 'imcloud_file_proof_failures_total counts every wrong proof').toBe(before + refused);
      },
    },
    {
      name: 'images that lie: a PNG claiming 30000×30000, a truncated JPEG, random bytes labelled image/png → stored as plain files; the file process answers and its memory does not jump',
      fresh: ['file'],
      timeoutMs: 90_000,
      async run({ world, target, note }) {
        const alice = await FileClient.of(target, world, world.attacker, 'alice');
        const files = processesOf(target, 'file');
        // Warm: sharp loaded, a real thumbnail made, before the baseline.
        const real = await sharp({ create: { width: 800, height: 400, channels: 3, background: '#3366cc' } })
          .png()
          .toBuffer();
        expect(await alice.upload(real, 'real.png', 'image/png')).toMatchObject({ thumbnail: true, width: 800, height: 400 });
        const refusedBefore = await fileMetric(target, 'imcloud_file_thumbnails_total', { result: 'refused' });
        const tiny = (side: number) =>
          sharp({ create: { width: side, height: side, channels: 3, background: '#000' } })
            .png()
            .toBuffer();
        const noise = await sharp(randomBytes(600 * 400 * 3), { raw: { width: 600, height: 400, channels: 3 } })
          .jpeg()
          .toBuffer();
        const liars: Array<[string, Buffer, string]> = [
          ['a PNG claiming 30000×30000', claimingSize(await tiny(4), 30_000, 30_000), 'image/png'],
          ['a PNG claiming 30000×30000 labelled image/jpeg', claimingSize(await tiny(5), 30_000, 30_000), 'image/jpeg'],
          ['a PNG claiming 65535×65535', claimingSize(await tiny(6), 65_535, 65_535), 'image/png'],
          ['a truncated JPEG', noise.subarray(0, Math.floor(noise.length / 3)), 'image/jpeg'],
          ['random bytes labelled image/png', randomBytes(20_000), 'image/png'],
          ['random bytes labelled image/gif', randomBytes(20_000), 'image/gif'],
          [
            'random bytes labelled image/webp',
            Buffer.concat([Buffer.from('RIFF\xff\xff\xff\x7fWEBPVP8 ', 'latin1'), randomBytes(20_000)]),
            'image/webp',
          ],
        ];
        const rss = sampleRss(files);
        const refusedHere: string[] = [];
        try {
          for (const [what, bytes, contentType] of liars) {
            const file = await alice.upload(bytes, 'liar', contentType);
            expect(file.thumbnail, `${what}: thumbnail`).toBe(false);
            expect(file.width, `${what}: width`).toBeUndefined();
            refusedHere.push(what);
            expectFileError(
              await alice.call('GET', `/v1/files/${file.fileId}/url?thumbnail=1`),
              404,
              'IM_FILE_NO_THUMBNAIL',
              `${what}: thumbnail URL`,
            );
            const original = await alice.call('GET', await alice.urlOf(file.fileId), { token: null });
            expect(original.bytes.equals(bytes), `${what}: the original comes back as it was`).toBe(true);
            await fileProcessesAnswer(target, what);
          }
        } finally {
          const stats = rss.stop();
          const growth = Math.max(0, ...[...stats.values()].map((s) => s.peak - s.before));
          note(`file process RSS growth over ${liars.length} lying images: ${mb(growth)}`);
          if (refusedHere.length === liars.length) expect(growth, 'file process RSS growth').toBeLessThan(INTENDED.badImagesMaxRssGrowth);
        }
        expect(await fileMetric(target, 'imcloud_file_thumbnails_total', { result: 'refused' }), 'thumbnails refused').toBe(
          refusedBefore + liars.length,
        );
      },
    },
    {
      name: 'a flood of concurrent chunk PUTs beyond file.maxConcurrentChunks: the excess gets 503 IM_UNAVAILABLE with Retry-After, the others are taken, the process stays up',
      timeoutMs: 90_000,
      async run({ world, target, note }) {
        // Three apps, ten chunk PUTs each: more than one app may read at once
        // (file.maxConcurrentChunksPerApp), and together more than the process reads at once.
        const apps = [world.attacker, await world.createApp(), await world.createApp()];
        const perApp = 10;
        const n = apps.length * perApp;
        const excess = n - INTENDED.fileMaxConcurrentChunks;
        const uploads = [];
        for (const [a, app] of apps.entries()) {
          const clients = await Promise.all(['f1', 'f2'].map((u) => FileClient.of(target, world, app, u)));
          for (let i = 0; i < perApp; i++) {
            const client = clients[i % clients.length]!;
            const data = canaryFile(app.appId, `flood ${a}-${i}`, 64 * 1024);
            uploads.push({ app: app.appId, client, data, up: await client.begin(data, `flood-${i}.bin`) });
          }
        }
        // Every PUT sends its headers and its first KB, and waits.
        const sockets = await Promise.all(
          uploads.map(async ({ client, data, up }) => {
            const socket = await openSocket(client.base);
            const s = { socket, text: '', closed: false };
            socket.on('data', (d: Buffer) => (s.text += d.toString('latin1')));
            socket.once('close', () => (s.closed = true));
            socket.write(
              chunkRequest(
                `/v1/files/uploads/${up.uploadId}/chunks/0`,
                client.token!,
                { 'Content-MD5': md5Base64(data), 'Content-Length': String(data.length), 'Content-Type': 'application/octet-stream' },
                data.subarray(0, 1024),
              ),
            );
            return s;
          }),
        );
        const answered = () => sockets.filter((s) => s.text.includes('\r\n\r\n'));
        const deadline = Date.now() + 2_000;
        while (answered().length < excess && Date.now() < deadline) await sleep(50);
        await sleep(300);
        const early = answered();
        for (const s of early) {
          expect(s.text.split('\r\n')[0], 'an early answer').toBe('HTTP/1.1 503 Service Unavailable');
          expect(s.text, 'the early answer').toMatch(/\r\nretry-after: \d+\r\n/i);
          expect(s.text).toContain('"code":"IM_UNAVAILABLE"');
        }
        expect(early.length, `PUTs answered before their body (of ${n}, ${INTENDED.fileMaxConcurrentChunks} may be read at once)`).toBe(
          excess,
        );
        // The held ones finish their bodies and are taken.
        const held = uploads.map((u, i) => ({ ...u, s: sockets[i]! })).filter((u) => !early.includes(u.s));
        for (const { data, s } of held) s.socket.write(data.subarray(1024));
        const until = Date.now() + 10_000;
        while (held.some(({ s }) => !s.text.includes('\r\n\r\n')) && Date.now() < until) await sleep(50);
        for (const { s, client } of held) {
          client.saw('flood chunk', s.text);
          expect(s.text.split('\r\n')[0], 'a held PUT').toBe('HTTP/1.1 200 OK');
          expect(s.text).toContain('{"chunksHeld":1}');
        }
        for (const s of sockets) s.socket.destroy();
        // The refused ones, sent again after their hint, are taken too: no slot was lost.
        await sleep(1_000);
        const again = uploads.filter((_u, i) => early.includes(sockets[i]!));
        for (const { client, data, up } of again) expect((await client.putChunk(up.uploadId, 0, data)).json).toEqual({ chunksHeld: 1 });
        await fileProcessesAnswer(target, 'the chunk flood');
        const inFlight = await fileMetric(target, 'imcloud_file_chunks_in_flight', {});
        expect(inFlight, 'chunk bodies still counted in flight').toBe(0);
        note(`${n} concurrent chunk PUTs: ${early.length} answered 503 at once, ${held.length} taken`);
      },
    },
  ],
};
