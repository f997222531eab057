// Every port on real servers: Redis (presence, seqs, dedupe, recent window, hot conversation
// state, worker ids, rate limits), RabbitMQ (the bus) and MongoDB (messages, apps, durable
// conversation state, seq high-water marks, file records). Connections that are down at start-up are retried
// with backoff; /readyz stays false until all are up.

import { ImError } from '../../protocol/errors.js';
import type { Backends } from '../ports/backends.js';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { MongoAppRegistry } from './mongodb/mongo-app-registry.js';
import { MongoConversationArchive } from './mongodb/mongo-conversation-archive.js';
import { MongoDatabase } from './mongodb/mongo-database.js';
import { MongoFileCatalog } from './mongodb/mongo-file-catalog.js';
import { MongoGroupDirectory } from './mongodb/mongo-group-directory.js';
import { MongoMessageStore } from './mongodb/mongo-message-store.js';
import { MongoSeqHighWater } from './mongodb/mongo-seq-high-water.js';
import { RabbitmqBus } from './rabbitmq/rabbitmq-bus.js';
import { createRedis, redisReady } from './redis/redis-client.js';
import { RedisConversationState } from './redis/redis-conversation-state.js';
import { RedisDedupe } from './redis/redis-dedupe.js';
import { RedisGroupCache } from './redis/redis-group-cache.js';
import { RedisRateLimiter } from './redis/redis-rate-limiter.js';
import { RedisRecentWindow } from './redis/redis-recent-window.js';
import { RedisRoutes } from './redis/redis-routes.js';
import { RedisSeqAllocator } from './redis/redis-seq-allocator.js';
import { RedisWorkerIds } from './redis/redis-worker-ids.js';

export async function createRealBackends(config: Config, log: Logger, metrics: Metrics): Promise<Backends> {
  const missing = [
    ['redis.url', 'IMCLOUD_REDIS_URL', config.redis.url],
    ['rabbitmq.url', 'IMCLOUD_RABBITMQ_URL', config.rabbitmq.url],
    ['mongodb.url', 'IMCLOUD_MONGODB_URL', config.mongodb.url],
  ].filter(([, , v]) => !v);
  if (missing.length > 0) {
    throw new ImError(
      'IM_CONFIG_INVALID',
      `real backends need all of redis, rabbitmq and mongodb; missing: ${missing.map(([k, env]) => `${k} (${env})`).join(', ')}. Unset all three for the embedded in-memory mode.`,
    );
  }
  const redis = createRedis(config.redis.url!, log);
  const bus = new RabbitmqBus({
    url: config.rabbitmq.url!,
    log,
    prefetch: config.bus.prefetch,
    upstreamMaxBytes: config.logic.maxQueueBytes,
    clientName: `imcloud ${config.node.id}`,
    onDeadLetter: (kind) => metrics.deadLetters.inc({ channel: kind }),
  }).start();
  // Roles start only once every connection is up; each one retries with backoff and logs why.
  const [mongo] = await Promise.all([
    MongoDatabase.connect(config.mongodb.url!, config.mongodb.database, log, { metrics, maxPoolSize: config.mongodb.maxPoolSize }),
    redisReady(redis),
    (async () => {
      for (;;) {
        try {
          return await bus.waitReady(30_000);
        } catch {
          log.warn('rabbitmq: still not connected; retrying');
        }
      }
    })(),
  ]);
  // The Redis adapters keep their durable halves in MongoDB (ADR 0009, ADR 0026).
  const archive = new MongoConversationArchive(mongo.conversations, mongo.userConversations, mongo.messages);
  const conversations = new RedisConversationState(redis, archive, log, config.logic.cursorPersistMs);
  const seq = new RedisSeqAllocator(redis, new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks));
  return {
    kind: 'real',
    bus,
    routes: new RedisRoutes(redis),
    seq,
    dedupe: new RedisDedupe(redis, seq),
    window: new RedisRecentWindow(redis),
    store: new MongoMessageStore(mongo.messages),
    conversations,
    apps: new MongoAppRegistry(mongo.apps, mongo.revokedTokens, mongo.revokedUsers),
    groups: new RedisGroupCache(redis, new MongoGroupDirectory(mongo.groups, mongo.groupMembers)),
    files: new MongoFileCatalog(mongo),
    workerIds: new RedisWorkerIds(redis),
    rateLimiter: new RedisRateLimiter(redis),
    ready: () => redis.status === 'ready' && bus.ready() && mongo.ready,
    async close() {
      await conversations.close().catch(() => undefined);
      await bus.close();
      await mongo.close();
      redis.disconnect();
    },
  };
}
