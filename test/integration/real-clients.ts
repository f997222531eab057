// Connections to the real servers that test/infra's globalSetup started for the integration
// project (their addresses arrive in process.env).
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { MongoDatabase } from '../../services/adapters/mongodb/mongo-database.js';
import { createRedis, type Redis } from '../../services/adapters/redis/redis-client.js';

export const silentLog = pino({ level: 'silent' });

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run this suite through the vitest project "integration" (its globalSetup starts the servers)`);
  return value;
}

export async function connectRedis(): Promise<Redis> {
  const redis = createRedis(requireEnv('IMCLOUD_REDIS_URL'), silentLog);
  await new Promise<void>((resolve, reject) => {
    if (redis.status === 'ready') return resolve();
    redis.once('ready', () => resolve());
    redis.once('error', reject);
  });
  return redis;
}

/**
 * A fresh database per test file, so files never see each other's documents; or a second
 * client of `database`, as another process would have.
 */
export async function connectMongo(database = `imcloud_test_${randomUUID().slice(0, 8)}`): Promise<MongoDatabase> {
  return MongoDatabase.connect(requireEnv('IMCLOUD_MONGODB_URL'), database, silentLog);
}
