// What the gate needs to know of an app to authenticate its connections: the secret that signs
// its tokens and its limits. Looked up by the AppId a token claims, i.e. by client input, so the
// cache is bounded in entries and time, and only well-formed AppIds are ever looked up or kept.
import { LRUCache } from 'lru-cache';
import type { App, AppRegistry } from '../ports/app-registry.js';
import { APP_ID } from '../../protocol/conversation-id.js';

/** An app as the gate caches it; null: no such app (cached too, so probing costs no lookups). */
export type KnownApp = Pick<App, 'appId' | 'secret' | 'limits'> | null;

export class AppDirectory {
  private readonly cache: LRUCache<string, { app: KnownApp }>;

  constructor(
    private readonly apps: AppRegistry,
    opts: { maxEntries: number; ttlMs: number },
  ) {
    this.cache = new LRUCache({ max: opts.maxEntries, ttl: opts.ttlMs });
  }

  /** The app, or null when the AppId is malformed or unknown. */
  async get(appId: string): Promise<KnownApp> {
    if (!APP_ID.test(appId)) return null;
    const hit = this.cache.get(appId);
    if (hit) return hit.app;
    const found = await this.apps.get(appId);
    const app: KnownApp = found ? { appId: found.appId, secret: found.secret, limits: found.limits } : null;
    this.cache.set(appId, { app });
    return app;
  }

  get size(): number {
    return this.cache.size;
  }
}
