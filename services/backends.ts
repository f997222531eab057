// Picks the adapters for this process from the config.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImError } from '../protocol/errors.js';
import { FolderBlobStore } from './adapters/folder/folder-blob-store.js';

import { createMemoryBackends } from './adapters/memory/memory-backends.js';
import { MinioBlobStore } from './adapters/minio/minio-blob-store.js';
import { createRealBackends } from './adapters/real-backends.js';
import type { Backends } from './ports/backends.js';
import type { BlobStore } from './ports/blob-store.js';
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

/**
 * The file role's bytes: MinIO when `minio.endPoint` is set; on the embedded defaults a local
 * folder (`file.dir`, else imcloud-files under the system's temporary folder). A cluster on real
 * backends must name its MinIO.
 */
export function createBlobStore(config: Config): { store: BlobStore; where: string } {
  const { minio } = config;
  if (minio.endPoint) {
    if (!minio.accessKey || !minio.secretKey)
      throw new ImError(
        'IM_CONFIG_INVALID',
        'minio.endPoint is set: set minio.accessKey and minio.secretKey too (IMCLOUD_MINIO_ACCESSKEY, IMCLOUD_MINIO_SECRETKEY)',
      );
    const store = new MinioBlobStore({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: minio.useSSL,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
      bucket: minio.bucket,
    });
    return { store, where: `minio ${minio.endPoint}${minio.port ? `:${minio.port}` : ''}/${minio.bucket}` };
  }
  if (usesRealBackends(config))
    throw new ImError(
      'IM_CONFIG_INVALID',
      'the file role on real backends needs MinIO: set minio.endPoint, minio.accessKey and minio.secretKey (IMCLOUD_MINIO_*)',
    );
  const dir = config.file.dir || join(tmpdir(), 'imcloud-files');
  return { store: new FolderBlobStore(dir), where: dir };
}
