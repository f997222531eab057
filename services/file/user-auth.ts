// A file request's caller: `Authorization: Bearer <user token>`, verified with the secret of the
// app it names before anything about the app is revealed (an unknown AppId and a bad signature
// both answer IM_TOKEN_INVALID), then checked against revocation. Runs on the headers, before
// any body is read.
import { ImError } from '../../protocol/errors.js';
import type { HttpRequestHead } from '../shared/http-server.js';
import { claimedAppId, verifyToken } from '../shared/tokens.js';
import type { FileApp, FileContext } from './file-context.js';

export interface FileCaller {
  appId: string;
  userId: string;
  app: FileApp;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/;

export async function fileCaller(cx: FileContext, req: HttpRequestHead): Promise<FileCaller> {
  const header = req.headers.authorization;
  const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
  if (!token) throw new ImError('IM_TOKEN_INVALID', 'send Authorization: Bearer <the user token your backend minted>');
  const appId = claimedAppId(token);
  const app = await cx.apps.get(appId);
  if (!app) throw new ImError('IM_TOKEN_INVALID');
  const claims = await verifyToken(token, appId, app.secret);
  if (await cx.registry.isRevoked(appId, claims.userId, claims.jti, claims.issuedAt)) throw new ImError('IM_TOKEN_REVOKED');
  return { appId, userId: claims.userId, app };
}
