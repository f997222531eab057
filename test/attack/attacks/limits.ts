// Oversize frames and bodies, field limits, bad ids: refused with their codes, nothing stored.
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import { encodeFrame } from '../../../protocol/frame-codec.js';
import { canary } from '../harness/canary.js';
import { expectRefused, expectRequestRefused } from '../harness/checks.js';
import { AttackClient } from '../harness/client.js';
import { errorCode, rawRequest, requestText } from '../harness/http.js';
import type { Group } from '../harness/suite.js';

const MAX_FRAME = 64 * 1024;

export const limits: Group = {
  name: 'limits',
  attacks: [
    {
      name: 'oversize frames: just over gate.maxFrameBytes on both transports, and 5 MB over WebSocket',
      async run({ world, gate }) {
        for (const transport of ['ws', 'tcp'] as const) {
          const c = await AttackClient.open(transport, gate, '');
          c.sendBytes(encodeFrame({ auth: { token: 'x'.repeat(MAX_FRAME + 10), deviceId: 'd' } }));
          await expectRefused(c, 'IM_FRAME_TOO_LARGE', { what: `oversize over ${transport}` });
          const online = await world.online(world.attacker, 'otto', { transport });
          online.sendBytes(encodeFrame({ send: { clientMsgId: 'big', to: 'bob', body: new Uint8Array(MAX_FRAME + 10) } }));
          await expectRefused(online, 'IM_FRAME_TOO_LARGE', { what: `oversize after auth over ${transport}` });
        }
        // Past what ws itself accepts: it closes the socket (1009) without an error frame.
        const huge = await AttackClient.ws(gate.wsUrl, '');
        huge.sendBytes(new Uint8Array(5 * 1024 * 1024));
        const closed = await huge.closed(10_000);
        expect([1009, 4000, 1006]).toContain(closed.code);
      },
    },
    {
      name: 'field limits: body over logic.maxBodyBytes, client_msg_id too long / empty / not printable, content_type too long',
      async run({ world }) {
        const c = await world.online(world.attacker, 'fiona', { transport: 'tcp' });
        const body = canary(world.attacker.appId, 'limits');
        await expectRequestRefused(
          c,
          { send: { clientMsgId: 'big-body', to: 'bob', body: new Uint8Array(40 * 1024) } },
          'IM_BODY_TOO_LARGE',
          'body of 40 KB',
        );
        await expectRequestRefused(c, { send: { clientMsgId: 'x'.repeat(65), to: 'bob', body } }, 'IM_BAD_REQUEST', 'client_msg_id of 65');
        await expectRequestRefused(c, { send: { clientMsgId: '', to: 'bob', body } }, 'IM_BAD_REQUEST', 'empty client_msg_id');
        await expectRequestRefused(
          c,
          { send: { clientMsgId: 'tab\there', to: 'bob', body } },
          'IM_BAD_REQUEST',
          'client_msg_id with a tab',
        );
        await expectRequestRefused(c, { send: { clientMsgId: 'ünicode', to: 'bob', body } }, 'IM_BAD_REQUEST', 'client_msg_id not ASCII');
        await expectRequestRefused(
          c,
          { send: { clientMsgId: 'ct', to: 'bob', contentType: 'x'.repeat(65), body } },
          'IM_BAD_REQUEST',
          'content_type of 65',
        );
        await expectRequestRefused(
          c,
          { recall: { clientMsgId: 'y'.repeat(65), conversation: singleConversation('fiona', 'bob'), seq: 1 } },
          'IM_BAD_REQUEST',
          'recall client_msg_id of 65',
        );
        // None of those was stored.
        const history = await c.request({ history: { conversation: singleConversation('fiona', 'bob') } });
        expect(history.historyResult?.messages ?? []).toHaveLength(0);
      },
    },
    {
      name: 'bad conversation and user ids on every request type',
      async run({ world }) {
        const c = await world.online(world.attacker, 'bob', { transport: 'ws' });
        const body = canary(world.attacker.appId, 'bad ids');
        const badConversations = [
          'nonsense',
          's:bob',
          's:bob:alice',
          's:alice:bob:x',
          's:bob:',
          's::bob',
          'g:alice:bob',
          `s:alice:${'b'.repeat(5000)}`,
          's:alice:bob\u0000',
          '',
        ];
        for (const conversation of badConversations) {
          const what = JSON.stringify(conversation.slice(0, 30));
          await expectRequestRefused(c, { history: { conversation } }, 'IM_BAD_REQUEST', `history ${what}`);
          await expectRequestRefused(c, { pull: { conversation, fromSeq: 1 } }, 'IM_BAD_REQUEST', `pull ${what}`);
          await expectRequestRefused(c, { read: { conversation, seq: 1 } }, 'IM_BAD_REQUEST', `read ${what}`);
          await expectRequestRefused(c, { recall: { clientMsgId: 'r', conversation, seq: 1 } }, 'IM_BAD_REQUEST', `recall ${what}`);
        }
        for (const to of ['', 'a:b', '../../x', 'x'.repeat(65), 'with space', '*', 'ü']) {
          await expectRequestRefused(
            c,
            { send: { clientMsgId: `to-${to.length}-${to.charCodeAt(0) || 0}`, to, body } },
            'IM_BAD_REQUEST',
            `send to ${JSON.stringify(to.slice(0, 20))}`,
          );
        }
        expect(c.isClosed).toBe(false);
      },
    },
    {
      name: 'huge numbers and lists: pageSize and limit 2^32-1, seq 2^53, 2,000 push-ack cursors',
      async run({ world }) {
        const c = await world.online(world.attacker, 'nina', { transport: 'tcp' });
        expect((await c.request({ send: { clientMsgId: 'n1', to: 'bob', body: canary(world.attacker.appId, 'numbers') } })).body).toBe(
          'sendAck',
        );
        const conversation = singleConversation('nina', 'bob');
        const page = await c.request({ sync: { cursors: [], pageSize: 2 ** 32 - 1 } });
        expect(page.body).toBe('syncPage');
        const history = await c.request({ history: { conversation, limit: 2 ** 32 - 1, fromSeq: 0, toSeq: Number.MAX_SAFE_INTEGER } });
        expect(history.historyResult!.messages).toHaveLength(1);
        const pull = await c.request({ pull: { conversation, fromSeq: Number.MAX_SAFE_INTEGER, toSeq: Number.MAX_SAFE_INTEGER } });
        expect(pull.pullResult!.messages).toHaveLength(0);
        const read = await c.request({ read: { conversation, seq: Number.MAX_SAFE_INTEGER } });
        expect(Number(read.readAck!.readSeq)).toBe(1);
        c.send({ pushAck: { cursors: Array.from({ length: 2000 }, (_, i) => ({ conversation, seq: i })) } });
        expect((await c.request({ ping: {} })).body).toBe('pong');
        expect(c.isClosed).toBe(false);
      },
    },
    {
      name: 'bad device ids at Auth: empty, with spaces, 129 characters',
      async run({ world, gate }) {
        for (const deviceId of ['', 'has space', 'd'.repeat(129), 'tab\t', 'ü']) {
          const c = await AttackClient.open('ws', gate, '');
          c.send({ auth: { token: await world.token(world.attacker, 'dora'), deviceId } });
          const err = await c.nextError();
          expect(['IM_TOKEN_INVALID', 'IM_BAD_REQUEST'], `device id ${JSON.stringify(deviceId.slice(0, 10))}: ${err.code}`).toContain(
            err.code,
          );
          expect(err.fatal).toBe(true);
          await c.closed();
          expect(c.all.some((f) => f.body === 'authOk')).toBe(false);
        }
      },
    },
    {
      name: 'oversize HTTP: a 2 MB body with valid credentials, 100 KB of headers',
      async run({ world, target, httpUrls }) {
        // On a connection of its own (see 'http surface' for what it does to a kept-alive one).
        const big = JSON.stringify({ userId: 'u', pad: 'x'.repeat(2 * 1024 * 1024) });
        const answer = await rawRequest(
          target.adminUrl,
          requestText(
            'POST',
            `/v1/apps/${world.attacker.appId}/tokens`,
            { authorization: `Bearer ${target.adminToken}`, 'content-type': 'application/json' },
            big,
          ),
          { timeoutMs: 10_000 },
        );
        expect([400, 413], `status for a 2 MB body: ${answer.text.split('\r\n')[0] || answer.error}`).toContain(answer.status);
        expect(errorCode(answer.body)).toMatch(/^IM_/);
        for (const url of httpUrls) {
          const answer = await rawRequest(url, requestText('GET', '/healthz', { 'x-big': 'h'.repeat(100 * 1024) }), { timeoutMs: 5_000 });
          expect(answer.status, `${url}: 100 KB of headers`).toBe(431);
        }
      },
    },
  ],
};
