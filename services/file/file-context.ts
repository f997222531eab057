// What the parts of the file role (auth, uploads, proofs, thumbnails, downloads, cleanup) share:
// its config, its ports, the access rule, the app's limits and its instruments.
import { randomBytes } from 'node:crypto';
import { ImError } from '../../protocol/errors.js';
import type { App, AppLimits, AppRegistry } from '../ports/app-registry.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { Bus } from '../ports/bus.js';
import type { FileCatalog } from '../ports/file-catalog.js';
import { AppDirectory } from '../shared/app-directory.js';
import type { FileAccess } from '../shared/file-access.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { FileConfig } from '../shared/role-config.js';

/** What the file role keeps of an app: the secret (tokens, download URLs) and its limits. */
export type FileApp = Pick<App, 'appId' | 'secret' | 'limits' | 'webhook'>;

export interface FileContext {
  config: FileConfig['file'];
  files: FileCatalog;
  blobs: BlobStore;
  /** Where file.uploaded webhook events go (ADR 0037). */
  bus: Pick<Bus, 'publishEvent'>;
  registry: AppRegistry;
  apps: AppDirectory<FileApp>;
  access: FileAccess;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}

export function fileApps(registry: AppRegistry): AppDirectory<FileApp> {
  return new AppDirectory<FileApp>(registry, { maxEntries: 10_000, ttlMs: 5_000 }, ({ appId, secret, limits, webhook }) => ({
    appId,
    secret,
    limits,
    ...(webhook && { webhook }),
  }));
}

/** The caller's app, or IM_APP_NOT_FOUND. */
export async function fileApp(cx: FileContext, appId: string): Promise<FileApp> {
  const app = await cx.apps.get(appId);
  if (!app) throw new ImError('IM_APP_NOT_FOUND');
  return app;
}

/** A random id with a one-letter kind prefix (f: file, u: upload, c: challenge); 128 bits. */
export function newId(kind: 'f' | 'u' | 'c'): string {
  return `${kind}${randomBytes(16).toString('base64url')}`;
}

export const ID = /^[fuc][A-Za-z0-9_-]{22}$/;

/** Checks the shape of an id taken from a request (unknown ids are then simply not found). */
export function checkId(
  id: string,
  kind: 'f' | 'u' | 'c',
  notFound: 'IM_FILE_NOT_FOUND' | 'IM_UPLOAD_NOT_FOUND' | 'IM_FILE_CHALLENGE_INVALID',
): void {
  if (!ID.test(id) || id[0] !== kind) throw new ImError(notFound);
}

/** The app's limits for files, its own or the platform's defaults. */
export function fileLimits(cx: FileContext, limits: AppLimits | undefined) {
  return {
    maxFileBytes: limits?.maxFileBytes ?? cx.config.maxFileBytes,
    contentTypes: limits?.fileContentTypes,
    quotaBytes: limits?.fileQuotaBytes,
  };
}
