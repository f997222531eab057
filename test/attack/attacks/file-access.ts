// The file role's access rules (docs/adr/0031-files.md): app B's files, uploads and challenges
// are out of app A's reach whatever ids it names; a signed content URL names one app, one file,
// one variant and one expiry and cannot be widened; a user of the same app reads a file only as
// its uploader or through a conversation it was sent in, and cannot send what it may not read;
// every /v1/files route wants a valid token before anything else, and reads no body before it.
import { UnsecuredJWT } from 'jose';
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import { imcloud } from '../../../protocol/gen/im.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { mb, processesOf, sampleRss, sleep } from '../harness/checks.js';
import {
  canaryFile,
  canaryName,
  expectClientError,
  expectFileError,
  FileClient,
  fileUrlOf,
  md5Base64,
  md5Hex,
  proofAnswers,
  rawStatusCode,
  signContent,
} from '../harness/files.js';
import { openSocket, requestText } from '../harness/http.js';
import type { Group } from '../harness/suite.js';
import { INTENDED } from '../intended.js';

/** Swaps a token's payload and keeps its signature (tenancy.ts does the same on the gate). */
function withPayload(token: string, edit: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(payload);
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

/** Splits a content URL path into its parts. */
function parseContentUrl(url: string): { appId: string; fileId: string; variant: string; exp: number; sig: string } {
  const u = new URL(url, 'http://x');
  const [, , , , appId, fileId] = u.pathname.split('/');
  return {
    appId: appId!,
    fileId: fileId!,
    variant: u.searchParams.get('variant')!,
    exp: Number(u.searchParams.get('exp')),
    sig: u.searchParams.get('sig')!,
  };
}

const contentPath = (appId: string, fileId: string, query: string) => `/v1/files/content/${appId}/${fileId}?${query}`;

export const fileAccess: Group = {
  name: 'files: access',
  attacks: [
    {
      name: "cross-app: app A's token asks for app B's file (metadata, URL), answers B's challenge and drives B's upload → not found; B's are untouched",
      async run({ world, target }) {
        const a = world.attacker;
        const b = world.bystander;
        // app B: alice's file, bob's upload in progress, carol's challenge for alice's bytes.
        const aliceB = await FileClient.of(target, world, b, 'alice');
        const bobB = await FileClient.of(target, world, b, 'bob');
        const carolB = await FileClient.of(target, world, b, 'carol');
        const data = canaryFile(b.appId, 'cross-app file');
        const file = await aliceB.upload(data, canaryName(b.appId, 'name'), 'text/plain');
        const pending = canaryFile(b.appId, 'cross-app upload', 3_000);
        const up = await bobB.begin(pending);
        const challenge = (await carolB.prepare(data, 'copy.txt', 'text/plain')).json;
        expect(challenge.kind).toBe('challenge');

        // app A: the same user ids.
        const aliceA = await FileClient.of(target, world, a, 'alice');
        const bobA = await FileClient.of(target, world, a, 'bob');
        const carolA = await FileClient.of(target, world, a, 'carol');
        const conv = singleConversation('alice', 'bob');
        for (const path of [
          `/v1/files/${file.fileId}`,
          `/v1/files/${file.fileId}/url`,
          `/v1/files/${file.fileId}/url?thumbnail=1`,
          `/v1/files/${file.fileId}/url?conversation=${conv}`,
        ])
          expectFileError(await aliceA.call('GET', path), 404, 'IM_FILE_NOT_FOUND', `app A: GET ${path}`);
        expectFileError(
          await carolA.call('POST', '/v1/files/proofs', {
            json: { challengeId: challenge.challengeId, answers: proofAnswers(challenge, data) },
          }),
          410,
          'IM_FILE_CHALLENGE_INVALID',
          "app A answers app B's challenge (with the right answers)",
        );
        const u = `/v1/files/uploads/${up.uploadId}`;
        expectFileError(await bobA.call('GET', u), 404, 'IM_UPLOAD_NOT_FOUND', "app A: GET B's upload");
        expectFileError(await bobA.putChunk(up.uploadId, 0, pending), 404, 'IM_UPLOAD_NOT_FOUND', "app A: a chunk into B's upload");
        expectFileError(await bobA.call('POST', `${u}/complete`), 404, 'IM_UPLOAD_NOT_FOUND', "app A: complete B's upload");
        expectFileError(await bobA.call('DELETE', u), 404, 'IM_UPLOAD_NOT_FOUND', "app A: delete B's upload");
        // Dedupe never crosses apps: the same bytes in A are an upload, not a challenge (which would say B holds them).
        const mine = await aliceA.prepare(data, 'same.txt', 'text/plain');
        expect(mine.json?.kind, 'prepare in app A of bytes app B holds').toBe('upload');
        await aliceA.call('DELETE', `/v1/files/uploads/${mine.json.uploadId}`);

        // B's are untouched: the upload takes its chunk, the challenge its answers, the file its owner.
        expect((await bobB.call('GET', u)).json).toMatchObject({ chunksHeld: 0 });
        expect((await bobB.putChunk(up.uploadId, 0, pending)).json).toEqual({ chunksHeld: 1 });
        const proved = await carolB.call('POST', '/v1/files/proofs', {
          json: { challengeId: challenge.challengeId, answers: proofAnswers(challenge, data) },
        });
        expect(proved.json, 'app B answers its own challenge after app A tried it').toMatchObject({
          deduplicated: true,
          md5: md5Hex(data),
        });
        const res = await aliceB.call('GET', await aliceB.urlOf(file.fileId));
        expect(res.bytes.equals(data)).toBe(true);
      },
    },
    {
      name: "signed content URLs: appId, fileId, variant or exp changed, the signature cut or made with app A's secret for app B's file → IM_FILE_URL_INVALID",
      async run({ world, target }) {
        const a = world.attacker;
        const b = world.bystander;
        const aliceA = await FileClient.of(target, world, a, 'alice');
        const aliceB = await FileClient.of(target, world, b, 'alice');
        const mine = canaryFile(a.appId, 'url file');
        const fileA = await aliceA.upload(mine, 'a.bin');
        const fileB = await aliceB.upload(canaryFile(b.appId, 'url file of B'), 'b.bin');
        const url = await aliceA.urlOf(fileA.fileId);
        const ok = await aliceA.call('GET', url, { token: null });
        expect(ok.status, 'the intact URL').toBe(200);
        expect(ok.bytes.equals(mine)).toBe(true);
        const { exp, sig } = parseContentUrl(url);
        // The suite signs like the server: its own URL, signed here with app A's secret, works.
        const exp2 = exp + 1_000;
        const resigned = contentPath(
          a.appId,
          fileA.fileId,
          `variant=original&exp=${exp2}&sig=${signContent(a.secret, a.appId, fileA.fileId, 'original', exp2)}`,
        );
        expect((await aliceA.call('GET', resigned, { token: null })).status, 'a URL the suite signed with app A’s secret').toBe(200);

        const q = (variant: string, e: number | string, s: string) => `variant=${variant}&exp=${e}&sig=${s}`;
        const forged: Array<[string, string]> = [
          ['appId changed to B', contentPath(b.appId, fileA.fileId, q('original', exp, sig))],
          ["fileId changed to B's file", contentPath(a.appId, fileB.fileId, q('original', exp, sig))],
          ["appId and fileId of B's file", contentPath(b.appId, fileB.fileId, q('original', exp, sig))],
          ['variant thumbnail', contentPath(a.appId, fileA.fileId, q('thumbnail', exp, sig))],
          ['variant ORIGINAL', contentPath(a.appId, fileA.fileId, q('ORIGINAL', exp, sig))],
          ['variant missing', contentPath(a.appId, fileA.fileId, `exp=${exp}&sig=${sig}`)],
          ['exp + 1', contentPath(a.appId, fileA.fileId, q('original', exp + 1, sig))],
          ['exp far in the future', contentPath(a.appId, fileA.fileId, q('original', 9_999_999_999_999, sig))],
          ['exp 2^53', contentPath(a.appId, fileA.fileId, q('original', '9007199254740993', sig))],
          ['exp not a number', contentPath(a.appId, fileA.fileId, q('original', 'x', sig))],
          ['sig missing', contentPath(a.appId, fileA.fileId, `variant=original&exp=${exp}`)],
          ['sig empty', contentPath(a.appId, fileA.fileId, q('original', exp, ''))],
          ['sig cut by one', contentPath(a.appId, fileA.fileId, q('original', exp, sig.slice(0, -1)))],
          [
            'sig with one character changed',
            contentPath(a.appId, fileA.fileId, q('original', exp, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))),
          ],
          ['sig of 10 KB', contentPath(a.appId, fileA.fileId, q('original', exp, 'A'.repeat(10_000)))],
          [
            "B's file signed with A's secret",
            contentPath(b.appId, fileB.fileId, q('original', exp, signContent(a.secret, b.appId, fileB.fileId, 'original', exp))),
          ],
          [
            "B's file (thumbnail) signed with A's secret",
            contentPath(b.appId, fileB.fileId, q('thumbnail', exp, signContent(a.secret, b.appId, fileB.fileId, 'thumbnail', exp))),
          ],
          [
            'expired, signed with the right secret',
            contentPath(
              a.appId,
              fileA.fileId,
              q('original', Date.now() - 1, signContent(a.secret, a.appId, fileA.fileId, 'original', Date.now() - 1)),
            ),
          ],
        ];
        for (const [what, path] of forged) {
          const res = await aliceA.call('GET', path, { token: null });
          expectFileError(res, 403, 'IM_FILE_URL_INVALID', `${what}: GET ${path.slice(0, 120)}`);
        }
        // A signature A may make (A's secret, A's appId) for B's fileId: the file is looked up in A.
        const inA = contentPath(a.appId, fileB.fileId, q('original', exp, signContent(a.secret, a.appId, fileB.fileId, 'original', exp)));
        expectFileError(
          await aliceA.call('GET', inA, { token: null }),
          404,
          'IM_FILE_NOT_FOUND',
          "B's fileId under A's appId, signed by A",
        );
      },
    },
    {
      name: "path tricks in the content URL's appId and fileId (../, %2e%2e, encoded slashes, 10 KB ids) and in the token routes' ids → 4xx with a catalog code, never a file",
      async run({ world, target }) {
        const a = world.attacker;
        const b = world.bystander;
        const aliceA = await FileClient.of(target, world, a, 'alice');
        const aliceB = await FileClient.of(target, world, b, 'alice');
        const fileA = await aliceA.upload(canaryFile(a.appId, 'path file'), 'p.bin');
        const dataB = canaryFile(b.appId, 'path file of B');
        const fileB = await aliceB.upload(dataB, 'pb.bin');
        const exp = Date.now() + 60_000;
        // Signatures app A can make itself (its secret, its appId) over any fileId text.
        const signed = (fileId: string) => `variant=original&exp=${exp}&sig=${signContent(a.secret, a.appId, fileId, 'original', exp)}`;
        const plain = `variant=original&exp=${exp}&sig=${signContent(a.secret, a.appId, fileA.fileId, 'original', exp)}`;
        const md5B = md5Hex(dataB);
        const targets = [
          `/v1/files/content/../../../../etc/passwd?${plain}`,
          `/v1/files/content/${a.appId}/../../${b.appId}/${fileB.fileId}?${plain}`,
          `/v1/files/content/%2e%2e/%2e%2e?${plain}`,
          `/v1/files/content/%2e%2e%2f%2e%2e%2fetc/passwd?${plain}`,
          `/v1/files/content/${a.appId}%2F..%2F${b.appId}/${fileB.fileId}?${plain}`,
          `/v1/files/content/..%2F${b.appId}/${fileB.fileId}?${plain}`,
          `/v1/files/content/${a.appId}/..%2F..%2F${b.appId}%2F${md5B}?${signed(`../../${b.appId}/${md5B}`)}`,
          `/v1/files/content/${a.appId}/%2e%2e%2f${b.appId}%2f${md5B}?${signed(`../${b.appId}/${md5B}`)}`,
          `/v1/files/content/${a.appId}/..%2F..%2F..%2F..%2Fetc%2Fpasswd?${signed('../../../../etc/passwd')}`,
          `/v1/files/content/${a.appId}/${fileA.fileId}%2F..%2F${fileB.fileId}?${signed(`${fileA.fileId}/../${fileB.fileId}`)}`,
          `/v1/files/content/${'a'.repeat(10_000)}/${fileA.fileId}?${plain}`,
          `/v1/files/content/${a.appId}/${'f'.repeat(10_000)}?${signed('f'.repeat(10_000))}`,
          `/v1/files/content/${a.appId}/${'f'.repeat(150)}?${signed('f'.repeat(150))}`,
          `/v1/files/${fileB.fileId}/..%2F..%2F${b.appId}%2F${fileB.fileId}/url`,
          `/v1/files/..%2F${b.appId}%2F${fileB.fileId}`,
          `/v1/files/%2e%2e/url`,
          `/v1/files/${'f'.repeat(10_000)}/url`,
          `/v1/files/uploads/..%2F..%2F${b.appId}`,
          `/v1/files/uploads/${'u'.repeat(10_000)}/chunks/0`,
        ];
        for (const path of targets) {
          const res = await aliceA.raw(requestText('GET', path, { authorization: `Bearer ${aliceA.token}` }), { timeoutMs: 10_000 });
          const what = `GET ${path.slice(0, 140)} → ${res.text.split('\r\n')[0] || res.error}`;
          expectClientError(res, what);
          expect(res.body, what).not.toMatch(/root:|canary\|/);
        }
      },
    },
    {
      name: 'a NUL in the ids the file role looks up: a validly signed content URL for fileId "<id>%00", a conversation "s:alice:b%00ob" → 4xx, not 500',
      // Found by this suite on the multi-process target: services/file/downloads.ts content()
      // passes the URL's fileId to the catalog unchecked (no checkId), and file-service.ts
      // conversationOf() passes ?conversation= through; FerretDB (on PostgreSQL) fails on a NUL
      // ("unsupported Unicode escape sequence", SQLSTATE 22P05) and the answer is 500 IM_INTERNAL.
      async run({ world, target }) {
        const a = world.attacker;
        const alice = await FileClient.of(target, world, a, 'alice');
        const bob = await FileClient.of(target, world, a, 'bob');
        const file = await alice.upload(canaryFile(a.appId, 'nul'), 'nul.bin');
        const exp = Date.now() + 60_000;
        // Signed with the app's own secret (what its backend could sign): only the id is odd.
        const fileId = `${file.fileId}\u0000`;
        const sig = signContent(a.secret, a.appId, fileId, 'original', exp);
        const content = await alice.raw(
          requestText('GET', `/v1/files/content/${a.appId}/${encodeURIComponent(fileId)}?variant=original&exp=${exp}&sig=${sig}`),
          { timeoutMs: 10_000 },
        );
        const conversation = await bob.raw(
          requestText('GET', `/v1/files/${file.fileId}/url?conversation=s:alice:b%00ob`, { authorization: `Bearer ${bob.token}` }),
          { timeoutMs: 10_000 },
        );
        const answers = [
          `content URL with fileId "<id>%00": ${rawStatusCode(content)}`,
          `?conversation=s:alice:b%00ob (not the uploader): ${rawStatusCode(conversation)}`,
        ];
        for (const [i, res] of [content, conversation].entries()) expectClientError(res, `${answers.join('; ')} [${i}]`);
      },
    },
    {
      name: 'non-member: a user of the same app without a grant asks for a file (metadata, URL, naming a conversation it was not sent in) → IM_FORBIDDEN',
      async run({ world, target }) {
        const a = world.attacker;
        const alice = await FileClient.of(target, world, a, 'alice');
        const mallory = await FileClient.of(target, world, a, 'mallory');
        const bob = await FileClient.of(target, world, a, 'bob');
        const file = await alice.upload(canaryFile(a.appId, 'members only'), canaryName(a.appId, 'members'));
        const tries = (who: string) => [
          `/v1/files/${file.fileId}`,
          `/v1/files/${file.fileId}/url`,
          `/v1/files/${file.fileId}/url?conversation=${singleConversation('alice', who)}`,
          `/v1/files/${file.fileId}/url?conversation=${singleConversation('alice', 'bob')}`,
          `/v1/files/${file.fileId}/url?conversation=g:some-group`,
        ];
        // Not a conversation id at all: refused as a bad request, before any lookup.
        const malformed = `/v1/files/${file.fileId}/url?conversation=${'s:x:y'.repeat(100)}`;
        for (const who of [mallory, bob])
          expectFileError(await who.call('GET', malformed), 400, 'IM_BAD_REQUEST', 'a malformed conversation');
        for (const path of tries('mallory'))
          expectFileError(await mallory.call('GET', path), 403, 'IM_FORBIDDEN', `mallory: GET ${path.slice(0, 100)}`);
        for (const path of tries('bob'))
          expectFileError(await bob.call('GET', path), 403, 'IM_FORBIDDEN', `bob before the send: GET ${path.slice(0, 100)}`);

        // Sent to bob: bob may read it; mallory still may not, even naming that conversation.
        const sender = await world.online(a, 'alice');
        const ack = await sender.request({
          send: {
            clientMsgId: `fm-${Date.now()}`,
            to: 'bob',
            contentType: 'file',
            body: imcloud.v1.FileRef.encode({ fileId: file.fileId }).finish(),
          },
        });
        expect(ack.body, JSON.stringify(ack.error)).toBe('sendAck');
        expect((await bob.call('GET', `/v1/files/${file.fileId}/url?conversation=${singleConversation('alice', 'bob')}`)).status).toBe(200);
        for (const path of tries('mallory'))
          expectFileError(await mallory.call('GET', path), 403, 'IM_FORBIDDEN', `mallory after the send: GET ${path.slice(0, 100)}`);
      },
    },
    {
      name: "file messages through the gate naming another user's fileId (file, image, to a peer and into a group), another app's, or no FileRef → refused, nothing stored, no grant",
      async run({ world, target }) {
        const a = world.attacker;
        const b = world.bystander;
        const alice = await FileClient.of(target, world, a, 'alice');
        const mallory = await FileClient.of(target, world, a, 'mallory');
        const bobFiles = await FileClient.of(target, world, a, 'bob');
        const data = canaryFile(a.appId, 'not yours');
        const file = await alice.upload(data, 'secret.txt', 'text/plain');
        const fileB = await (await FileClient.of(target, world, b, 'mallory')).upload(canaryFile(b.appId, 'other app'), 'b.txt');
        const bob = await world.online(a, 'bob', { gate: -1, transport: 'tcp' });
        const groupId = `fg-${Date.now()}`;
        const ref = (fileId: string) => imcloud.v1.FileRef.encode({ fileId, name: 'mine.txt', size: 1 }).finish();
        for (const transport of ['ws', 'tcp'] as const) {
          const c = await world.online(a, 'mallory', { transport });
          if (transport === 'ws') {
            const created = await c.request({ groupCreate: { clientMsgId: `gc-${groupId}`, groupId, name: 'g', members: ['bob'] } });
            expect(created.body, JSON.stringify(created.error)).toBe('sendAck');
          }
          const sends: Array<[string, imcloud.v1.ISend, string]> = [
            ["alice's file as a file", { to: 'bob', contentType: 'file', body: ref(file.fileId) }, 'IM_FORBIDDEN'],
            ["alice's file as an image", { to: 'bob', contentType: 'image', body: ref(file.fileId) }, 'IM_FORBIDDEN'],
            ["alice's file into a group", { groupId, contentType: 'file', body: ref(file.fileId) }, 'IM_FORBIDDEN'],
            ["alice's file to alice herself", { to: 'alice', contentType: 'image', body: ref(file.fileId) }, 'IM_FORBIDDEN'],
            ["app B's file", { to: 'bob', contentType: 'file', body: ref(fileB.fileId) }, 'IM_FILE_NOT_FOUND'],
            ['a fileId that is no file id', { to: 'bob', contentType: 'file', body: ref('../../x') }, 'IM_FILE_NOT_FOUND'],
            ['an empty FileRef', { to: 'bob', contentType: 'image', body: new Uint8Array(0) }, 'IM_FILE_NOT_FOUND'],
            [
              'a body that is no FileRef',
              { to: 'bob', contentType: 'file', body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff]) },
              'IM_BAD_REQUEST',
            ],
          ];
          for (const [what, send, code] of sends) {
            const reply = await c.request({ send: { clientMsgId: `x-${transport}-${what.length}-${code}`, ...send } });
            expect(reply.body === 'error' ? reply.error!.code : reply.body, `${transport}: ${what}`).toBe(code);
          }
          // Nothing stored: no message in either conversation.
          const single = await c.request({ history: { conversation: singleConversation('bob', 'mallory'), limit: 50 } });
          expect(single.historyResult?.messages ?? [], `${transport}: mallory's conversation with bob`).toHaveLength(0);
          const group = await c.request({ history: { conversation: `g:${groupId}`, limit: 50 } });
          expect((group.historyResult?.messages ?? []).filter((m) => m.contentType === 'file' || m.contentType === 'image')).toHaveLength(
            0,
          );
          c.close();
        }
        // No grant: the file stays alice's alone, whichever conversation is named.
        for (const conversation of [singleConversation('bob', 'mallory'), `g:${groupId}`, singleConversation('alice', 'mallory')]) {
          expectFileError(
            await mallory.call('GET', `/v1/files/${file.fileId}/url?conversation=${conversation}`),
            403,
            'IM_FORBIDDEN',
            `mallory, naming ${conversation}`,
          );
          expectFileError(
            await bobFiles.call('GET', `/v1/files/${file.fileId}/url?conversation=${conversation}`),
            403,
            'IM_FORBIDDEN',
            `bob, naming ${conversation}`,
          );
        }
        expect(
          bob.all.filter((f) => f.body === 'push' && f.push!.messages!.some((m) => m.contentType === 'file' || m.contentType === 'image')),
        ).toHaveLength(0);

        // The uploader may send it, and what she claims in the FileRef is replaced by the record.
        const sender = await world.online(a, 'alice');
        const id = `own-${Date.now()}`;
        const ack = await sender.request({ send: { clientMsgId: id, to: 'bob', contentType: 'image', body: ref(file.fileId) } });
        expect(ack.body, JSON.stringify(ack.error)).toBe('sendAck');
        const push = await bob.next((f) => f.body === 'push' && f.push!.messages!.some((m) => m.clientMsgId === id), 10_000);
        const m = push.push!.messages!.find((x) => x.clientMsgId === id)!;
        expect(m.contentType).toBe('file');
        expect(imcloud.v1.FileRef.decode(m.body!)).toMatchObject({
          fileId: file.fileId,
          name: 'secret.txt',
          size: data.length,
          md5: md5Hex(data),
        });
      },
    },
    {
      name: 'no token, malformed, foreign, unsigned, expired and revoked tokens on every /v1/files route → 401 with their code; the upload and file named are untouched',
      async run({ world, target }) {
        const a = world.attacker;
        const b = world.bystander;
        const alice = await FileClient.of(target, world, a, 'alice');
        const data = canaryFile(a.appId, 'auth');
        const file = await alice.upload(data, 'auth.bin');
        const pending = canaryFile(a.appId, 'auth pending', 2_000);
        const up = await alice.begin(pending);
        const good = alice.token!;
        const revokedApp = await world.createApp();
        const revoked = await world.token(revokedApp, 'alice');
        const rv = await world.admin(`/v1/apps/${revokedApp.appId}/revocations`, { userId: 'alice' });
        expect(rv.status, JSON.stringify(rv.json)).toBe(200);
        const unsigned = new UnsecuredJWT({ app: a.appId, iat_ms: Date.now() })
          .setSubject('alice')
          .setAudience('imcloud')
          .setJti('j1')
          .setIssuedAt()
          .setExpirationTime('1h')
          .encode();
        const credentials: Array<[string, string | undefined, string]> = [
          ['none', undefined, 'IM_TOKEN_INVALID'],
          ['Bearer and nothing', 'Bearer', 'IM_TOKEN_INVALID'],
          ['Bearer garbage', 'Bearer not.a.jwt', 'IM_TOKEN_INVALID'],
          ['Bearer of 5 KB', `Bearer ${'x'.repeat(5_000)}`, 'IM_TOKEN_INVALID'],
          ['the token without Bearer', good, 'IM_TOKEN_INVALID'],
          ['Basic with the app secret', `Basic ${Buffer.from(`${a.appId}:${a.secret}`).toString('base64')}`, 'IM_TOKEN_INVALID'],
          ['the platform admin token', `Bearer ${target.adminToken}`, 'IM_TOKEN_INVALID'],
          [
            'an unknown app',
            `Bearer ${(await mintToken('no-such-app-files', 'some-secret-of-32-characters-xx', 'alice', 600)).token}`,
            'IM_TOKEN_INVALID',
          ],
          ["A's claim signed with B's secret", `Bearer ${(await mintToken(a.appId, b.secret, 'alice', 600)).token}`, 'IM_TOKEN_INVALID'],
          ["A's token with its app edited to B", `Bearer ${withPayload(good, (p) => (p.app = b.appId))}`, 'IM_TOKEN_INVALID'],
          ["A's token with its subject edited", `Bearer ${withPayload(good, (p) => (p.sub = 'bob'))}`, 'IM_TOKEN_INVALID'],
          ['alg none', `Bearer ${unsigned}`, 'IM_TOKEN_INVALID'],
          ['expired', `Bearer ${(await mintToken(a.appId, a.secret, 'alice', 1, Date.now() - 60_000)).token}`, 'IM_TOKEN_EXPIRED'],
          ['revoked', `Bearer ${revoked}`, 'IM_TOKEN_REVOKED'],
        ];
        const routes: Array<[string, string, { json?: unknown; body?: Uint8Array; headers?: Record<string, string> }]> = [
          ['POST', '/v1/files/prepare', { json: { md5: md5Hex(data), size: data.length, name: 'x', contentType: 'text/plain' } }],
          ['POST', '/v1/files/proofs', { json: { challengeId: 'cAAAAAAAAAAAAAAAAAAAAAA', answers: [] } }],
          ['GET', `/v1/files/uploads/${up.uploadId}`, {}],
          ['PUT', `/v1/files/uploads/${up.uploadId}/chunks/0`, { body: pending, headers: { 'content-md5': md5Base64(pending) } }],
          ['POST', `/v1/files/uploads/${up.uploadId}/complete`, {}],
          ['DELETE', `/v1/files/uploads/${up.uploadId}`, {}],
          ['GET', `/v1/files/${file.fileId}`, {}],
          ['GET', `/v1/files/${file.fileId}/url`, {}],
          ['GET', `/v1/files/${file.fileId}/url?thumbnail=1`, {}],
        ];
        const stranger = new FileClient(fileUrlOf(target), '', undefined);
        for (const [what, authorization, code] of credentials) {
          for (const [method, path, opts] of routes) {
            const res = await stranger.call(method, path, {
              ...opts,
              ...(authorization !== undefined ? { authorization } : { token: null }),
            });
            expectFileError(res, 401, code, `${what}: ${method} ${path}`);
          }
        }
        // Untouched: the upload still expects chunk 0, the file is still there.
        expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json).toMatchObject({ chunksHeld: 0 });
        expect((await alice.call('GET', `/v1/files/${file.fileId}`)).json).toMatchObject({ fileId: file.fileId, uploader: 'alice' });
      },
    },
    {
      name: 'a 50 MB chunk PUT without a token (or a bad one, or onto an upload not the caller’s) is answered before its body and not buffered',
      async run({ world, target, note }) {
        const a = world.attacker;
        const alice = await FileClient.of(target, world, a, 'alice');
        const mallory = await FileClient.of(target, world, a, 'mallory');
        const up = await alice.begin(canaryFile(a.appId, 'big chunk target', 1_000));
        const size = 50 * 1024 * 1024;
        const files = processesOf(target, 'file');
        const cases: Array<[string, Record<string, string>, number, string]> = [
          ['no token', {}, 401, 'IM_TOKEN_INVALID'],
          ['a bad token', { Authorization: 'Bearer not.a.token' }, 401, 'IM_TOKEN_INVALID'],
          ["another user's upload", { Authorization: `Bearer ${mallory.token}` }, 404, 'IM_UPLOAD_NOT_FOUND'],
          ['an index out of order', { Authorization: `Bearer ${alice.token}` }, 409, 'IM_FILE_CHUNK_ORDER'],
        ];
        const notes: string[] = [];
        for (const [what, auth, status, code] of cases) {
          let path = `/v1/files/uploads/${up.uploadId}/chunks/0`;
          if (code === 'IM_FILE_CHUNK_ORDER') {
            // An upload of two chunks that expects chunk 0, sent chunk 1.
            const two = await alice.call('POST', '/v1/files/prepare', {
              json: {
                md5: md5Hex(Buffer.from(what)),
                size: INTENDED.fileChunkBytes + 10,
                name: 'two.bin',
                contentType: 'application/octet-stream',
              },
            });
            expect(two.json?.kind).toBe('upload');
            path = `/v1/files/uploads/${two.json.uploadId}/chunks/1`;
          }
          const head = [
            `PUT ${path} HTTP/1.1`,
            'Host: 127.0.0.1',
            'Content-Type: application/octet-stream',
            `Content-Length: ${size}`,
            `Content-MD5: ${md5Base64(Buffer.from('x'))}`,
            ...Object.entries(auth).map(([k, v]) => `${k}: ${v}`),
          ].join('\r\n');
          // 1. The headers and 8 KB of the 50 MB, then nothing: the refusal comes at once, whole.
          const first = await mallory.raw(`${head}\r\n\r\n${'a'.repeat(8 * 1024)}`, {
            timeoutMs: INTENDED.unauthenticatedBodyAnsweredWithinMs,
          });
          expect(rawStatusCode(first), `${what}: the answer to the headers and 8 KB of 50 MB`).toBe(`${status} ${code}`);
          // Refused after authentication (not the caller's upload, out of order), the connection
          // is kept and the rest of the body discarded as it comes (a client stops at the answer).
          if (status !== 401) {
            notes.push(`${what}: ${status} ${code} after ${Math.round(first.firstByteMs ?? -1)} ms`);
            continue;
          }
          expect(first.closed, `${what}: the connection is closed after the refusal`).toBe(true);
          // 2. The 50 MB as fast as the socket takes them: the server closes the connection long
          // before they are in, and its memory does not grow by them. (The 401 is written first,
          // but with unread bytes on their way the close is a reset, which may overtake it.)
          const rss = sampleRss(files);
          const socket = await openSocket(fileUrlOf(target));
          const started = performance.now();
          let sent = 0;
          let text = '';
          let closedAt: number | undefined;
          const closed = new Promise<void>((resolve) =>
            socket.once('close', () => {
              closedAt = performance.now() - started;
              resolve();
            }),
          );
          socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
          socket.write(`${head}\r\n\r\n`);
          const block = Buffer.alloc(256 * 1024, 0x61);
          const deadline = Date.now() + INTENDED.unauthenticatedBodyAnsweredWithinMs;
          while (sent < size && !socket.destroyed && Date.now() < deadline) {
            const more = socket.write(block);
            sent += block.length;
            if (!more) {
              const drained = await Promise.race([
                new Promise<boolean>((r) => socket.once('drain', () => r(true))),
                closed.then(() => false),
                sleep(2_000).then(() => false),
              ]);
              if (!drained) break;
            }
          }
          await Promise.race([closed, sleep(2_000)]);
          socket.destroy();
          mallory.saw(`${what}: 50 MB`, text);
          const stats = rss.stop();
          const growth = Math.max(0, ...[...stats.values()].map((st) => st.peak - st.before));
          const seen = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
          if (seen !== undefined) expect(Number(seen), `${what}: the status seen while sending 50 MB`).toBe(status);
          expect(
            closedAt,
            `${what}: the server closed the connection within ${INTENDED.unauthenticatedBodyAnsweredWithinMs} ms`,
          ).toBeDefined();
          expect(sent, `${what}: bytes the server let in before it closed`).toBeLessThan(size);
          expect(growth, `${what}: file process RSS growth ${mb(growth)}`).toBeLessThan(INTENDED.unauthenticatedChunkMaxRssGrowth);
          notes.push(
            `${what}: closed after ${Math.round(closedAt!)} ms with ${mb(sent)} of 50 MB written, ${seen ? `status ${seen} seen` : 'the answer lost to the reset'}, RSS +${mb(growth)}`,
          );
        }
        note(notes.join('; '));
        // The upload is untouched.
        expect((await alice.call('GET', `/v1/files/uploads/${up.uploadId}`)).json).toMatchObject({ chunksHeld: 0 });
      },
    },
  ],
};
