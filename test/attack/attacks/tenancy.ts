// Tenancy across tokens: a user of app A reaches nothing of app B, whatever ids it names.
import { UnsecuredJWT } from 'jose';
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { canary, canaryTenant } from '../harness/canary.js';
import { expectRefused, expectRequestRefused } from '../harness/checks.js';
import { AttackClient } from '../harness/client.js';
import { errorCode } from '../harness/http.js';
import type { Group } from '../harness/suite.js';

const conv = singleConversation('alice', 'bob');

/** Re-signs nothing: swaps the payload of a token and keeps its signature. */
function withPayload(token: string, edit: (p: Record<string, unknown>) => void): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(payload);
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

export const tenancy: Group = {
  name: 'tenancy',
  attacks: [
    {
      name: "app A's token reads nothing of app B's conversation with the same user ids (sync, history, pull, read)",
      async run({ world }) {
        const b = await world.online(world.bystander, 'alice', { gate: 0 });
        const ack = await b.request({
          send: { clientMsgId: `b-${Date.now()}`, to: 'bob', body: canary(world.bystander.appId, 'tenancy read') },
        });
        expect(ack.body).toBe('sendAck');
        for (const transport of ['ws', 'tcp'] as const) {
          const a = await world.online(world.attacker, 'bob', { transport, gate: -1 });
          const seen = [
            ...((await a.request({ sync: { cursors: [{ conversation: conv, seq: 0 }], pageSize: 500 } })).syncPage!.messages ?? []),
            ...((await a.request({ history: { conversation: conv, limit: 200, newestFirst: true } })).historyResult!.messages ?? []),
            ...((await a.request({ pull: { conversation: conv, fromSeq: 1, toSeq: Number(ack.sendAck!.seq) + 5 } })).pullResult!.messages ??
              []),
          ];
          expect(seen.filter((m) => canaryTenant(m.body) === world.bystander.appId)).toHaveLength(0);
          // A read receipt in A moves nothing in B.
          const read = await a.request({ read: { conversation: conv, seq: Number(ack.sendAck!.seq) } });
          expect(read.body === 'readAck' || read.body === 'error').toBe(true);
          a.close();
        }
        const bob = await world.online(world.bystander, 'bob', { gate: -1 });
        const page = await bob.request({ sync: { cursors: [], pageSize: 500 } });
        const summary = page.syncPage!.conversations!.find((c) => c.conversation === conv);
        expect(Number(summary?.readSeq ?? 0), "bob's read cursor in app B").toBe(0);
      },
    },
    {
      name: "app A's sends to the same user ids land in app A, never in app B",
      async run({ world }) {
        const bobB = await world.online(world.bystander, 'bob', { gate: -1, transport: 'tcp' });
        const aliceA = await world.online(world.attacker, 'alice', { gate: 0 });
        const a = await aliceA.request({
          send: { clientMsgId: `a-${Date.now()}`, to: 'bob', body: canary(world.attacker.appId, 'sent in A') },
        });
        expect(a.body).toBe('sendAck');
        // A later message in B reaches bob of B; nothing of A came first (the canary scan sees every frame bob got).
        const aliceB = await world.online(world.bystander, 'alice', { gate: 0 });
        const idB = `b-${Date.now()}`;
        expect(
          (await aliceB.request({ send: { clientMsgId: idB, to: 'bob', body: canary(world.bystander.appId, 'sent in B') } })).body,
        ).toBe('sendAck');
        await bobB.next((f) => f.body === 'push' && f.push!.messages!.some((m) => m.clientMsgId === idB), 10_000);
        const history = await bobB.request({ history: { conversation: conv, limit: 200 } });
        expect(history.historyResult!.messages!.filter((m) => canaryTenant(m.body) !== world.bystander.appId)).toHaveLength(0);
      },
    },
    {
      name: "groups: a user of app A reaches nothing of app B's group of the same id, nor a non-member of B its own app's group, on every request type",
      async run({ world }) {
        const owner = await world.online(world.bystander, 'alice', { gate: 0 });
        const groupId = `grp-${Date.now()}`;
        const conversation = `g:${groupId}`;
        const created = await owner.request({ groupCreate: { clientMsgId: `gc-${groupId}`, groupId, name: 'B', members: ['bob'] } });
        expect(created.body).toBe('sendAck');
        const sent = await owner.request({
          send: { clientMsgId: `gs-${groupId}`, groupId, body: canary(world.bystander.appId, 'group of B') },
        });
        expect(sent.body).toBe('sendAck');
        const frames = (tag: string): Array<[Parameters<AttackClient['request']>[0], string]> => [
          [{ send: { clientMsgId: `x-${tag}`, groupId, body: canary(world.attacker.appId, 'into B') } }, 'send'],
          [{ history: { conversation, limit: 50 } }, 'history'],
          [{ pull: { conversation, fromSeq: 1, toSeq: 10 } }, 'pull'],
          [{ read: { conversation, seq: 1 } }, 'read'],
          [{ readers: { conversation, seq: 1 } }, 'readers'],
          [{ recall: { clientMsgId: `r-${tag}`, conversation, seq: Number(sent.sendAck!.seq) } }, 'recall'],
          [{ groupMembers: { groupId } }, 'members'],
          [{ groupChange: { clientMsgId: `c-${tag}`, groupId, add: { userIds: ['mallory'] } } }, 'add'],
          [{ groupChange: { clientMsgId: `d-${tag}`, groupId, dissolve: {} } }, 'dissolve'],
        ];
        // "bob" of app A: the same user id as a member of B's group.
        const outsider = await world.online(world.attacker, 'bob', { gate: -1 });
        for (const [frame, what] of frames('a')) await expectRequestRefused(outsider, frame, 'IM_GROUP_NOT_FOUND', `app A: ${what}`);
        const page = await outsider.request({ sync: { cursors: [{ conversation, seq: 0 }], pageSize: 500 } });
        expect(page.syncPage!.messages!.filter((m) => canaryTenant(m.body) === world.bystander.appId)).toHaveLength(0);
        const stranger = await world.online(world.bystander, 'mallory', { gate: -1, transport: 'tcp' });
        for (const [frame, what] of frames('b')) await expectRequestRefused(stranger, frame, 'IM_GROUP_NOT_MEMBER', `non-member: ${what}`);
        // Nothing of theirs landed in the group.
        const history = await owner.request({ history: { conversation, limit: 50 } });
        expect(history.historyResult!.messages!.map((m) => m.sender)).toEqual(['alice', 'alice']);
      },
    },
    {
      name: 'conversations of other members (in the same app) are refused on every request type',
      async run({ world }) {
        const c = await world.online(world.attacker, 'mallory', { gate: 0 });
        const other = singleConversation('alice', 'bob');
        await expectRequestRefused(c, { history: { conversation: other } }, 'IM_FORBIDDEN', 'history');
        await expectRequestRefused(c, { pull: { conversation: other, fromSeq: 1, toSeq: 10 } }, 'IM_FORBIDDEN', 'pull');
        await expectRequestRefused(c, { read: { conversation: other, seq: 1 } }, 'IM_FORBIDDEN', 'read');
        await expectRequestRefused(c, { recall: { clientMsgId: 'r1', conversation: other, seq: 1 } }, 'IM_FORBIDDEN', 'recall');
        await expectRequestRefused(c, { pushAck: { cursors: [{ conversation: other, seq: 1 }] } }, 'IM_FORBIDDEN', 'pushAck');
        const sync = await c.request({ sync: { cursors: [{ conversation: other, seq: 0 }] } });
        expect(sync.syncPage!.messages).toHaveLength(0);
        expect(c.isClosed).toBe(false);
      },
    },
    {
      name: "tokens that cross apps: A's claim signed with B's secret, B's claim signed with A's, A's token with its app claim edited to B",
      async run({ world, gate }) {
        const a = world.attacker;
        const b = world.bystander;
        const tokens = [
          (await mintToken(a.appId, b.secret, 'alice', 600)).token,
          (await mintToken(b.appId, a.secret, 'alice', 600)).token,
          withPayload(await world.token(a, 'alice'), (p) => (p.app = b.appId)),
          withPayload(await world.token(a, 'alice'), (p) => (p.sub = 'bob')),
        ];
        for (const [i, token] of tokens.entries()) {
          for (const transport of ['ws', 'tcp'] as const) {
            const c = await AttackClient.open(transport, gate, '');
            c.send({ auth: { token, deviceId: `x-${i}` } });
            await expectRefused(c, 'IM_TOKEN_INVALID', { what: `crossed token ${i} over ${transport}` });
          }
        }
      },
    },
    {
      name: 'unsigned tokens (alg "none") claiming either app',
      async run({ world, gate }) {
        for (const app of [world.attacker, world.bystander]) {
          const token = new UnsecuredJWT({ app: app.appId, iat_ms: Date.now() })
            .setSubject('alice')
            .setAudience('imcloud')
            .setJti('j1')
            .setIssuedAt()
            .setExpirationTime('1h')
            .encode();
          const c = await AttackClient.open('ws', gate, '');
          c.send({ auth: { token, deviceId: 'none-1' } });
          await expectRefused(c, 'IM_TOKEN_INVALID', { what: 'alg none' });
        }
      },
    },
    {
      name: "an app's secret acts on that app only in the admin API (mint, revoke, read, webhooks, list other apps)",
      async run({ world, target }) {
        const basic = {
          authorization: `Basic ${Buffer.from(`${world.attacker.appId}:${world.attacker.secret}`).toString('base64')}`,
          'content-type': 'application/json',
        };
        const b = world.bystander.appId;
        const tries: Array<[string, string, unknown]> = [
          ['POST', `/v1/apps/${b}/tokens`, { userId: 'alice' }],
          ['POST', `/v1/apps/${b}/revocations`, { userId: 'alice' }],
          ['GET', `/v1/apps/${b}`, undefined],
          ['PATCH', `/v1/apps/${b}`, { multiLogin: 'single' }],
          ['PUT', `/v1/apps/${b}/webhook`, { url: 'https://attacker.example/hook', events: ['message.sent'] }],
          ['GET', `/v1/apps/${b}/webhook`, undefined],
          ['DELETE', `/v1/apps/${b}/webhook`, undefined],
          ['GET', '/v1/apps', undefined],
          ['POST', '/v1/apps', { appId: 'stolen-app' }],
        ];
        for (const [method, path, body] of tries) {
          const res = await fetch(`${target.adminUrl}${path}`, {
            method,
            headers: basic,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          expect(res.status, `${method} ${path} with app A's secret`).toBe(403);
          expect(errorCode(text)).toBe('IM_ADMIN_FORBIDDEN');
        }
        // B is untouched: its alice still signs in.
        (await world.online(world.bystander, 'alice')).close();
      },
    },
  ],
};
