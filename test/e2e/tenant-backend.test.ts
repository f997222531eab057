// The README's "Your backend: send and hear", as a new user runs it: sdk/examples/tenant-backend.ts
// (a separate process, as a tenant's backend is) registers its HTTP receiver as the app's webhook
// and sends alice a system message; alice, signing in afterwards, gets it marked system and
// replies to the system sender; the backend prints the reply's event, its signature verified.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_SENDER } from '../../protocol/conversation-id.js';
import * as fixture from './sdk-fixture.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let at: fixture.Platform;

beforeAll(async () => {
  at = await fixture.startPlatform();
});
afterAll(async () => {
  await at?.runtime.stop();
});

/** The example's printed lines, as they come, and a wait for one that matches. */
function startBackend(args: string[]) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'sdk', 'examples', 'tenant-backend.ts'), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  const line = async (match: RegExp, what: string) => {
    const end = Date.now() + 30_000;
    for (;;) {
      const found = lines.find((l) => match.test(l));
      if (found) return found;
      if (child.exitCode !== null || Date.now() > end)
        throw new Error(`no line ${what} from the example; it printed:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, lines, line };
}

describe('sdk/examples/tenant-backend.ts (README)', () => {
  it("sends a system message and hears the user's reply as a signed, verified message.sent event", async () => {
    const { appId, secret } = (await fixture.admin(at, 'POST', '/v1/apps', { appId: 'shop' })) as { appId: string; secret: string };
    const backend = startBackend([
      '--app',
      appId,
      '--secret',
      secret,
      '--to',
      'alice',
      '--api',
      at.base,
      '--port',
      '0',
      '--text',
      'Your order has shipped',
    ]);
    try {
      await backend.line(/^sent alice a system message/, '"sent alice a system message"');
      const alice = await fixture.client(at, appId, 'alice');
      try {
        await fixture.until('alice syncs the system message', () => alice.messages.some((m) => m.system));
        const notice = alice.messages.find((m) => m.system)!;
        expect(notice).toMatchObject({ sender: SYSTEM_SENDER, system: true, text: 'Your order has shipped' });
        await alice.client.send(SYSTEM_SENDER, 'Thanks! When will it arrive?');
        const heard = await backend.line(/^event message\.sent, signature verified: .* from alice: /, 'with the reply');
        expect(heard).toBe(`event message.sent, signature verified: ${notice.conversation} seq 2 from alice: Thanks! When will it arrive?`);
        expect(backend.lines.filter((l) => l.startsWith('refused'))).toEqual([]);
      } finally {
        await alice.client.close();
      }
    } finally {
      backend.child.kill();
    }
  });
});
