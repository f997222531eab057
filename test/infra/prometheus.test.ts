// Monitoring infrastructure: Prometheus started with Redis, RabbitMQ and FerretDB scrapes their
// exporters (prometheus-redis-exporter, the rabbitmq_prometheus plugin, prometheus-postgres-exporter
// on FerretDB's PostgreSQL), every target is up, one metric of each has a series, and setTargets
// adds a job later.

import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPrometheus, type Servers, serverEnv, startServers } from './index.js';

let servers: Servers;

beforeAll(async () => {
  servers = await startServers(['redis', 'rabbitmq', 'mongodb', 'prometheus']);
  await servers.prometheus!.waitForScrapes(1);
}, 10 * 60_000);

afterAll(async () => {
  await servers?.stop();
}, 60_000);

/** Polls `expr` until it returns a series (RabbitMQ refreshes its queue statistics every 5 s). */
async function series(expr: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await servers.prometheus!.query(expr);
    if (result.length || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('prometheus and the servers’ exporters', () => {
  it('scrapes the jobs redis, rabbitmq and postgresql, every target up', async () => {
    const targets = await servers.prometheus!.targets();
    expect(targets.map((t) => t.job).sort()).toEqual(['postgresql', 'rabbitmq', 'redis']);
    for (const t of targets)
      expect({ job: t.job, health: t.health, lastError: t.lastError }).toEqual({ job: t.job, health: 'up', lastError: '' });
  });

  it('has a series of redis_up, pg_up and rabbitmq_build_info, each 1', async () => {
    for (const [expr, job] of [
      ['redis_up', 'redis'],
      ['pg_up', 'postgresql'],
      ['rabbitmq_build_info', 'rabbitmq'],
    ]) {
      const result = await series(expr);
      expect(
        result.map((s) => [s.metric.job, s.value[1]]),
        expr,
      ).toEqual([[job, '1']]);
    }
  });

  it('sees a RabbitMQ queue’s depth per queue', async () => {
    const connection = await amqp.connect(servers.rabbitmq!.url);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue('infra-prometheus', { durable: true });
      for (let i = 0; i < 3; i++) channel.sendToQueue('infra-prometheus', Buffer.from(`m${i}`), { persistent: true });
      await channel.waitForConfirms();
      const result = await series('rabbitmq_queue_messages{queue="infra-prometheus"} == 3');
      expect(result.map((s) => s.value[1])).toEqual(['3']);
    } finally {
      await connection.close();
    }
  }, 60_000);

  it('exports the addresses, and setTargets from another client adds a job that is scraped', async () => {
    const env = serverEnv(servers);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining([
        'IMCLOUD_PROMETHEUS_URL',
        'IMCLOUD_PROMETHEUS_CONFIG',
        'IMCLOUD_REDIS_EXPORTER_URL',
        'IMCLOUD_RABBITMQ_EXPORTER_URL',
        'IMCLOUD_POSTGRESQL_EXPORTER_URL',
      ]),
    );
    for (const name of ['IMCLOUD_REDIS_EXPORTER_URL', 'IMCLOUD_RABBITMQ_EXPORTER_URL', 'IMCLOUD_POSTGRESQL_EXPORTER_URL']) {
      expect((await fetch(env[name])).status, name).toBe(200);
    }
    // As a vitest worker would: only the two variables.
    const client = connectPrometheus({ url: env.IMCLOUD_PROMETHEUS_URL, configFile: env.IMCLOUD_PROMETHEUS_CONFIG });
    await client.setTargets([{ job: 'self', targets: [new URL(client.url).host], labels: { role: 'prometheus' } }]);
    await client.waitForScrapes(2);
    expect((await client.query('up{job="self"}')).map((s) => [s.metric.role, s.value[1]])).toEqual([['prometheus', '1']]);
    expect((await client.jobs()).map((j) => j.job).sort()).toEqual(['postgresql', 'rabbitmq', 'redis', 'self']);
    // A refused config leaves the running one (and the file) as they were.
    await expect(client.setTargets([{ job: 'bad', targets: ['127.0.0.1:1'], labels: { '1x': 'y' } }])).rejects.toThrow(
      /not a valid label name/,
    );
    expect((await client.jobs()).map((j) => j.job)).not.toContain('bad');
    await client.setTargets([{ job: 'self', targets: [] }]);
    expect((await client.targets()).map((t) => t.job).sort()).toEqual(['postgresql', 'rabbitmq', 'redis']);
  }, 60_000);
});
