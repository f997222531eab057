// Serves the web chat page (built into dist/web by `npm run build`) and, for the embedded demo
// app only, an endpoint that mints demo user tokens so that a newcomer can chat at once.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { USER_ID } from '../protocol/conversation-id.js';
import { ImError } from '../protocol/errors.js';
import type { Admin } from './admin/admin.js';
import type { Backends } from './ports/backends.js';
import type { HttpServer } from './shared/http-server.js';
import type { AdminConfig } from './shared/role-config.js';
import { mintToken } from './shared/tokens.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** dist/web next to the bundle, or ../dist/web when running from the TypeScript sources. */
export function webRoot(): string | null {
  for (const candidate of ['./web/', '../dist/web/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

/**
 * The file of the page that `rest` (the path after "/", already decoded) names: index.html for
 * the root, null for anything outside the page's folder or that is not a file (a folder, say).
 */
export function pageFile(root: string, rest: string): string | null {
  const rel = rest === '' ? 'index.html' : normalize(rest).replace(/^([/\\]|\.\.[/\\])+/, '');
  const file = resolve(root, rel);
  if (file !== resolve(root) && !file.startsWith(resolve(root) + sep)) return null;
  try {
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

/** The web page is served by a process that runs admin, with admin's view of the configuration. */
export function serveWebPage(http: HttpServer, config: AdminConfig, backends: Backends, admin: Admin | undefined): void {
  const root = webRoot();
  http.route('GET', '/v1/demo/config', () => ({
    json: { appId: config.admin.demoAppId, dispatch: config.web.dispatchUrl, files: config.web.filesUrl },
  }));
  http.route('POST', '/v1/demo/token', async (req) => {
    const appId = config.admin.demoAppId;
    if (!appId || !admin) throw new ImError('IM_ROUTE_NOT_FOUND', 'demo tokens exist only in the embedded mode with a demo app');
    const body = z.object({ userId: z.string().regex(USER_ID) }).safeParse(req.body);
    if (!body.success) throw new ImError('IM_ADMIN_INVALID', `userId must match ${USER_ID.source}`);
    const app = await backends.apps.get(appId);
    if (!app) throw new ImError('IM_APP_NOT_FOUND');
    const { token, claims } = await mintToken(appId, app.secret, body.data.userId, config.admin.defaultTokenTtlSec);
    return { status: 201, json: { token, appId, userId: claims.userId, expiresAt: claims.expiresAt } };
  });
  http.route('GET', '/*', (req) => {
    if (!root) return { status: 503, text: 'The web page is not built: run `npm run build`.\n' };
    const file = pageFile(root, req.params.rest ?? '');
    if (!file) throw new ImError('IM_ROUTE_NOT_FOUND', `no file ${req.path.slice(0, 200)}`);
    return { bytes: readFileSync(file), contentType: TYPES[extname(file)] ?? 'application/octet-stream' };
  });
}
