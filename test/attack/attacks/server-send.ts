// Send from the backend (docs/adr/0035-server-side-send.md): the messages API refuses other
// apps' and wrong credentials, hostile bodies and oversize batches with catalog codes, and no
// client, whatever it sends or whatever token its app minted, acts as the system sender.
import { expect } from 'vitest';
import { SYSTEM_SENDER, singleConversation } from '../../../protocol/conversation-id.js';
import { bodyText, canary } from '../harness/canary.js';
import { expectRefused, expectRequestRefused } from '../harness/checks.js';
import { AttackClient } from '../harness/client.js';
import type { Group } from '../harness/suite.js';
import type { App } from '../harness/world.js';

const basic = (app: App, secret = app.secret) => `Basic ${Buffer.from(`${app.appId}:${secret}`).toString('base64')}`;

/** POSTs to an app's messages API; the status and the error code, if any. */
async function post(adminUrl: string, appId: string, path: string, authorization: string, body: string) {
  const res = await fetch(`${adminUrl}/v1/apps/${encodeURIComponent(appId)}/messages${path}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body,
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string }; seq?: number };
  return { status: res.status, code: json.error?.code, json };
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

export const serverSend: Group = {
  name: 'server send',
  attacks: [
    {
      name: "app A's secret, a wrong secret or none, sending into app B by the messages API: 403/401, nothing reaches B's user",
      async run({ world, target }) {
        // A user of B nobody else writes to: whatever reaches them came from these requests.
        const victim = `victim-${Date.now()}`;
        const bob = await world.online(world.bystander, victim, { gate: -1 });
        const b = world.bystander.appId;
        const body = (extra: object) =>
          JSON.stringify({ to: victim, body: text(canary(world.attacker.appId, 'backend into B')), clientMsgId: 'x-1', ...extra });
        const tries: Array<[string, string, number, string]> = [
          ['', basic(world.attacker), 403, 'IM_ADMIN_FORBIDDEN'],
          ['/batch', basic(world.attacker), 403, 'IM_ADMIN_FORBIDDEN'],
          ['', basic(world.bystander, 'not-the-secret'), 401, 'IM_ADMIN_UNAUTHORIZED'],
          ['', `Basic ${Buffer.from(`${b}`).toString('base64')}`, 401, 'IM_ADMIN_UNAUTHORIZED'],
          ['', 'Bearer not-the-admin-token', 401, 'IM_ADMIN_UNAUTHORIZED'],
          ['', '', 401, 'IM_ADMIN_UNAUTHORIZED'],
        ];
        for (const [path, auth, status, code] of tries) {
          for (const sender of [{ from: 'alice' }, { system: true }]) {
            const extra = path ? { ...sender, to: [victim] } : sender;
            expect(await post(target.adminUrl, b, path, auth, body(extra)), `${path} ${auth.slice(0, 12)}`).toMatchObject({ status, code });
          }
        }
        const page = await bob.request({ sync: { cursors: [], pageSize: 500 } });
        expect(page.syncPage!.messages!.map((m) => bodyText(m.body))).toEqual([]);
      },
    },
    {
      name: 'hostile bodies: over logic.maxBodyBytes, a 1 MB request, bad JSON, bad base64, a 501-user batch, 10 KB ids: 4xx with catalog codes',
      async run({ world, target }) {
        const a = world.attacker;
        const send = (path: string, body: string) => post(target.adminUrl, a.appId, path, basic(a), body);
        const ok = { from: 'alice', to: 'bob', clientMsgId: 'h-1', body: 'x' };
        // 40 KB: inside the HTTP limit (64 KiB), over logic's (32 KiB): refused by logic itself.
        expect(await send('', JSON.stringify({ ...ok, body: 'x'.repeat(40_000) }))).toMatchObject({
          status: 413,
          code: 'IM_BODY_TOO_LARGE',
        });
        expect(await send('', JSON.stringify({ ...ok, body: 'x'.repeat(1024 * 1024) }))).toMatchObject({
          status: 413,
          code: 'IM_REQUEST_TOO_LARGE',
        });
        for (const bad of ['{"from":', '[]', 'null', '"x"', '{"__proto__":{"system":true}}', '{"to":{"$gt":""}}'])
          expect((await send('', bad)).status, bad).toBe(400);
        const invalid = [
          { ...ok, body: '%%%', encoding: 'base64' },
          { ...ok, to: 'b'.repeat(10_000) },
          { ...ok, clientMsgId: 'c'.repeat(10_000) },
          { ...ok, contentType: 't'.repeat(10_000) },
          { ...ok, group: '../../etc' },
          { ...ok, from: SYSTEM_SENDER },
          { ...ok, to: SYSTEM_SENDER },
          { ...ok, system: true },
          { ...ok, body: 12 },
        ];
        for (const bad of invalid)
          expect(await send('', JSON.stringify(bad)), JSON.stringify(bad).slice(0, 80)).toMatchObject({
            status: 400,
            code: 'IM_ADMIN_INVALID',
          });
        const many = Array.from({ length: 501 }, (_, i) => `u${i}`);
        const batch = { system: true, body: 'x', clientMsgId: 'h-2' };
        for (const to of [many, [], ['a', 'a'], 'bob'])
          expect(await send('/batch', JSON.stringify({ ...batch, to })), `batch to ${String(to).slice(0, 20)}`).toMatchObject({
            status: 400,
            code: 'IM_ADMIN_INVALID',
          });
        // After all that, a good request still works.
        expect(await send('', JSON.stringify({ ...ok, clientMsgId: `h-ok-${Date.now()}` }))).toMatchObject({ status: 200 });
      },
    },
    {
      name: 'a client claiming system, or signing in as @system with a token its app minted: refused, nothing stored',
      async run({ world, gate }) {
        const bob = await world.online(world.attacker, 'bob', { gate: -1 });
        for (const transport of ['ws', 'tcp'] as const) {
          const mallory = await world.online(world.attacker, 'mallory', { transport });
          const body = canary(world.attacker.appId, 'fake system');
          const claims = { send: { clientMsgId: `fs-${transport}`, to: 'bob', body, system: true } };
          await expectRequestRefused(mallory, claims, 'IM_SYSTEM_SENDER_RESERVED', `${transport}: system: true`);
          const group = { send: { clientMsgId: `fg-${transport}`, groupId: 'any', body, system: true } };
          await expectRequestRefused(mallory, group, 'IM_SYSTEM_SENDER_RESERVED', `${transport}: system group`);
          mallory.close();
        }
        // The tenant's own secret can sign a token for @system; logic's wall still refuses it.
        const impostor = await AttackClient.open('ws', gate, world.attacker.appId);
        impostor.send({ auth: { token: await world.token(world.attacker, SYSTEM_SENDER), deviceId: 'fake-system' } });
        await expectRefused(impostor, 'IM_AUTH_REQUIRED', { what: 'sign in as @system' });
        const page = await bob.request({ sync: { cursors: [], pageSize: 500 } });
        expect(page.syncPage!.messages!.filter((m) => m.system || m.sender === SYSTEM_SENDER)).toEqual([]);
        const history = await bob.request({ history: { conversation: singleConversation(SYSTEM_SENDER, 'bob'), limit: 10 } });
        expect(history.historyResult?.messages ?? []).toEqual([]);
      },
    },
  ],
};
