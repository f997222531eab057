// Picks the adapters for this process from the config.
import type { Backends } from './ports/backends.js';
import { createMemoryBackends } from './adapters/memory/memory-backends.js';
import type { Config } from './shared/config.js';
import { ImError } from './shared/errors.js';
import type { Logger } from './shared/logger.js';

export function usesRealBackends(config: Config): boolean {
  return Boolean(config.redis.url || config.rabbitmq.url || config.mongodb.url);
}

export async function createBackends(config: Config, log: Logger): Promise<Backends> {
  if (!usesRealBackends(config)) {
    log.info('backends: in memory (embedded mode; state lives and dies with this process)');
    return createMemoryBackends();
  }
  throw new ImError('IM_CONFIG_INVALID', 'this build runs on in-memory backends only: unset IMCLOUD_REDIS_URL, IMCLOUD_RABBITMQ_URL and IMCLOUD_MONGODB_URL');
}
