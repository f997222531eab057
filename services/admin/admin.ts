// The admin role: apps (AppId + secret, multi-login policy), user tokens, revocation.
// Credentials: the platform admin token (every app), or HTTP Basic appId:secret (that app only).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { APP_ID, SYSTEM_SENDER, USER_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { encodeFrameBody } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { App, AppLimits, MultiLoginPolicy } from '../ports/app-registry.js';
import type { Backends } from '../ports/backends.js';
import type { HttpRequest, HttpRequestHead, HttpServer } from '../shared/http-server.js';
import type { Metrics } from '../shared/metrics.js';
import type { AdminConfig } from '../shared/role-config.js';
import { mintToken } from '../shared/tokens.js';
import { registerGroupRoutes } from './group-routes.js';
import { LogicLink } from './logic-link.js';
import { registerMessageRoutes } from './message-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';

const policy = z.enum(['all', 'per-platform', 'single']);
/** Overrides of the platform's per-app defaults (ADR 0024). */
const limits = z
  .object({
    framesPerSec: z.number().int().positive().max(10_000_000).optional(),
    connectionsPerUser: z.number().int().positive().max(10_000).optional(),
    groupMaxMembers: z.number().int().positive().max(1_000_000).optional(),
    groupWriteDiffusionMax: z.number().int().positive().max(100_000).optional(),
    maxFileBytes: z
      .number()
      .int()
      .positive()
      .max(5 * 1024 ** 4)
      .optional(),
    fileContentTypes: z
      .array(z.string().regex(/^[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+)$/i, 'a content type such as image/png or image/*'))
      .max(100)
      .optional(),
    fileQuotaBytes: z.number().int().positive().optional(),
  })
  .strict();
const createAppBody = z
  .object({
    appId: z.string().regex(APP_ID, `appId must match ${APP_ID.source}`).optional(),
    name: z.string().min(1).max(100).optional(),
    multiLogin: policy.optional(),
    limits: limits.optional(),
  })
  .strict();
const patchAppBody = z
  .object({ name: z.string().min(1).max(100).optional(), multiLogin: policy.optional(), limits: limits.optional() })
  .strict();
const tokenBody = z
  .object({
    userId: z
      .string()
      .regex(USER_ID, `userId must match ${USER_ID.source}`)
      .refine((u) => u !== SYSTEM_SENDER, `${SYSTEM_SENDER} is the system sender (ADR 0035), not a user`),
    ttlSec: z
      .number()
      .int()
      .positive()
      .max(30 * 24 * 3600)
      .optional(),
  })
  .strict();
const revokeBody = z
  .object({
    userId: z.string().regex(USER_ID).optional(),
    jti: z.string().min(1).max(64).optional(),
    /** For a jti: when the token would expire anyway (ms); default now + 30 days. */
    expiresAt: z.number().int().positive().optional(),
  })
  .strict()
  .refine((b) => b.userId || b.jti, 'give userId (every token of the user) or jti (one token)');

export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success)
    throw new ImError('IM_ADMIN_INVALID', r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return r.data;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Who called the admin API: the platform admin, or one app by its secret. */
type Caller = 'platform' | { appId: string };

/** An app as the admin API shows it: neither its secret nor its webhook's signing secret. */
export function publicApp(app: App): Omit<App, 'secret'> {
  const { secret: _secret, webhook, ...rest } = app;
  if (!webhook) return rest;
  const { secret: _signing, ...hook } = webhook;
  return { ...rest, webhook: hook as App['webhook'] };
}

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}

export class Admin {
  /** Group changes go through logic, as a client's would. */
  private readonly logic: LogicLink;

  constructor(
    private readonly config: AdminConfig,
    private readonly backends: Backends,
    private readonly metrics: Metrics,
    /** The platform admin token (config.admin.token, or generated at start). */
    private readonly adminToken: string,
  ) {
    this.logic = new LogicLink(backends.bus, config.node);
  }

  /** Takes logic's answers to the group changes this process sends. */
  start(): Promise<void> {
    return this.logic.start();
  }

  stop(): Promise<void> {
    return this.logic.stop();
  }

  /** 'platform', or the AppId whose secret was presented. */
  private async caller(req: HttpRequestHead): Promise<Caller> {
    const header = req.headers.authorization ?? '';
    const [scheme, value = ''] = header.split(' ', 2);
    if (scheme === 'Bearer' && value && sameSecret(value, this.adminToken)) return 'platform';
    if (scheme === 'Basic') {
      const [appId = '', secret = ''] = Buffer.from(value, 'base64').toString('utf8').split(':', 2);
      const app = APP_ID.test(appId) ? await this.backends.apps.get(appId) : null;
      if (app && sameSecret(secret, app.secret)) return { appId };
    }
    throw new ImError('IM_ADMIN_UNAUTHORIZED');
  }

  /** Platform callers act on every app; an app secret only on its own app (the :appId of the path). */
  private async authorize(req: HttpRequestHead, scope: 'platform' | 'app'): Promise<Caller> {
    const who = await this.caller(req);
    if (who === 'platform') return who;
    if (scope === 'platform' || who.appId !== req.params.appId)
      throw new ImError('IM_ADMIN_FORBIDDEN', 'an app secret can only act on its own app');
    return who;
  }

