// The chaos test of the distributed mode: under a steady stream of sends, kill -9 one logic,
// one gate and one consumer (restarting each), restart RabbitMQ once and Redis once, then
// prove that nothing acked was lost, duplicated or reordered, in single chats and in a group of
// every user (each group message counted on every member device).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testLogDir } from '../support/test-log-dir.js';
import { type ChaosWorld, ChatLoad, settledAccount, startWorld, waitUntil } from './chaos-fixture.js';

const logDir = testLogDir('chaos');
let world: ChaosWorld;
let load: ChatLoad;

beforeAll(async () => {
  world = await startWorld('chaos', logDir);
  load = new ChatLoad(world, 6);
  await load.connect();
}, 300_000);

afterAll(async () => {
  await load?.close();
  await world?.stop();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('loses, duplicates and reorders nothing while roles are killed and servers restart', async () => {
  const { cluster, servers, log } = world;
  load.start(150);
  // Between two faults, traffic must flow again for every pair: what each step waits for is
  // that, not a number of seconds (a busy machine recovers more slowly, not less surely).
  const flowing = 30;
  await load.progress(flowing, 'before the first kill');

  for (const role of ['logic', 'gate', 'consumer'] as const) {
    const victim = cluster.byRole(role)[0]!;
    log(`kill -9 ${victim.name} (${load.sent.length} acked so far)`);
    await victim.kill9();
    await pause(2000); // the role stays down a while
    await victim.start();
    log(`${victim.name} restarted`);
    await load.progress(flowing, `after ${victim.name} came back`);
  }
  log('restarting RabbitMQ');
  await servers.rabbitmq!.restart();
  log('RabbitMQ is back');
  await load.progress(flowing, 'after the RabbitMQ restart');
  log('restarting Redis (append-only file on)');
  await servers.redis!.restart();
  log('Redis is back');
  await load.progress(flowing, 'after the Redis restart');

  await load.stopSending();
  log(`stopped sending: ${load.attempts} sent, ${load.sent.length} acked, ${load.failures} failed; waiting for deliveries`);
  await waitUntil(() => load.delivered() >= load.expectedDeliveries(), 90_000, 'every acked message to reach every device').catch(
    (err: Error) => log(err.message),
  );

  // Stored rows: the consumers catch up from the durable queue.
  const result = await settledAccount(world, load, 60_000);
  console.log(`chaos: ${result.line}`);
  if (result.details.length) log(result.details.slice(0, 20).join('\n'));
  expect(load.sent.length).toBeGreaterThan(200);
  // Group messages flowed through every fault too, each to every member device.
  expect(load.groupCounts().acked).toBeGreaterThan(50);
  expect(load.failures).toBe(0);
  expect(result.lost).toBe(0);
  expect(result.duplicated).toBe(0);
  expect(result.reordered).toBe(0);
}, 400_000);
