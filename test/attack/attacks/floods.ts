// Per-connection floods: IM_RATE_LIMITED first, then IM_FLOODING and a close.
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import { canary } from '../harness/canary.js';
import { AttackClient } from '../harness/client.js';
import type { Group } from '../harness/suite.js';

export const floods: Group = {
  name: 'per-connection floods',
  attacks: [
    {
      name: '600 pings in one write, before and after Auth, on both transports',
      async run({ world, gate }) {
        for (const transport of ['ws', 'tcp'] as const) {
          for (const authenticated of [false, true]) {
            const c = authenticated
              ? await world.online(world.attacker, 'flo', { transport })
              : await AttackClient.open(transport, gate, '');
            c.sendMany(Array.from({ length: 600 }, () => c.frame({ ping: {} })));
            const limited = await c.next((f) => f.error?.code === 'IM_RATE_LIMITED', 10_000, 'IM_RATE_LIMITED');
            expect(limited.error!.retryAfterMs).toBeGreaterThan(0);
            expect(limited.error!.fatal).toBe(false);
            const flooding = await c.next((f) => f.error?.code === 'IM_FLOODING', 10_000, 'IM_FLOODING');
            expect(flooding.error!.fatal).toBe(true);
            await c.closed(10_000);
            // gate.rateLimitBurst (200) pings were answered, not all 600.
            const pongs = c.all.filter((f) => f.body === 'pong').length;
            expect(pongs, 'pongs answered').toBeLessThanOrEqual(260);
          }
        }
      },
    },
    {
      name: '600 sends in one write: at most the burst is stored, then the connection is closed',
      async run({ world }) {
        const app = await world.createApp();
        const c = await world.online(app, 'spammer', { transport: 'tcp' });
        c.sendMany(
          Array.from({ length: 600 }, (_, i) =>
            c.frame({ send: { clientMsgId: `s${i}`, to: 'victim', body: canary(app.appId, `spam ${i}`) } }),
          ),
        );
        await c.next((f) => f.error?.code === 'IM_FLOODING', 10_000, 'IM_FLOODING');
        await c.closed(10_000);
        const victim = await world.online(app, 'victim');
        const conversation = singleConversation('spammer', 'victim');
        const count = async () => {
          let n = 0;
          for (let from = 1; ; from += 200) {
            const page = await victim.request({ history: { conversation, fromSeq: from, limit: 200 } });
            n += page.historyResult!.messages!.length;
            if (!page.historyResult!.hasMore) return n;
          }
        };
        // The accepted sends may still be on their way: count until two reads 300 ms apart agree.
        let stored = await count();
        for (let settled = false, i = 0; !settled && i < 30; i++) {
          await new Promise((r) => setTimeout(r, 300));
          const again = await count();
          settled = again === stored && again > 0;
          stored = again;
        }
        expect(stored, 'messages stored from the flood').toBeLessThanOrEqual(260);
        expect(stored).toBeGreaterThan(0);
      },
    },
  ],
};