  private async appOr404(appId: string): Promise<App> {
    const app = await this.backends.apps.get(appId);
    if (!app) throw new ImError('IM_APP_NOT_FOUND', `no app ${appId}`);
    return app;
  }

  /**
   * One admin endpoint on the ops listener: credentials are checked before the body is read, and
   * every answer, refusals included, is counted by route and status.
   */
  private endpoint(
    http: HttpServer,
    method: string,
    path: string,
    route: string,
    scope: 'platform' | 'app',
    fn: (req: HttpRequest<Caller>) => Promise<{ status?: number; json: unknown }>,
  ): void {
    const count = (status: number) => this.metrics.adminRequests.inc({ route, status: String(status) });
    http.route<Caller>(
      method,
      path,
      async (req) => {
        try {
          const reply = await fn(req);
          count(reply.status ?? 200);
          return reply;
        } catch (err) {
          count(err instanceof ImError ? err.status : 500);
          throw err;
        }
      },
      {
        listener: 'ops',
        authorize: async (req) => {
          try {
            return await this.authorize(req, scope);
          } catch (err) {
            count(err instanceof ImError ? err.status : 500);
            throw err;
          }
        },
      },
    );
  }

  register(http: HttpServer): void {
    this.endpoint(http, 'POST', '/v1/apps', 'create-app', 'platform', async (req) => {
      const body = parse(createAppBody, req.body);
      const app = await this.createApp(
        body.appId ?? `app-${randomBytes(4).toString('hex')}`,
        body.name,
        body.multiLogin,
        undefined,
        body.limits,
      );
      return { status: 201, json: app };
    });
    this.endpoint(http, 'GET', '/v1/apps', 'list-apps', 'platform', async () => ({
      json: { apps: (await this.backends.apps.list()).map(publicApp) },
    }));
    this.endpoint(http, 'GET', '/v1/apps/:appId', 'get-app', 'app', async (req) => ({
      json: publicApp(await this.appOr404(req.params.appId!)),
    }));
    this.endpoint(http, 'PATCH', '/v1/apps/:appId', 'update-app', 'app', async (req) => {
      const patch = parse(patchAppBody, req.body);
      // Limits protect the other tenants: only the platform sets them.
      if (patch.limits && req.auth !== 'platform')
        throw new ImError('IM_ADMIN_FORBIDDEN', "only the platform admin token may change an app's limits");
      const app = await this.backends.apps.update(req.params.appId!, patch);
      if (!app) throw new ImError('IM_APP_NOT_FOUND', `no app ${req.params.appId}`);
      return { json: publicApp(app) };
    });
    this.endpoint(http, 'POST', '/v1/apps/:appId/tokens', 'mint-token', 'app', async (req) => {
      const body = parse(tokenBody, req.body);
      const app = await this.appOr404(req.params.appId!);
      const { token, claims } = await mintToken(app.appId, app.secret, body.userId, body.ttlSec ?? this.config.admin.defaultTokenTtlSec);
      return { status: 201, json: { token, userId: claims.userId, jti: claims.jti, expiresAt: claims.expiresAt } };
    });
    this.endpoint(http, 'POST', '/v1/apps/:appId/revocations', 'revoke', 'app', async (req) => {
      const body = parse(revokeBody, req.body);
      const app = await this.appOr404(req.params.appId!);
      const now = Date.now();
      if (body.jti) await this.backends.apps.revokeToken(app.appId, body.jti, body.expiresAt ?? now + 30 * 24 * 3600_000);
      let kicked = 0;
      if (body.userId) {
        await this.backends.apps.revokeUser(app.appId, body.userId, now);
        kicked = await this.kickUser(app.appId, body.userId);
      }
      return { json: { revoked: true, kicked } };
    });
    const appRoute: Parameters<typeof registerGroupRoutes>[0] = (method, path, route, fn) =>
      this.endpoint(http, method, path, route, 'app', fn);
    registerGroupRoutes(appRoute, parse, this.backends.groups, this.logic);
    registerMessageRoutes(appRoute, parse, this.logic);
    registerWebhookRoutes(appRoute, parse, this.backends.apps, this.config.webhooks);
  }

  async createApp(
    appId: string,
    name?: string,
    multiLogin: MultiLoginPolicy = 'all',
    secret = newSecret(),
    limits?: AppLimits,
  ): Promise<App> {
    const app: App = { appId, name: name ?? appId, secret, multiLogin, createdAt: Date.now(), ...(limits && { limits }) };
    await this.backends.apps.create(app);
    return app;
  }

  /** Closes every live connection of the user with a TOKEN_REVOKED kick. */
  private async kickUser(appId: string, userId: string): Promise<number> {
    const routes = await this.backends.routes.list(appId, userId);
    const frame = encodeFrameBody({ kick: { reason: imcloud.v1.KickReason.KICK_REASON_TOKEN_REVOKED, message: 'the token was revoked' } });
    for (const r of routes) {
      const body = imcloud.internal.v1.Downstream.encode({
        deliveries: [{ connIds: [r.connId], frame, closeAfter: true, appId }],
      }).finish();
      await this.backends.bus.publishDownstream(r.gateId, body);
      await this.backends.routes.remove(appId, userId, r.connId);
    }
    return routes.length;
  }
}
