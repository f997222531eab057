import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConversationLanes } from './conversation-lanes.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ConversationLanes', () => {
  it('runs each key’s tasks one at a time in the order given, whatever they take and whether they fail', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), ticks: fc.integer({ min: 0, max: 3 }), fails: fc.boolean() }), {
          maxLength: 40,
        }),
        async (tasks) => {
          const lanes = new ConversationLanes();
          const started: Array<{ key: string; i: number }> = [];
          const running = new Map<string, number>();
          let overlap = false;
          const all = tasks.map((t, i) =>
            lanes
              .run(t.key, async () => {
                started.push({ key: t.key, i });
                running.set(t.key, (running.get(t.key) ?? 0) + 1);
                if (running.get(t.key)! > 1) overlap = true;
                for (let n = 0; n < t.ticks; n++) await tick();
                running.set(t.key, running.get(t.key)! - 1);
                if (t.fails) throw new Error('dead-lettered');
              })
              .catch(() => undefined),
          );
          await Promise.all(all);
          expect(overlap).toBe(false);
          for (const key of ['a', 'b', 'c']) {
            const order = started.filter((s) => s.key === key).map((s) => s.i);
            expect(order).toEqual([...order].sort((x, y) => x - y));
            expect(order).toHaveLength(tasks.filter((t) => t.key === key).length);
          }
          await tick();
          expect(lanes.size).toBe(0);
        },
      ),
    );
  });

  it('a slow conversation does not hold up another', async () => {
    const lanes = new ConversationLanes();
    let release!: () => void;
    const slow = lanes.run('slow', () => new Promise<void>((resolve) => (release = resolve)));
    let fastDone = false;
    await lanes.run('fast', async () => {
      fastDone = true;
    });
    expect(fastDone).toBe(true);
    release();
    await slow;
  });
});
