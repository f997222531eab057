// User tokens: JWT HS256 signed with the app secret (jose). Claims: sub = user id, app = AppId,
// aud = "imcloud", jti for revocation, iat/exp. A token is only ever verified with the secret of
// the app it names, so a token of app A is useless in app B.
import { randomUUID } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { USER_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';

const AUDIENCE = 'imcloud';

export interface TokenClaims {
  appId: string;
  userId: string;
  jti: string;
  /** ms since epoch */
  issuedAt: number;
  /** ms since epoch */
  expiresAt: number;
}

const key = (secret: string) => new TextEncoder().encode(secret);

export async function mintToken(
  appId: string,
  secret: string,
  userId: string,
  ttlSec: number,
  now = Date.now(),
): Promise<{ token: string; claims: TokenClaims }> {
  const jti = randomUUID();
  const iat = Math.floor(now / 1000);
  // iat has second precision; iat_ms lets "revoke every token issued before now" be exact.
  const token = await new SignJWT({ app: appId, iat_ms: now })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setAudience(AUDIENCE)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSec)
    .sign(key(secret));
  return { token, claims: { appId, userId, jti, issuedAt: now, expiresAt: (iat + ttlSec) * 1000 } };
}

/** The AppId a token claims, unverified: only to find which secret to verify it with. */
export function claimedAppId(token: string): string {
  try {
    const app = decodeJwt(token).app;
    if (typeof app === 'string' && app.length > 0) return app;
  } catch {
    // fall through
  }
  throw new ImError('IM_TOKEN_INVALID', 'the token is not a JWT with an "app" claim');
}

export async function verifyToken(token: string, appId: string, secret: string): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], audience: AUDIENCE });
    if (payload.app !== appId || typeof payload.jti !== 'string' || payload.jti.length > 128 || !payload.iat || !payload.exp) {
      throw new ImError('IM_TOKEN_INVALID');
    }
    // The same rule as every user id the admin API takes: a signed token is no excuse for `*` or `a:b`.
    if (typeof payload.sub !== 'string' || !USER_ID.test(payload.sub))
      throw new ImError('IM_TOKEN_INVALID', `the token's subject is not a user id (${USER_ID.source})`);
    const issuedAt = typeof payload.iat_ms === 'number' ? payload.iat_ms : payload.iat * 1000;
    return { appId, userId: payload.sub, jti: payload.jti, issuedAt, expiresAt: payload.exp * 1000 };
  } catch (err) {
    if (err instanceof ImError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw new ImError('IM_TOKEN_EXPIRED');
    throw new ImError('IM_TOKEN_INVALID');
  }
}
