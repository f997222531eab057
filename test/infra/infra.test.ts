// Smoke test of the test infrastructure itself: every server starts, and a real
// client can do one real thing against it. Cold, this builds everything first
// (~10+ min on 2 cores); warm, it takes seconds.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Client as MinioClient } from 'minio';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Servers, startServers } from './index.js';

const exec = promisify(execFile);
let servers: Servers;

beforeAll(async () => {
  servers = await startServers(['redis', 'rabbitmq', 'mongodb', 'minio', 'kubernetes'], { redis: { appendonly: true } });
}, 30 * 60_000);

afterAll(async () => {
  await servers?.stop();
}, 60_000);

describe('test infrastructure', () => {
  it('redis answers PING and, with appendonly, keeps data across restart()', async () => {
    const redis = new Redis(servers.redis!.url, { lazyConnect: true });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
      await redis.set('infra-smoke', 'kept');
      await servers.redis!.restart();
      expect(await redis.get('infra-smoke')).toBe('kept'); // ioredis reconnects by itself
    } finally {
      redis.disconnect();
    }
  });

  it('rabbitmq declares a quorum queue whose messages survive restart()', async () => {
    const publisher = await amqp.connect(servers.rabbitmq!.url);
    const channel = await publisher.createConfirmChannel();
    await channel.assertQueue('infra-smoke', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    channel.sendToQueue('infra-smoke', Buffer.from('hello'), { persistent: true });
    await channel.waitForConfirms();
    await publisher.close();

    await servers.rabbitmq!.restart();
    const consumer = await amqp.connect(servers.rabbitmq!.url);
    try {
      const message = await (await consumer.createChannel()).get('infra-smoke', { noAck: true });
      expect(message === false ? message : message.content.toString()).toBe('hello');
    } finally {
      await consumer.close();
    }
  }, 60_000);

  it('mongodb (FerretDB) inserts and finds a document', async () => {
    const client = await MongoClient.connect(servers.mongodb!.url);
    try {
      const collection = client.db('infra').collection<{ _id: string; n: number }>('smoke');
      await collection.insertOne({ _id: 'a', n: 1 });
      expect(await collection.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 1 });
    } finally {
      await client.close();
    }
  });

  it('minio makes a bucket and stores an object', async () => {
    const { endPoint, port, accessKey, secretKey, useSSL } = servers.minio!;
    const minio = new MinioClient({ endPoint, port, accessKey, secretKey, useSSL });
    await minio.makeBucket('infra-smoke');
    await minio.putObject('infra-smoke', 'hello.txt', Buffer.from('hello'));
    expect((await minio.statObject('infra-smoke', 'hello.txt')).size).toBe(5);
  });

  it('kubernetes has a Ready node and runs a 2-replica deployment to 2/2 ready', async () => {
    const { kubectl, kubeconfig } = servers.kubernetes!;
    const k = async (...args: string[]) => (await exec(kubectl, [`--kubeconfig=${kubeconfig}`, ...args])).stdout;
    expect(await k('get', 'nodes', '-o', 'jsonpath={.items[0].status.conditions[?(@.type=="Ready")].status}')).toBe('True');
    await k('create', 'deployment', 'web', '--image=x', '--replicas=2');
    await k('rollout', 'status', 'deployment/web', '--timeout=60s');
    expect(await k('get', 'deployment', 'web', '-o', 'jsonpath={.status.readyReplicas}')).toBe('2');
  }, 90_000);
});
