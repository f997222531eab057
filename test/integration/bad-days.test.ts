// Bad days: a backend that is down at start-up (clear log line, retries, readyz false until
// connected), and a poison message that ends in the dead-letter queue, counted in a metric.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { bus as names } from '../../services/shared/topology.js';
import { freePort, RoleProcess } from '../support/cluster.js';
import { testLogDir } from '../support/test-log-dir.js';
import { requireEnv } from './real-clients.js';

const logDir = testLogDir('bad-days');
const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function role(role: 'logic' | 'consumer', env: Record<string, string>): Promise<RoleProcess> {
  const port = await freePort();
  const p = new RoleProcess(
    role,
    `${role}-${port}`,
    port,
    0,
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      IMCLOUD_REDIS_URL: requireEnv('IMCLOUD_REDIS_URL'),
      IMCLOUD_RABBITMQ_URL: requireEnv('IMCLOUD_RABBITMQ_URL'),
      IMCLOUD_MONGODB_URL: requireEnv('IMCLOUD_MONGODB_URL'),
      IMCLOUD_NODE_ID: `${role}-${port}`,
      IMCLOUD_HTTP_HOST: '127.0.0.1',
      IMCLOUD_HTTP_PORT: String(port),
      IMCLOUD_LOG_LEVEL: 'info',
      ...env,
    },
    logDir,
  );
  cleanup.push(() => p.stop());
  return p;
}

/** A private redis-server on `port` (killed after the file), for tests that start or stop Redis. */
function startRedis(port: number): ChildProcess {
  const redis = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', logDir],
    { stdio: 'ignore' },
  );
  cleanup.push(() => void redis.kill('SIGKILL'));
  return redis;
}

const status = async (url: string) => (await fetch(url).catch(() => null))?.status ?? 0;
const logOf = (p: RoleProcess) => readFileSync(join(logDir, `${p.name}.log`), 'utf8');

describe('bad days', () => {
  it('starts without Redis: healthy, not ready, says why, and becomes ready once Redis is up', async () => {
    const redisPort = await freePort();
    const logic = await role('logic', { IMCLOUD_REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    const starting = logic.start().catch(() => undefined); // waits for readyz, which must not come yet
    await expect.poll(() => status(`${logic.url}/healthz`), { timeout: 20_000 }).toBe(200);
    expect(await status(`${logic.url}/readyz`)).toBe(503);
    await expect.poll(() => logOf(logic), { timeout: 10_000 }).toMatch(/redis: not connected to redis:\/\/127\.0\.0\.1:\d+; retrying/);

    startRedis(redisPort);
    await expect.poll(() => status(`${logic.url}/readyz`), { timeout: 30_000 }).toBe(200);
    await starting;
  });

  it('starts without MongoDB: not ready, and the log says what to check', async () => {
    const mongoPort = await freePort();
    const consumer = await role('consumer', { IMCLOUD_MONGODB_URL: `mongodb://127.0.0.1:${mongoPort}/` });
    void consumer.start().catch(() => undefined);
    await expect.poll(() => status(`${consumer.url}/healthz`), { timeout: 20_000 }).toBe(200);
    expect(await status(`${consumer.url}/readyz`)).toBe(503);
    await expect
      .poll(() => logOf(consumer), { timeout: 20_000 })
      .toMatch(/mongodb: cannot reach mongodb:\/\/127\.0\.0\.1:\d+\/; retrying \(is it running, and are the URL and credentials right\?\)/);
  });

  it('dead-letters a poison store record after the delivery limit and counts it', async () => {
    const consumer = await role('consumer', { IMCLOUD_MONGODB_DATABASE: `bad_days_${Date.now()}` });
    await consumer.start();
    const conn = await amqp.connect(requireEnv('IMCLOUD_RABBITMQ_URL'));
    cleanup.push(() => conn.close());
    const ch = await conn.createConfirmChannel();
    // Not a StoreRecord at all: the consumer can never store it.
    ch.sendToQueue(names.storeQueue, Buffer.from([0xff, 0xff, 0xff, 0x01]), { persistent: true });
    await ch.waitForConfirms();
    const deadLetters = async () => {
      const text = await (await fetch(`${consumer.url}/metrics`)).text();
      return Number(/imcloud_bus_dead_letters_total\{channel="store"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    await expect.poll(deadLetters, { timeout: 30_000 }).toBe(1);
    // The broker really holds it in the dead-letter queue.
    const dead = await ch.checkQueue(names.deadLetterQueue);
    expect(dead.messageCount).toBeGreaterThanOrEqual(1);
    // And the consumer is still healthy and consuming.
    expect(await status(`${consumer.url}/readyz`)).toBe(200);
  });
});

describe('bad days at shutdown', () => {
  for (const kind of ['consumer', 'logic'] as const) {
    it(`a ${kind} whose Redis is gone still stops promptly on SIGTERM`, async () => {
      const redisPort = await freePort();
      const redis = startRedis(redisPort);
      const p = await role(kind, { IMCLOUD_REDIS_URL: `redis://127.0.0.1:${redisPort}` });
      await p.start();
      redis.kill('SIGKILL');
      await expect.poll(() => logOf(p), { timeout: 10_000 }).toMatch(/redis: not connected/);
      await p.stop(); // SIGTERM; SIGKILL only after 15 s
      // It stopped by itself, cleanly, before the SIGKILL (which would leave no exit code): that is
      // what "promptly" means here, not a number of seconds a busy machine could stretch.
      expect(await p.exited).toBe(0);
    });
  }
});
