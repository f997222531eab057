// A default-pool gate refuses AppIds that another pool claims in the operator's routing table
// (IMCLOUD_ROUTING_FILE), and follows changes to the table without a restart.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../../test/support/platform.js';
import { RawClient } from '../../test/support/raw-client.js';
import { routingSource, serializeRoutingTable } from '../shared/routing-table.js';

const dir = mkdtempSync(join(tmpdir(), 'gate-routing-'));
const file = join(dir, 'routing.json');
let platform: TestPlatform;
let claimed: { appId: string; secret: string };
let free: { appId: string; secret: string };

function writeTable(vipAppIds: string[]) {
  writeFileSync(
    `${file}.tmp`,
    serializeRoutingTable({
      format: 1,
      stable: { version: 'test' },
      pools: [
        { name: 'vip', appIds: vipAppIds },
        { name: 'default', default: true },
      ],
    }),
  );
  renameSync(`${file}.tmp`, file);
}

beforeAll(async () => {
  writeTable([]);
  platform = await startTestPlatform({ routing: { file, pollMs: 50 } }); // a default-pool gate (gate.appIds empty)
  claimed = await platform.createApp();
  free = await platform.createApp();
  writeTable([claimed.appId]);
  await routingSource({ file, pollMs: 50 })!.reload();
});

afterAll(async () => {
  await platform?.stop();
  routingSource({ file, pollMs: 50 })?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function authResult(app: { appId: string }, user: string) {
  const client = await RawClient.ws(platform.wsUrl);
  const frame = await client.auth(await platform.token(app.appId, user), `${user}-d1`);
  client.close();
  return frame;
}

describe('gate and the routing table', () => {
  it('a default-pool gate refuses an AppId that another pool claims, with IM_APP_NOT_SERVED', async () => {
    const refused = await authResult(claimed, 'u1');
    expect(refused.body).toBe('error');
    expect(refused.error).toMatchObject({ code: 'IM_APP_NOT_SERVED', fatal: true });
    expect(refused.error!.message).toContain('its own gate pool');
    expect((await authResult(free, 'u2')).body).toBe('authOk');
  });

  it('follows a new table without a restart', async () => {
    writeTable([]);
    await routingSource({ file, pollMs: 50 })!.reload();
    expect((await authResult(claimed, 'u3')).body).toBe('authOk');
  });
});
