// Picks the adapters for this process from the config.

import { createMemoryBackends } from './adapters/memory/memory-backends.js';
import { createRealBackends } from './adapters/real-backends.js';
import type { Backends } from './ports/backends.js';
import type { Config } from './shared/config.js';
import type { Logger } from './shared/logger.js';
import type { Metrics } from './shared/metrics.js';

export function usesRealBackends(config: Config): boolean {
  return Boolean(config.redis.url || config.rabbitmq.url || config.mongodb.url);
}

export async function createBackends(config: Config, log: Logger, metrics: Metrics): Promise<Backends> {
  if (!usesRealBackends(config)) {
    log.info('backends: in memory (embedded mode; state lives and dies with this process)');
    return createMemoryBackends({
      onDeadLetter: (channel) => metrics.deadLetters.inc({ channel }),
      upstreamMaxBytes: config.logic.maxQueueBytes,
      prefetch: config.bus.prefetch,
    });
  }
  log.info('backends: redis, rabbitmq, mongodb');
  return createRealBackends(config, log, metrics);
}
