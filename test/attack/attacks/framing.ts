// Framing: version byte, garbage protobuf, broken TCP length prefixes, zero-length and
// body-less frames, frame types only a server sends, frames before Auth.
import { expect } from 'vitest';
import { encodeFrame } from '../../../protocol/frame-codec.js';
import { canary, UNAUTHENTICATED } from '../harness/canary.js';
import { expectRefused } from '../harness/checks.js';
import { AttackClient, type Transport } from '../harness/client.js';
import type { Group } from '../harness/suite.js';

const transports: Transport[] = ['ws', 'tcp'];
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export const framing: Group = {
  name: 'framing',
  attacks: [
    {
      name: 'wrong protocol version bytes (0, 2, 255) before and after Auth',
      async run({ world, gate }) {
        for (const transport of transports) {
          for (const version of [0, 2, 255]) {
            const c = await AttackClient.open(transport, gate, '');
            const bytes = encodeFrame({ ping: {} });
            bytes[0] = version;
            c.sendBytes(bytes);
            await expectRefused(c, 'IM_PROTOCOL_VERSION', { what: `version ${version} over ${transport}` });
          }
          const online = await world.online(world.attacker, 'vera', { transport });
          const bytes = encodeFrame({ send: { clientMsgId: 'v', to: 'bob', body: canary(world.attacker.appId, 'v2') } });
          bytes[0] = 2;
          online.sendBytes(bytes);
          await expectRefused(online, 'IM_PROTOCOL_VERSION', { what: `version 2 after auth over ${transport}` });
        }
      },
    },
    {
      name: 'garbage protobuf: truncated varints, wrong wire types, lengths past the end, random bytes',
      async run({ gate }) {
        const garbage = [
          [1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12],
          [1, 0x52, 0xff, 0xff, 0xff, 0xff, 0x0f],
          [1, 0x52, 0x10, 0x0a],
          [1, 0x57],
          [1, 0x0f, 0x0f, 0x0f],
          [1, ...Array.from({ length: 200 }, (_, i) => (i * 97 + 13) & 0xff)],
        ];
        for (const transport of transports) {
          for (const bytes of garbage) {
            const c = await AttackClient.open(transport, gate, '');
            c.sendBytes(new Uint8Array(bytes));
            await expectRefused(c, ['IM_FRAME_MALFORMED'], { what: `garbage ${bytes.slice(0, 6).join(',')} over ${transport}` });
          }
        }
      },
    },
    {
      name: 'TCP length prefixes cut short, then FIN or silence; a prefix promising more than ever comes',
      async run({ gate }) {
        // Two bytes of a prefix, then FIN: the server closes its side too.
        const fin = await AttackClient.tcp(gate.tcpPort, '');
        fin.writeRaw(new Uint8Array([0, 0]));
        fin.endWriting();
        await fin.closed(5_000);
        // A prefix of 50 with 10 bytes, then FIN.
        const short = await AttackClient.tcp(gate.tcpPort, '');
        short.writeRaw(Buffer.concat([u32(50), Buffer.alloc(10, 1)]));
        short.endWriting();
        await short.closed(5_000);
        // Three bytes of a prefix, then nothing; a prefix promising 1,000 bytes with 999 of them:
        // both cut off by the auth timeout.
        const silent = await AttackClient.tcp(gate.tcpPort, '');
        silent.writeRaw(new Uint8Array([0, 0, 0]));
        const promise = await AttackClient.tcp(gate.tcpPort, '');
        promise.writeRaw(Buffer.concat([u32(1000), Buffer.alloc(999, 7)]));
        await Promise.all([
          expectRefused(silent, 'IM_AUTH_TIMEOUT', { timeoutMs: 8_000, what: 'partial prefix, then silence' }),
          expectRefused(promise, 'IM_AUTH_TIMEOUT', { timeoutMs: 8_000, what: 'frame never completed' }),
        ]);
      },
    },
    {
      name: 'TCP lengths over the limit (limit + 1, 2^31, 2^32 - 1), before and after Auth',
      async run({ world, gate }) {
        for (const len of [64 * 1024 + 1, 2 ** 31, 2 ** 32 - 1]) {
          const c = await AttackClient.tcp(gate.tcpPort, '');
          c.writeRaw(Buffer.concat([u32(len), Buffer.alloc(16)]));
          await expectRefused(c, 'IM_FRAME_TOO_LARGE', { what: `length ${len}` });
        }
        const online = await world.online(world.attacker, 'lena', { transport: 'tcp' });
        online.writeRaw(u32(2 ** 32 - 1));
        await expectRefused(online, 'IM_FRAME_TOO_LARGE', { what: 'after auth' });
      },
    },
    {
      name: 'zero-length frames and text WebSocket messages',
      async run({ world, gate }) {
        for (const transport of transports) {
          const c = await AttackClient.open(transport, gate, '');
          c.sendBytes(new Uint8Array(0));
          await expectRefused(c, 'IM_FRAME_MALFORMED', { what: `zero-length over ${transport}` });
          const online = await world.online(world.attacker, 'zed', { transport });
          online.sendBytes(new Uint8Array(0));
          await expectRefused(online, 'IM_FRAME_MALFORMED', { what: `zero-length after auth over ${transport}` });
        }
        const text = await AttackClient.ws(gate.wsUrl, '');
        text.sendText('{"auth":{}}');
        await expectRefused(text, 'IM_FRAME_MALFORMED', { what: 'text message' });
      },
    },
    {
      name: 'body-less frames, frames only a server sends, and a second Auth: refused without closing',
      async run({ world }) {
        for (const transport of transports) {
          const c = await world.online(world.attacker, 'uma', { transport });
          c.sendBytes(new Uint8Array([1, 0x08, 0x07]));
          await expectRefused(c, 'IM_FRAME_UNKNOWN_TYPE', { fatal: false, what: 'no body' });
          for (const frame of [
            { sendAck: { clientMsgId: 'x' } },
            { push: { messages: [{ conversation: 's:a:b', body: canary(UNAUTHENTICATED, 'pushed by a client') }] } },
            { kick: {} },
            { authOk: { appId: 'x', userId: 'root' } },
            { error: { code: 'IM_INTERNAL' } },
            { hint: { reconnectAfterMs: 1 } },
          ]) {
            const reply = await c.request(frame);
            expect(reply.error?.code, `${Object.keys(frame)[0]} from a client`).toBe('IM_FRAME_UNKNOWN_TYPE');
          }
          const twice = await c.request({ auth: { token: 'x', deviceId: 'd' } });
          expect(twice.error?.code).toBe('IM_ALREADY_AUTHENTICATED');
          expect((await c.request({ ping: {} })).body).toBe('pong');
          expect(c.isClosed).toBe(false);
        }
      },
    },
    {
      name: 'requests before Auth (each alone, waiting for the answer) are refused and closed, and nothing is stored',
      async run({ world, gate }) {
        const frames = [
          { send: { clientMsgId: 'pre-1', to: 'bob', body: canary(UNAUTHENTICATED, 'before auth') } },
          { sync: { cursors: [] } },
          { history: { conversation: 's:alice:bob' } },
          { pull: { conversation: 's:alice:bob', fromSeq: 1 } },
          { read: { conversation: 's:alice:bob', seq: 1 } },
          { recall: { clientMsgId: 'r', conversation: 's:alice:bob', seq: 1 } },
          { pushAck: { cursors: [{ conversation: 's:alice:bob', seq: 1 }] } },
          { logout: {} },
        ];
        for (const transport of transports) {
          for (const frame of frames) {
            const c = await AttackClient.open(transport, gate, '');
            c.send(frame);
            await expectRefused(c, 'IM_AUTH_REQUIRED', { what: `${Object.keys(frame)[0]} before auth over ${transport}` });
          }
        }
        // Pings are answered before Auth.
        const pinger = await AttackClient.open('tcp', gate, '');
        expect((await pinger.request({ ping: { clientTime: 1 } })).body).toBe('pong');
        // bob's own sync in both apps shows nothing that was sent before Auth (the canary scan checks every frame).
        for (const app of [world.attacker, world.bystander]) {
          const bob = await world.online(app, 'bob');
          expect((await bob.request({ sync: { cursors: [], pageSize: 500 } })).body).toBe('syncPage');
        }
      },
    },
  ],
};
