// The whole platform started in-process with the built web page, as `imcloud all` starts it for
// the browser tests: every role on free ports, the page served from dist/web (built from the
// current sources first), the demo app created.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Runtime } from '../../services/runtime.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `config` is merged over the test defaults, section by section. */
export async function startWebPlatform(config: Record<string, Record<string, unknown>> = {}): Promise<{ runtime: Runtime; base: string }> {
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  const { loadConfig } = await import('../../services/shared/config-sources.js');
  const { ROLES, startRuntime } = await import('../../services/runtime.js');
  const defaults: Record<string, Record<string, unknown>> = {
    http: { port: 0, host: '127.0.0.1' },
    gate: { tcpPort: 0, drainMs: 200 },
    admin: { demoAppId: 'demo', token: 'e2e-admin-token' },
    web: { enabled: true },
    log: { level: 'warn' },
  };
  for (const [section, values] of Object.entries(config)) defaults[section] = { ...defaults[section], ...values };
  const runtime = await startRuntime(loadConfig({}, defaults), ROLES, { web: true });
  // What `imcloud all` does at start (services/cli.ts announceEmbedded).
  await runtime.admin!.createApp('demo', 'Demo app', 'all');
  return { runtime, base: `http://127.0.0.1:${runtime.httpPort}/` };
}
