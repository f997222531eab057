// Redis loses everything (FLUSHALL) under load: no seq may be issued twice in a conversation,
// no acked message may be lost, and clients reconnect and resync.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testLogDir } from '../support/test-log-dir.js';
import { type ChaosWorld, ChatLoad, settledAccount, startWorld, waitUntil } from './chaos-fixture.js';

const logDir = testLogDir('wipe');
let world: ChaosWorld;
let load: ChatLoad;

beforeAll(async () => {
  world = await startWorld('wipe', logDir);
  load = new ChatLoad(world, 4);
  await load.connect();
}, 300_000);

afterAll(async () => {
  await load?.close();
  await world?.stop();
});

it('never reissues a seq and loses nothing when Redis is wiped', async () => {
  load.start(100);
  // Traffic for every pair before the wipe, and again after it (conditions, not seconds).
  await load.progress(20, 'before the wipe');
  const redis = new Redis(world.servers.redis!.url);
  world.log(`FLUSHALL (${load.sent.length} acked so far)`);
  await redis.flushall();
  redis.disconnect();
  await load.progress(40, 'after the wipe');
  await load.stopSending();
  await waitUntil(() => load.delivered() >= load.expectedDeliveries(), 60_000, 'every acked message to reach every device').catch(
    (err: Error) => world.log(err.message),
  );

  // No (conversation, seq) was acked for two different messages.
  const owners = new Map<string, string>();
  let reissued = 0;
  for (const s of load.sent) {
    const key = `${s.conversation}#${s.seq}`;
    const owner = owners.get(key);
    if (owner !== undefined && owner !== s.clientMsgId) reissued++;
    owners.set(key, s.clientMsgId);
  }
  // The consumers write the store behind the pushes: wait for the rows, as the chaos test does.
  const result = await settledAccount(world, load, 60_000);
  console.log(`redis-wipe: ${result.line} reissued=${reissued}`);
  if (result.details.length) world.log(result.details.slice(0, 20).join('\n'));
  expect(reissued).toBe(0);
  expect(result.lost).toBe(0);
  expect(result.duplicated).toBe(0);
  expect(result.reordered).toBe(0);
}, 300_000);
