// An in-process imcloud (every role, in-memory backends, free ports) for protocol tests.
import { randomUUID } from 'node:crypto';
import type { MultiLoginPolicy } from '../../services/ports/app-registry.js';
import { ROLES, type Runtime, startRuntime } from '../../services/runtime.js';
import { type ConfigInput, compileConfig } from '../../services/shared/config.js';
import { mintToken } from '../../services/shared/tokens.js';

export interface TestPlatform {
  runtime: Runtime;
  wsUrl: string;
  tcpPort: number;
  httpUrl: string;
  /** Creates an app with a unique AppId. */
  createApp(multiLogin?: MultiLoginPolicy): Promise<{ appId: string; secret: string }>;
  token(appId: string, userId: string, ttlSec?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestPlatform(overrides: ConfigInput = {}): Promise<TestPlatform> {
  const base: ConfigInput = {
    node: { id: `test-${randomUUID().slice(0, 8)}` },
    log: { level: 'silent' },
    http: { host: '127.0.0.1', port: 0 },
    gate: { tcpPort: 0, drainMs: 0 },
    admin: { token: 'test-admin-token' },
  };
  const config = compileConfig(base, overrides);
  const runtime = await startRuntime(config, ROLES);
  const httpUrl = `http://127.0.0.1:${runtime.httpPort}`;
  return {
    runtime,
    wsUrl: `ws://127.0.0.1:${runtime.httpPort}/ws`,
    tcpPort: runtime.gate!.tcpListenPort,
    httpUrl,
    async createApp(multiLogin = 'all') {
      const app = await runtime.admin!.createApp(`t-${randomUUID().slice(0, 12)}`, undefined, multiLogin);
      return { appId: app.appId, secret: app.secret };
    },
    async token(appId, userId, ttlSec = 3600) {
      const app = await runtime.backends.apps.get(appId);
      if (!app) throw new Error(`no app ${appId}`);
      return (await mintToken(appId, app.secret, userId, ttlSec)).token;
    },
    stop: () => runtime.stop(),
  };
}
