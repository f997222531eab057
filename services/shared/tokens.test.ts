import { describe, expect, it } from 'vitest';
import { claimedAppId, mintToken, verifyToken } from './tokens.js';

describe('tokens', () => {
  it('mints a token that verifies only with its own app and secret', async () => {
    const { token, claims } = await mintToken('app-a', 'secret-a', 'alice', 60);
    expect(claimedAppId(token)).toBe('app-a');
    expect(await verifyToken(token, 'app-a', 'secret-a')).toMatchObject({ appId: 'app-a', userId: 'alice', jti: claims.jti });
    await expect(verifyToken(token, 'app-a', 'secret-b')).rejects.toMatchObject({ code: 'IM_TOKEN_INVALID' });
    await expect(verifyToken(token, 'app-b', 'secret-a')).rejects.toMatchObject({ code: 'IM_TOKEN_INVALID' });
  });

  it('reports expiry with its own code and keeps millisecond issue times', async () => {
    const past = Date.now() - 120_000;
    const { token } = await mintToken('app-a', 's', 'bob', 10, past);
    await expect(verifyToken(token, 'app-a', 's')).rejects.toMatchObject({ code: 'IM_TOKEN_EXPIRED' });
    const fresh = await mintToken('app-a', 's', 'bob', 10, 1_800_000_000_123);
    expect(fresh.claims.issuedAt).toBe(1_800_000_000_123);
  });

  it('refuses something that is not a JWT', () => {
    expect(() => claimedAppId('nope')).toThrow(expect.objectContaining({ code: 'IM_TOKEN_INVALID' }));
  });
});
