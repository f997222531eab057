// Tokens: wrong keys and algorithms, expiry, garbage, revocation with kick.
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { imcloud } from '../../../protocol/gen/im.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { expectRefused } from '../harness/checks.js';
import { AttackClient } from '../harness/client.js';
import type { Group } from '../harness/suite.js';
import type { World } from '../harness/world.js';

const key = (s: string) => new TextEncoder().encode(s);

async function signed(
  world: World,
  claims: Record<string, unknown>,
  opts: { alg?: string; secret?: string; sub?: string; aud?: string; exp?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ app: world.attacker.appId, iat_ms: Date.now(), ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(opts.sub ?? 'alice')
    .setAudience(opts.aud ?? 'imcloud')
    .setJti(`j-${Math.random().toString(36).slice(2)}`)
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(key(opts.secret ?? world.attacker.secret));
}

async function refusedAt(world: World, token: string, code: 'IM_TOKEN_INVALID' | 'IM_TOKEN_EXPIRED' | 'IM_TOKEN_REVOKED', what: string) {
  for (const transport of ['ws', 'tcp'] as const) {
    const c = await AttackClient.open(transport, world.gate(0), '');
    c.send({ auth: { token, deviceId: 'tok-1' } });
    await expectRefused(c, code, { what: `${what} over ${transport}` });
  }
}

export const tokens: Group = {
  name: 'tokens',
  attacks: [
    {
      name: 'wrong keys and algorithms: another secret, an empty secret, HS512 with the right secret, a wrong audience',
      async run({ world }) {
        await refusedAt(world, await signed(world, {}, { secret: 'not-the-secret' }), 'IM_TOKEN_INVALID', 'wrong secret');
        await refusedAt(world, await signed(world, {}, { secret: '\0' }), 'IM_TOKEN_INVALID', 'trivial secret');
        await refusedAt(world, await signed(world, {}, { alg: 'HS512' }), 'IM_TOKEN_INVALID', 'HS512');
        await refusedAt(world, await signed(world, {}, { aud: 'someone-else' }), 'IM_TOKEN_INVALID', 'audience');
        // The same claims with the right key sign in: the refusals above were for the key, not the claims.
        const ok = await AttackClient.open('ws', world.gate(0), world.attacker.appId);
        expect((await ok.auth(await signed(world, {}), 'tok-ok')).body).toBe('authOk');
      },
    },
    {
      name: 'expired tokens, and tokens without expiry or jti',
      async run({ world }) {
        const expired = await mintToken(world.attacker.appId, world.attacker.secret, 'alice', 1, Date.now() - 60_000);
        await refusedAt(world, expired.token, 'IM_TOKEN_EXPIRED', 'expired');
        const noExp = await new SignJWT({ app: world.attacker.appId })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setAudience('imcloud')
          .setJti('j')
          .setIssuedAt()
          .sign(key(world.attacker.secret));
        await refusedAt(world, noExp, 'IM_TOKEN_INVALID', 'no exp');
        const noJti = await new SignJWT({ app: world.attacker.appId })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setAudience('imcloud')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(key(world.attacker.secret));
        await refusedAt(world, noJti, 'IM_TOKEN_INVALID', 'no jti');
      },
    },
    {
      name: 'garbage in the token field: empty, not a JWT, bad base64, a JSON array payload, no app claim, 50 KB of dots',
      async run({ world }) {
        const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const garbage = [
          '',
          'not.a.jwt',
          'a.b.c',
          '%%%.%%%.%%%',
          `${b64({ alg: 'HS256' })}.${b64([1, 2, 3])}.sig`,
          `${b64({ alg: 'HS256' })}.${b64({ sub: 'alice' })}.sig`,
          `${b64({ alg: 'HS256' })}.${b64({ app: 42 })}.sig`,
          '.'.repeat(50_000),
          '\u0000\u0001\u0002',
          'é'.repeat(1000),
        ];
        for (const token of garbage) await refusedAt(world, token, 'IM_TOKEN_INVALID', `garbage ${JSON.stringify(token.slice(0, 20))}`);
      },
    },
    {
      name: 'revocation with kick: every device of the user is kicked (across gates), the old token is refused, a new one works',
      async run({ world, target }) {
        const app = await world.createApp();
        const token = await world.token(app, 'rex');
        const devices: AttackClient[] = [];
        for (const [i, transport] of (['ws', 'tcp'] as const).entries()) {
          const c = await AttackClient.open(transport, world.gate(i === 0 ? 0 : -1), app.appId);
          expect((await c.auth(token, `rex-${transport}`)).body).toBe('authOk');
          devices.push(c);
        }
        const res = await fetch(`${target.adminUrl}/v1/apps/${app.appId}/revocations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${target.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'rex' }),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ revoked: true, kicked: 2 });
        for (const c of devices) {
          expect((await c.nextOf('kick', 10_000)).kick!.reason).toBe(imcloud.v1.KickReason.KICK_REASON_TOKEN_REVOKED);
          await c.closed(10_000);
        }
        const again = await AttackClient.open('ws', world.gate(0), '');
        again.send({ auth: { token, deviceId: 'rex-ws' } });
        await expectRefused(again, 'IM_TOKEN_REVOKED');
        // The revocation of one jti leaves the user's other tokens alone.
        const one = await mintToken(app.appId, app.secret, 'rex', 600);
        const two = await world.token(app, 'rex');
        const jti = await fetch(`${target.adminUrl}/v1/apps/${app.appId}/revocations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${target.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ jti: one.claims.jti }),
        });
        expect(jti.status).toBe(200);
        const refused = await AttackClient.open('tcp', world.gate(0), '');
        refused.send({ auth: { token: one.token, deviceId: 'rex-1' } });
        await expectRefused(refused, 'IM_TOKEN_REVOKED');
        const fresh = await AttackClient.open('ws', world.gate(-1), app.appId);
        expect((await fresh.auth(two, 'rex-2')).body).toBe('authOk');
      },
    },
  ],
};
