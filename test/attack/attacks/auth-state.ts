// The gate's authentication state: frames pipelined behind Auth, Auth frames that claim huge
// AppIds, AppId enumeration, subjects that are no user id, sessions that outlive their token.
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import type { FrameInit } from '../../../protocol/frame-codec.js';
import { imcloud } from '../../../protocol/gen/im.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { canary, UNAUTHENTICATED } from '../harness/canary.js';
import { expectRefused, mb, pool, processesOf, settledRss } from '../harness/checks.js';
import { AttackClient, type Transport } from '../harness/client.js';
import type { Group } from '../harness/suite.js';
import { INTENDED } from '../intended.js';

/** Frames that only an authenticated session may get an answer to. */
const ANSWERS = new Set(['sendAck', 'syncPage', 'historyResult', 'pullResult', 'readAck', 'logoutOk']);

/** A JWT-shaped token with any payload and a signature nobody made. */
function unsigned(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ aud: 'imcloud', sub: 'eve', jti: 'j', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...payload })}.${Buffer.from('not a signature').toString('base64url')}`;
}

/** Pipelines `frames` right behind Auth in one write; waits for the close; returns the client. */
async function pipelined(
  transport: Transport,
  at: { wsUrl: string; tcpPort: number },
  tenant: string,
  token: string,
  frames: FrameInit[],
): Promise<AttackClient> {
  const c = await AttackClient.open(transport, at, tenant);
  c.sendMany([c.frame({ auth: { token, deviceId: `pipe-${transport}` } }), ...frames.map((f) => c.frame(f))]);
  await c.closesWithin(3_000);
  return c;
}

/** What is wrong with how `c` was answered, if anything (frames sent before AuthOk must be refused and the connection closed). */
function refusalProblems(c: AttackClient, what: string): string[] {
  const problems: string[] = [];
  const answered = c.all.filter((f) => ANSWERS.has(String(f.body))).map((f) => f.body);
  if (answered.length) problems.push(`${what}: answered ${answered.join(', ')} to frames sent before AuthOk`);
  if (!c.all.some((f) => f.error?.code === INTENDED.frameBeforeAuthOk)) problems.push(`${what}: no Error ${INTENDED.frameBeforeAuthOk}`);
  if (!c.isClosed) problems.push(`${what}: connection left open`);
  return problems.map((p) => `${p} (received: ${c.summary()})`);
}

export const authState: Group = {
  name: 'authentication state',
  attacks: [
    {
      name: 'frames pipelined behind Auth before AuthOk (one TCP write, back-to-back WebSocket messages), with a valid and a forged token',
      // Hardening issue 3. Before its fix these frames were forwarded with an empty identity:
      // stored under app "" and returned to another app's Sync pipelined the same way.
      async run({ world, gate }) {
        const readerApp = await world.createApp();
        const problems: string[] = [];
        for (const transport of ['tcp', 'ws'] as const) {
          for (const forged of [false, true]) {
            const what = `${forged ? 'forged' : 'valid'} token over ${transport}`;
            const token = forged ? unsigned({ app: world.attacker.appId }) : await world.token(world.attacker, 'alice');
            // The attacker's own frames: a send, a sync, a read.
            const attacker = await pipelined(transport, gate, world.attacker.appId, token, [
              { send: { clientMsgId: `pipe-${transport}-${forged}`, to: 'bob', body: canary(UNAUTHENTICATED, `pipelined ${what}`) } },
              { sync: { cursors: [] } },
              { read: { conversation: 's:alice:bob', seq: 1 } },
            ]);
            problems.push(...refusalProblems(attacker, `attacker, ${what}`));
            // A user of another app pipelines a sync the same way: it must not read what the
            // attacker may have stored under app "" (the canary scan reports it if it does).
            const reader = await pipelined(transport, gate, readerApp.appId, await world.token(readerApp, 'carol'), [
              { sync: { cursors: [], pageSize: 500 } },
            ]);
            problems.push(...refusalProblems(reader, `reader of another app, ${what}`));
          }
        }
        // A normal authenticated sync of bob in every app sees none of it (the canary scan checks every message).
        for (const app of [world.attacker, world.bystander, readerApp]) {
          const bob = await world.online(app, 'bob');
          expect((await bob.request({ sync: { cursors: [], pageSize: 500 } })).body).toBe('syncPage');
        }
        expect(problems).toEqual([]);
      },
    },
    {
      name: "Auth frames that each claim a new 40 KB AppId without a valid signature: the gate's memory stays bounded",
      // Hardening issue 4. Before its fix: IM_APP_NOT_FOUND, and every claimed AppId stayed cached
      // (measured: +204 MB for 5,000 on the embedded process, +90 MB for 2,000 on a gate).
      fresh: ['gate'],
      timeoutMs: 120_000,
      async run({ target, gate, note }) {
        const gateProcess = processesOf(target, 'gate')[0]!;
        const n = target.kind === 'embedded' ? 5_000 : 2_000;
        const pad = 'a'.repeat(40_000);
        const codes = new Map<string, number>();
        const flood = (count: number, appId: (i: number) => string) =>
          pool(
            Array.from({ length: count }, (_, i) => i),
            64,
            async (i) => {
              const c = await AttackClient.tcp(gate.tcpPort, '');
              c.send({ auth: { token: unsigned({ app: appId(i) }), deviceId: 'flood' } });
              const err = await c.nextError(20_000);
              codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
              await c.closed(10_000);
            },
          );
        // Warm-up with one AppId (nothing new to remember), so the baseline has met this traffic before.
        await flood(300, () => `warm-${pad}`);
        codes.clear();
        const before = await settledRss(gateProcess);
        await flood(n, (i) => `${i}-${Date.now()}-${pad}`);
        const after = await settledRss(gateProcess, 2_000);
        note(
          `${n} Auth frames with 40 KB AppIds: ${gateProcess.name} RSS ${mb(before)} → ${mb(after)} (+${mb(after - before)}); codes ${JSON.stringify(Object.fromEntries(codes))}`,
        );
        expect(Object.fromEntries(codes)).toEqual({ [INTENDED.malformedAppIdClaim]: n });
        expect(after - before, `RSS growth of ${gateProcess.name}`).toBeLessThan(INTENDED.appIdFloodMaxRssGrowth);
      },
    },
    {
      name: 'AppId enumeration: a token for an app that does not exist and one for an existing app with a bad signature get the same code',
      // Hardening issue 8. Before its fix: IM_APP_NOT_FOUND for an app that does not exist.
      async run({ world, gate }) {
        const seen: string[] = [];
        for (const [what, token] of [
          ['no such app (well signed)', (await mintToken('no-such-app-here', 'some-secret', 'eve', 600)).token],
          ['no such app (unsigned)', unsigned({ app: 'no-such-app-either' })],
          ['existing app, bad signature', (await mintToken(world.bystander.appId, 'some-secret', 'eve', 600)).token],
          ['existing app, unsigned', unsigned({ app: world.bystander.appId })],
        ] as const) {
          const c = await AttackClient.open('ws', gate, '');
          c.send({ auth: { token, deviceId: 'enum' } });
          const err = await c.nextError();
          seen.push(`${what}: ${err.code}`);
          await c.closed();
        }
        expect(seen).toEqual(seen.map((s) => `${s.split(':')[0]}: ${INTENDED.unknownApp}`));
      },
    },
    {
      name: "well-signed tokens whose subject is no user id: '*', 'a:b', '../../x', empty, 20 KB",
      // Hardening issue 8. Before its fix: AuthOk.
      async run({ world, gate }) {
        const app = world.attacker;
        for (const sub of ['*', 'a:b', '../../x', '', 'u'.repeat(20_000)]) {
          const token = await new SignJWT({ app: app.appId, iat_ms: Date.now() })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .setSubject(sub)
            .setAudience('imcloud')
            .setJti(`j-${sub.length}`)
            .setIssuedAt()
            .setExpirationTime('10m')
            .sign(new TextEncoder().encode(app.secret));
          for (const transport of ['ws', 'tcp'] as const) {
            const c = await AttackClient.open(transport, gate, app.appId);
            c.send({ auth: { token, deviceId: 'sub' } });
            await expectRefused(c, INTENDED.badSubject, {
              timeoutMs: 3_000,
              what: `subject ${JSON.stringify(sub.slice(0, 12))}${sub.length > 12 ? '…' : ''} over ${transport}`,
            });
          }
        }
      },
    },
    {
      name: 'a session outlives its token: the server ends it once the token expires (ttl 2 s)',
      // Hardening issue 8. Before its fix the session went on after its token expired.
      timeoutMs: 30_000,
      async run({ world, gate }) {
        const sessions = await Promise.all(
          (['ws', 'tcp'] as const).map(async (transport) => {
            const { token, claims } = await mintToken(world.attacker.appId, world.attacker.secret, `brief-${transport}`, 2);
            const c = await AttackClient.open(transport, gate, world.attacker.appId);
            expect((await c.auth(token, `brief-${transport}`)).body).toBe('authOk');
            return { c, expiresAt: claims.expiresAt, transport };
          }),
        );
        const expiredKick = (imcloud.v1.KickReason as unknown as Record<string, number>)[INTENDED.tokenExpiredKickReason];
        await Promise.all(
          sessions.map(async ({ c, expiresAt, transport }) => {
            const within = Math.max(0, expiresAt - Date.now()) + INTENDED.tokenExpiryKickWithinMs;
            // Keep the session busy meanwhile: pings must not keep it alive past its token.
            const pinger = setInterval(() => !c.isClosed && c.send({ ping: {} }), 500);
            try {
              const end = await c.next(
                (f) =>
                  (f.body === 'kick' && expiredKick !== undefined && f.kick!.reason === expiredKick) ||
                  f.error?.code === INTENDED.tokenExpiredCode,
                within,
                `Kick(${INTENDED.tokenExpiredKickReason}) or Error(${INTENDED.tokenExpiredCode}) over ${transport}`,
              );
              expect(end).toBeDefined();
              await c.closed(5_000);
            } finally {
              clearInterval(pinger);
            }
          }),
        );
      },
    },
  ],
};
