import { describe, expect, it } from 'vitest';
import { MemoryAppRegistry } from '../adapters/memory/memory-app-registry.js';
import type { App, AppRegistry } from '../ports/app-registry.js';
import { AppDirectory } from './app-directory.js';

function counting(registry: AppRegistry) {
  const asked: string[] = [];
  const wrapped: AppRegistry = Object.assign(Object.create(registry) as AppRegistry, {
    get: (appId: string) => {
      asked.push(appId);
      return registry.get(appId);
    },
  });
  return { wrapped, asked };
}

describe('AppDirectory', () => {
  it('never looks up or keeps a malformed AppId, and stays within its size whatever AppIds are claimed', async () => {
    const registry = new MemoryAppRegistry();
    const app: App = { appId: 'acme', name: 'Acme', secret: 's', multiLogin: 'all', createdAt: 1 };
    await registry.create(app);
    const { wrapped, asked } = counting(registry);
    const dir = new AppDirectory(wrapped, { maxEntries: 100, ttlMs: 60_000 }, ({ appId, secret, limits }) => ({ appId, secret, limits }));
    expect(await dir.get('x'.repeat(5_000))).toBeNull();
    expect(await dir.get('../etc')).toBeNull();
    expect(asked).toEqual([]);
    for (let i = 0; i < 1_000; i++) expect(await dir.get(`probe-${i}`)).toBeNull();
    expect(dir.size).toBeLessThanOrEqual(100);
    expect(await dir.get('acme')).toEqual({ appId: 'acme', secret: 's', limits: undefined });
    // A repeated unknown AppId is answered from the cache.
    const before = asked.length;
    await dir.get('probe-999');
    expect(asked.length).toBe(before);
  });
});
