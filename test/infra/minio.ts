// MinIO (S3 API) for the file service's tests. MinIO publishes no semver tags,
// so the version is a Go pseudo-version pinned to one commit.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ensureGoBinary, goInstall } from './build.js';
import { freePort, spawnServer } from './processes.js';
import { httpRequest, waitForReady } from './readiness.js';

export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

/** The commit in the pseudo-version, e.g. 7aac2a2c5b7c. */
const MINIO_COMMIT = MINIO_VERSION.split('-').at(-1)!;

/**
 * A go-installed MinIO reports "DEVELOPMENT.GOGET" (its release build stamps the
 * version), so we stamp the commit; `minio --version` then proves which one it is.
 */
function minioLdflags(): string {
  return `-s -w -X ${MINIO_MODULE}/cmd.CommitID=${MINIO_COMMIT} -X ${MINIO_MODULE}/cmd.ShortCommitID=${MINIO_COMMIT}`;
}

export function ensureMinio(): Promise<string> {
  return ensureGoBinary({
    name: 'minio',
    version: MINIO_VERSION,
    estimate: '~2 min',
    recipe: `go install -trimpath -ldflags=${minioLdflags()}`,
    versionCheck: { args: ['--version'], expect: `(commit-id=${MINIO_COMMIT})` },
    build: (out, go) => goInstall(go, `${MINIO_MODULE}@${MINIO_VERSION}`, out, ['-trimpath', `-ldflags=${minioLdflags()}`]),
  });
}

export interface MinioOptions {
  /** Directory owned by this server (objects + log). */
  dir: string;
  /**
   * Address to listen on and to name in the URL (default 127.0.0.1), e.g. the real node's address
   * when the server runs inside the node's network namespace (startServersInNode), where pods reach it.
   */
  host?: string;
}

export interface MinioServer {
  endPoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  useSSL: false;
  stop(): Promise<void>;
}

export async function startMinio(opts: MinioOptions): Promise<MinioServer> {
  const bin = await ensureMinio();
  const [port, consolePort] = await Promise.all([freePort(), freePort()]);
  const dataDir = path.join(opts.dir, 'data');
  const host = opts.host ?? '127.0.0.1';
  await fs.mkdir(dataDir, { recursive: true });
  const accessKey = 'imcloud-test';
  const secretKey = randomBytes(12).toString('hex'); // MinIO wants 8+ characters
  const proc = await spawnServer({
    name: 'minio',
    command: bin,
    args: ['server', dataDir, '--address', `${host}:${port}`, '--console-address', `${host}:${consolePort}`, '--quiet'],
    env: {
      ...process.env,
      MINIO_ROOT_USER: accessKey,
      MINIO_ROOT_PASSWORD: secretKey,
      MINIO_BROWSER: 'off',
      // No phoning home from tests.
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
    },
    logFile: path.join(opts.dir, 'minio.log'),
  });
  await waitForReady({
    server: proc,
    what: `GET http://${host}:${port}/minio/health/live`,
    probe: async () => (await httpRequest(`http://${host}:${port}/minio/health/live`, { timeoutMs: 2_000 })).status === 200,
    timeoutMs: 60_000,
  });
  return { endPoint: host, port, accessKey, secretKey, useSSL: false, stop: () => proc.stop() };
}
