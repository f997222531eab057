// What a role needs to know of an app, cached: the gate its secret and limits (to authenticate
// connections), logic its multi-login policy and limits. Looked up by AppIds that clients claim,
// so the cache is bounded in entries and time, unknown AppIds are cached too (probing costs no
// lookups), and only well-formed AppIds are ever looked up or kept.
import { LRUCache } from 'lru-cache';
import { APP_ID } from '../../protocol/conversation-id.js';
import type { App, AppRegistry } from '../ports/app-registry.js';

export class AppDirectory<T> {
  private readonly cache: LRUCache<string, { app: T | null }>;

  constructor(
    private readonly apps: AppRegistry,
    opts: { maxEntries: number; ttlMs: number },
    /** What of an app is kept. */
    private readonly keep: (app: App) => T,
  ) {
    this.cache = new LRUCache({ max: opts.maxEntries, ttl: opts.ttlMs });
  }

  /** The app, or null when the AppId is malformed or unknown. */
  async get(appId: string): Promise<T | null> {
    if (!APP_ID.test(appId)) return null;
    const hit = this.cache.get(appId);
    if (hit) return hit.app;
    const found = await this.apps.get(appId);
    const app = found ? this.keep(found) : null;
    this.cache.set(appId, { app });
    return app;
  }

  get size(): number {
    return this.cache.size;
  }
}
