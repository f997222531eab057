// Connection churn: hundreds of connects and closes, resets, logins abandoned half-way, and
// half-open TCP connections. The gate forgets every one of them.
import { expect } from 'vitest';
import { pool, processesOf, sleep } from '../harness/checks.js';
import { AttackClient, type Transport } from '../harness/client.js';
import { metricSum } from '../harness/http.js';
import type { AttackContext, Group } from '../harness/suite.js';

/** Polls the attacked gate's open-connection gauge until it is back at `baseline`; returns what it last saw. */
async function connectionsBackTo(ctx: AttackContext, baseline: number, timeoutMs = 10_000): Promise<number> {
  const gate = processesOf(ctx.target, 'gate')[0]!;
  const deadline = Date.now() + timeoutMs;
  let seen = await metricSum(gate.url, 'imcloud_gate_connections');
  while (seen > baseline && Date.now() < deadline) {
    await sleep(100);
    seen = await metricSum(gate.url, 'imcloud_gate_connections');
  }
  return seen;
}

/** The gauge once the connections closed before the attack are gone too (the harness holds none open). */
async function baseline(ctx: AttackContext): Promise<number> {
  return connectionsBackTo(ctx, 0, 5_000);
}

export const churn: Group = {
  name: 'churn',
  attacks: [
    {
      name: '600 connects and closes (WebSocket and TCP), 100 of them reset',
      async run(ctx) {
        const before = await baseline(ctx);
        const jobs = Array.from({ length: 600 }, (_, i) => i);
        await pool(jobs, 50, async (i) => {
          const transport: Transport = i % 2 ? 'tcp' : 'ws';
          const c = await AttackClient.open(transport, ctx.gate, '');
          if (i % 6 === 0) c.reset();
          else c.close();
        });
        expect(await connectionsBackTo(ctx, before), 'open connections on the gate after the churn').toBe(before);
      },
    },
    {
      name: '200 logins abandoned half-way: Auth sent, connection closed or reset before AuthOk',
      async run(ctx) {
        const { world } = ctx;
        const app = await world.createApp();
        const token = await world.token(app, 'ghost');
        const before = await baseline(ctx);
        await pool(
          Array.from({ length: 200 }, (_, i) => i),
          40,
          async (i) => {
            const c = await AttackClient.open(i % 2 ? 'tcp' : 'ws', ctx.gate, app.appId);
            c.send({ auth: { token, deviceId: `ghost-${i}` } });
            if (i % 3 === 0) c.reset();
            else c.close();
          },
        );
        expect(await connectionsBackTo(ctx, before)).toBe(before);
        // Whatever routes the abandoned logins left go with their connections: a send to ghost is
        // still accepted (stored for later) and the user can sign in normally.
        const sender = await world.online(app, 'caspar');
        expect(
          (await sender.request({ send: { clientMsgId: 'to-ghost', to: 'ghost', body: new TextEncoder().encode('hello') } })).body,
        ).toBe('sendAck');
        const ghost = await world.online(app, 'ghost');
        const page = await ghost.request({ sync: { cursors: [] } });
        expect(page.syncPage!.messages!.map((m) => m.clientMsgId)).toContain('to-ghost');
      },
    },
    {
      name: 'half-open TCP: 150 connections that send nothing, half a frame, or half a frame and FIN',
      async run(ctx) {
        const before = await baseline(ctx);
        const clients = await pool(
          Array.from({ length: 150 }, (_, i) => i),
          50,
          async (i) => {
            const c = await AttackClient.tcp(ctx.gate.tcpPort, '');
            if (i % 3 >= 1) c.writeRaw(new Uint8Array([0, 0, 0, 40, 1, 0x52]));
            if (i % 3 === 2) c.endWriting();
            return c;
          },
        );
        // gate.authTimeoutMs is 2 s on the targets: every one is cut off well within 8 s.
        const closed = await Promise.all(clients.map((c) => c.closesWithin(8_000)));
        expect(closed.filter((x) => !x).length, 'half-open connections still open after 8 s').toBe(0);
        const timedOut = clients.filter((c) => c.all.some((f) => f.error?.code === 'IM_AUTH_TIMEOUT')).length;
        expect(timedOut, 'silent connections told IM_AUTH_TIMEOUT').toBeGreaterThanOrEqual(100);
        expect(await connectionsBackTo(ctx, before)).toBe(before);
      },
    },
    {
      name: '100 authenticated connections reset at once while messages are pushed to them',
      async run(ctx) {
        const { world } = ctx;
        const app = await world.createApp();
        const before = await baseline(ctx);
        const victims = await pool(
          Array.from({ length: 100 }, (_, i) => i),
          25,
          (i) => world.online(app, `v${i % 10}`, { transport: i % 2 ? 'tcp' : 'ws', gate: i }),
        );
        const sender = await world.online(app, 'pusher', { gate: 0 });
        for (let i = 0; i < 10; i++)
          sender.send({ send: { clientMsgId: `p${i}`, to: `v${i}`, body: new TextEncoder().encode('x'.repeat(1000)) } });
        for (const v of victims) v.reset();
        const acks = await Promise.all(Array.from({ length: 10 }, () => sender.nextOf('sendAck', 10_000)));
        expect(acks).toHaveLength(10);
        sender.close();
        expect(await connectionsBackTo(ctx, before)).toBe(before);
      },
    },
  ],
};
