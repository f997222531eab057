// Where bench/files.ts moves its bytes: the file role, and beside it the same store reached
// directly (the baseline). Embedded: `imcloud all` in its own process keeping files in a local
// folder, the baseline a FolderBlobStore on another folder of the same disk. --dist: MinIO,
// FerretDB (and Redis, RabbitMQ for the admin and dispatch roles) from test/infra, two file
// processes, admin and dispatch from test/support/cluster.ts; the baseline a MinioBlobStore on the
// same MinIO and bucket, from this process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderBlobStore } from '../../services/adapters/folder/folder-blob-store.js';
import { MinioBlobStore } from '../../services/adapters/minio/minio-blob-store.js';
import type { BlobStore } from '../../services/ports/blob-store.js';
import { serverEnv, startServers } from '../../test/infra/index.js';
import { type BackendEnv, startCluster } from '../../test/support/cluster.js';
import { createLogDir, finishLogDir } from '../../test/support/log-dir.js';
import { createApp, startPlatform } from './common.js';

export interface FileTarget {
  /** The file processes' base URLs. */
  fileUrls: string[];
  /** The imcloud processes (their CPU). */
  pids: number[];
  /** The baseline: the same store, reached directly from the benchmark's process. */
  direct: BlobStore;
  /** What the files are kept in, for the report. */
  store: string;
  createApp(): Promise<{ appId: string; secret: string }>;
  stop(): Promise<void>;
}

/** `imcloud all` with its files in a fresh folder; the baseline a FolderBlobStore in another. */
export async function embeddedFiles(env: Record<string, string>, nodeArgs: string[]): Promise<FileTarget> {
  const roleDir = mkdtempSync(join(tmpdir(), 'bench-files-role-'));
  const directDir = mkdtempSync(join(tmpdir(), 'bench-files-direct-'));
  const cleanup = () => {
    for (const d of [roleDir, directDir]) rmSync(d, { recursive: true, force: true });
  };
  try {
    const p = await startPlatform({ env: { ...env, IMCLOUD_FILE_DIR: roleDir }, nodeArgs });
    const direct = new FolderBlobStore(directDir);
    await direct.ensureBucket();
    return {
      fileUrls: [p.httpUrl],
      pids: [p.pid],
      direct,
      store: `folder ${tmpdir()}`,
      createApp: () => p.createApp(),
      async stop() {
        await p.stop();
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** MinIO and FerretDB from test/infra, file×2 with admin and dispatch; the baseline a MinioBlobStore. */
export async function distributedFiles(env: Record<string, string>, nodeArgs: string[]): Promise<FileTarget> {
  const servers = await startServers(['redis', 'rabbitmq', 'mongodb', 'minio']);
  const logDir = createLogDir('bench-files');
  try {
    const backend = serverEnv(servers) as unknown as BackendEnv;
    const layout = { gate: 0, logic: 0, consumer: 0, dispatch: 1, admin: 1, file: 2 };
    const cluster = await startCluster(backend, logDir, layout, { IMCLOUD_LOG_LEVEL: 'warn', ...env }, {}, nodeArgs);
    const m = servers.minio!;
    // The roles' bucket (minio.bucket, default imcloud), which they created at start.
    const direct = new MinioBlobStore({
      endPoint: m.endPoint,
      port: m.port,
      accessKey: m.accessKey,
      secretKey: m.secretKey,
      bucket: 'imcloud',
    });
    await direct.ensureBucket();
    return {
      fileUrls: cluster.byRole('file').map((f) => f.url),
      pids: cluster.byRole('file').map((f) => f.pid!),
      direct,
      store: `minio ${m.endPoint}:${m.port}/imcloud`,
      createApp: () => createApp(cluster.adminUrl, cluster.adminToken),
      async stop() {
        await cluster.stop();
        await servers.stop();
        finishLogDir(logDir, false);
      },
    };
  } catch (err) {
    await servers.stop();
    throw err;
  }
}
