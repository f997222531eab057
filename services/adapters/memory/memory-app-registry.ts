import { ImError } from '../../../protocol/errors.js';
import type { App, AppPatch, AppRegistry } from '../../ports/app-registry.js';

export class MemoryAppRegistry implements AppRegistry {
  private readonly apps = new Map<string, App>();
  private readonly revokedJti = new Map<string, number>();
  private readonly revokedBefore = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async create(app: App): Promise<void> {
    if (this.apps.has(app.appId)) throw new ImError('IM_ADMIN_CONFLICT', `app ${app.appId} already exists`);
    this.apps.set(app.appId, structuredClone(app));
  }

  async get(appId: string): Promise<App | null> {
    const app = this.apps.get(appId);
    return app ? structuredClone(app) : null;
  }

  async update(appId: string, patch: AppPatch): Promise<App | null> {
    const app = this.apps.get(appId);
    if (!app) return null;
    const { webhook, ...rest } = structuredClone(patch);
    Object.assign(app, rest);
    if (webhook === null) delete app.webhook;
    else if (webhook !== undefined) app.webhook = webhook;
    return structuredClone(app);
  }

  async list(): Promise<App[]> {
    return [...this.apps.values()].map((a) => structuredClone(a));
  }

  async revokeToken(appId: string, jti: string, expiresAt: number): Promise<void> {
    this.revokedJti.set(`${appId}\u0000${jti}`, expiresAt);
  }

  async revokeUser(appId: string, userId: string, before: number): Promise<void> {
    const key = `${appId}\u0000${userId}`;
    this.revokedBefore.set(key, Math.max(before, this.revokedBefore.get(key) ?? 0));
  }

  async isRevoked(appId: string, userId: string, jti: string, issuedAt: number): Promise<boolean> {
    const until = this.revokedJti.get(`${appId}\u0000${jti}`);
    if (until !== undefined && until > this.now()) return true;
    const before = this.revokedBefore.get(`${appId}\u0000${userId}`);
    return before !== undefined && issuedAt <= before;
  }
}
