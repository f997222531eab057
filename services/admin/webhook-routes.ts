// The admin API's webhooks (docs/webhooks.md, ADR 0037): an app's endpoint, signing secret,
// events and timeouts, set by its backend (app secret) or the platform. The signing secret is
// generated here and shown once: in the answer that created or rotated it.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ImError } from '../../protocol/errors.js';
import { type AppRegistry, WEBHOOK_EVENTS, type WebhookConfig } from '../ports/app-registry.js';
import type { HttpRequest } from '../shared/http-server.js';
import type { AdminConfig } from '../shared/role-config.js';
import type { Reply } from './group-routes.js';

/** A before-send call holds a send: at most this long. */
export const MAX_BEFORE_SEND_TIMEOUT_MS = 2_000;

const putBody = z
  .object({
    url: z.string().max(2048),
    events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).default([]),
    timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
    maxAttempts: z.number().int().min(1).max(100).default(10),
    beforeSend: z
      .object({
        enabled: z.boolean().default(false),
        timeoutMs: z.number().int().min(10).max(MAX_BEFORE_SEND_TIMEOUT_MS).default(500),
        failOpen: z.boolean().default(true),
      })
      .strict()
      .default({ enabled: false, timeoutMs: 500, failOpen: true }),
    /** Replace the signing secret with a new one (shown in the answer). */
    rotateSecret: z.boolean().default(false),
  })
  .strict();

type Route = (method: string, path: string, route: string, fn: (req: HttpRequest<unknown>) => Promise<Reply>) => void;
type Parse = <T>(schema: z.ZodType<T>, body: unknown) => T;

export function registerWebhookRoutes(route: Route, parse: Parse, apps: AppRegistry, config: AdminConfig['webhooks']): void {
  const path = '/v1/apps/:appId/webhook';
  const appOr404 = async (appId: string) => {
    const app = await apps.get(appId);
    if (!app) throw new ImError('IM_APP_NOT_FOUND', `no app ${appId}`);
    return app;
  };
  route('PUT', path, 'put-webhook', async (req) => {
    const body = parse(putBody, req.body);
    checkWebhookUrl(body.url, config);
    const app = await appOr404(req.params.appId!);
    const fresh = !app.webhook || body.rotateSecret;
    const { rotateSecret: _rotate, ...settings } = body;
    const webhook: WebhookConfig = { ...settings, secret: fresh ? `whsec_${randomBytes(24).toString('base64url')}` : app.webhook!.secret };
    await apps.update(app.appId, { webhook });
    return { json: fresh ? webhook : publicWebhook(webhook) };
  });
  route('GET', path, 'get-webhook', async (req) => {
    const app = await appOr404(req.params.appId!);
    if (!app.webhook) throw new ImError('IM_NOT_FOUND', 'this app has no webhook');
    return { json: publicWebhook(app.webhook) };
  });
  route('DELETE', path, 'delete-webhook', async (req) => {
    const app = await appOr404(req.params.appId!);
    await apps.update(app.appId, { webhook: null });
    return { json: { deleted: app.webhook !== undefined } };
  });
}

function publicWebhook(hook: WebhookConfig): Omit<WebhookConfig, 'secret'> {
  const { secret: _secret, ...rest } = hook;
  return rest;
}

/**
 * An absolute http(s) URL without credentials, to a host the platform allows
 * (webhooks.allowedHosts): the platform makes these requests for the tenant (SSRF).
 */
export function checkWebhookUrl(raw: string, config: Pick<AdminConfig['webhooks'], 'allowedHosts' | 'allowHttp'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ImError('IM_ADMIN_INVALID', 'url: not an absolute URL');
  }
  const schemes = config.allowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) throw new ImError('IM_ADMIN_INVALID', `url: the scheme must be ${schemes.join(' or ')}`);
  if (url.username || url.password) throw new ImError('IM_ADMIN_INVALID', 'url: credentials in the URL are not accepted');
  if (!hostAllowed(url.hostname, config.allowedHosts))
    throw new ImError(
      'IM_ADMIN_INVALID',
      `url: the host ${url.hostname} is not among the platform's allowed webhook hosts (webhooks.allowedHosts)`,
    );
  return url;
}

function hostAllowed(host: string, allowed: string): boolean {
  const h = host.toLowerCase();
  return allowed
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean)
    .some((p) => p === '*' || p === h || (p.startsWith('*.') && h.endsWith(p.slice(1)) && h.length > p.length - 1));
}
