// Overload from one tenant or one connection: a tenant flooding from many connections, and
// small history requests that ask for huge pages on a connection that does not read.
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import { canary } from '../harness/canary.js';
import { mb, pool, processesOf, sampleRss, sleep } from '../harness/checks.js';
import { metricSum } from '../harness/http.js';
import type { Group } from '../harness/suite.js';
import { INTENDED } from '../intended.js';

export const overload: Group = {
  name: 'overload',
  attacks: [
    {
      // Issue 5's figure (another tenant's ack latency within 2x of its unloaded value) is a
      // benchmark (bench/fairness.ts); here the other tenant's sends must all be acked and pushed
      // while the flood goes on, and their latencies are noted, not asserted (a busy machine
      // stretches them). Measured on main: the first bystander ack 0.5–2.2 s on the
      // multi-process layout (queued behind the flood), the others within ~0.2 s.
      name: "one tenant flooding sends from 20 connections: it gets IM_RATE_LIMITED and IM_APP_RATE_LIMITED, another tenant's sends are acked and pushed meanwhile",
      timeoutMs: 90_000,
      async run({ world, note }) {
        const flooder = await world.createApp();
        const calm = await world.createApp();
        const conns = await pool(
          Array.from({ length: 20 }, (_, i) => i),
          10,
          (i) => world.online(flooder, `f${i}`, { transport: i % 2 ? 'tcp' : 'ws', gate: i }),
        );
        const alice = await world.online(calm, 'alice', { gate: 0 });
        const bob = await world.online(calm, 'bob', { gate: -1 });
        let flooding = true;
        const body = canary(flooder.appId, 'flood');
        const floods = conns.map(async (c, i) => {
          // A burst past the connection's bucket, then a steady stream at its sustained rate.
          c.sendMany(Array.from({ length: 220 }, (_, k) => c.frame({ send: { clientMsgId: `b${k}`, to: `t${i}`, body } })));
          for (let wave = 0; flooding && !c.isClosed; wave++) {
            await sleep(250);
            c.sendMany(Array.from({ length: 20 }, (_, k) => c.frame({ send: { clientMsgId: `w${wave}-${k}`, to: `t${i}`, body } })));
          }
        });
        const latencies: number[] = [];
        let shed = 0;
        try {
          await sleep(300);
          for (let k = 0; k < 10; k++) {
            const started = performance.now();
            // As the SDK does: a send shed under overload (IM_UNAVAILABLE) is retried after its hint, same clientMsgId.
            let reply = await alice.request(
              { send: { clientMsgId: `calm-${k}`, to: 'bob', body: canary(calm.appId, `calm ${k}`) } },
              20_000,
            );
            while (reply.error?.code === 'IM_UNAVAILABLE' && performance.now() - started < 20_000) {
              shed += 1;
              await sleep(Math.max(100, reply.error.retryAfterMs ?? 500));
              reply = await alice.request({ send: { clientMsgId: `calm-${k}`, to: 'bob', body: canary(calm.appId, `calm ${k}`) } }, 20_000);
            }
            expect(reply.body, `bystander send ${k}: ${JSON.stringify(reply.error)}`).toBe('sendAck');
            latencies.push(performance.now() - started);
            await bob.next((f) => f.body === 'push' && f.push!.messages!.some((m) => m.clientMsgId === `calm-${k}`), 20_000);
            await sleep(200);
          }
        } finally {
          flooding = false;
          await Promise.all(floods);
        }
        const codes = new Map<string, number>();
        for (const c of conns)
          for (const f of c.all) if (f.body === 'error') codes.set(f.error!.code ?? '', (codes.get(f.error!.code ?? '') ?? 0) + 1);
        const acks = conns.reduce((n, c) => n + c.all.filter((f) => f.body === 'sendAck').length, 0);
        note(
          `bystander ack ms: ${latencies.map((l) => Math.round(l)).join(' ')} (${shed} shed and retried); flooder acks ${acks}, errors ${JSON.stringify(Object.fromEntries(codes))}`,
        );
        expect(codes.get('IM_RATE_LIMITED') ?? 0, 'IM_RATE_LIMITED seen by the flooder').toBeGreaterThan(0);
        expect(codes.get('IM_APP_RATE_LIMITED') ?? 0, 'IM_APP_RATE_LIMITED seen by the flooder').toBeGreaterThan(0);
        expect(latencies, 'every bystander send acked').toHaveLength(10);
      },
    },
    {
      name: 'history requests of ~40 bytes asking for huge pages of large messages, 20 at once on a connection that does not read',
      // Hardening issue 6. Before its fix the embedded process grew 410–450 MB at peak (20 replies of
      // 6.4 MB); on the multi-process layout logic grew 75–105 MB, under the bound.
      fresh: ['gate', 'logic'],
      timeoutMs: 120_000,
      async run({ world, target, note }) {
        const app = await world.createApp();
        const writer = await world.online(app, 'hoarder', { transport: 'tcp' });
        const conversation = singleConversation('hoarder', 'peer');
        const pad = 'x'.repeat(32 * 1024 - 100);
        for (let round = 0; round < 4; round++) {
          const ids = Array.from({ length: 50 }, (_, k) => `h${round}-${k}`);
          writer.sendMany(
            ids.map((id) =>
              writer.frame({ send: { clientMsgId: id, to: 'peer', body: new TextEncoder().encode(`canary|${app.appId}|${id}|${pad}`) } }),
            ),
          );
          for (const id of ids) {
            const ack = await writer.next(
              (f) => (f.body === 'sendAck' && f.sendAck!.clientMsgId === id) || f.body === 'error',
              30_000,
              `ack of ${id}`,
            );
            expect(ack.body, JSON.stringify(ack.error)).toBe('sendAck');
          }
        }
        writer.close();
        const logic = processesOf(target, 'logic');
        const handled = async () =>
          (await Promise.all(logic.map((p) => metricSum(p.url, 'imcloud_logic_upstream_total', { type: 'history' })))).reduce(
            (a, b) => a + b,
            0,
          );
        const gates = processesOf(target, 'gate');
        const slowClosed = async () =>
          (
            await Promise.all(gates.map((p) => metricSum(p.url, 'imcloud_gate_disconnects_total', { reason: INTENDED.slowConsumer })))
          ).reduce((a, b) => a + b, 0);
        const slowBefore = await slowClosed();
        const before = (await handled()) + 1;
        // One such request read normally first: the baseline has met a reply of this size before.
        const warm = await world.online(app, 'hoarder', { transport: 'tcp', deviceId: 'hoarder-warm' });
        expect((await warm.request({ history: { conversation, fromSeq: 1, limit: 200 } }, 30_000)).body).toBe('historyResult');
        warm.close();
        const reader = await world.online(app, 'hoarder', { transport: 'tcp', deviceId: 'hoarder-slow' });
        reader.pauseReading();
        await sleep(500);
        const rss = sampleRss(target.processes);
        reader.sendMany(Array.from({ length: 20 }, () => reader.frame({ history: { conversation, fromSeq: 1, limit: 200 } })));
        // Until logic has answered all 20 (or 60 s), sampling RSS all along, and a little after.
        const deadline = Date.now() + 60_000;
        while ((await handled()) < before + 20 && Date.now() < deadline) await sleep(100);
        await sleep(1_000);
        const stats = rss.stop();
        const growth = [...stats.entries()].map(([name, s]) => ({ name, growth: s.peak - s.before }));
        const worst = growth.reduce((a, b) => (b.growth > a.growth ? b : a));
        note(`peak RSS growth: ${growth.map((g) => `${g.name} +${mb(g.growth)}`).join(', ')}`);
        reader.resumeReading();
        const closed = await reader.closesWithin(15_000);
        const results = reader.all.map((f, i) => ({ body: f.body, size: reader.sizes[i]! })).filter((f) => f.body === 'historyResult');
        // The Error frame may be lost with the unread bytes when the gate resets the socket, so the
        // gate's own count of slow-consumer closes says it too.
        const slowConsumer = reader.all.some((f) => f.error?.code === INTENDED.slowConsumer) || (await slowClosed()) > slowBefore;
        note(
          `reader: ${results.length} history results (largest ${mb(Math.max(0, ...results.map((r) => r.size)))}), ${slowConsumer ? INTENDED.slowConsumer : 'no slow-consumer error'}, ${closed ? 'closed' : 'still open'}`,
        );
        if (!(slowConsumer && closed)) {
          for (const r of results) expect(r.size, 'bytes of one history reply').toBeLessThanOrEqual(INTENDED.historyReplyMaxBytes);
        }
        expect(worst.growth, `peak RSS growth of ${worst.name}`).toBeLessThan(INTENDED.historyFloodMaxRssGrowth);
      },
    },
  ],
};
