// Vitest globalSetup for suites that need real servers (the integration project):
//
//   test: { globalSetup: ['test/infra/vitest-global-setup.ts'], hookTimeout: … }
//
// Starts the servers named in IMCLOUD_SERVERS (comma-separated, default: all),
// once per vitest run, and tears them down afterwards. Tests read the addresses
// from process.env (IMCLOUD_REDIS_URL, IMCLOUD_RABBITMQ_URL, IMCLOUD_MONGODB_URL,
// IMCLOUD_MINIO_*, KUBECONFIG, IMCLOUD_PROMETHEUS_URL…; vitest's worker processes inherit them) or from
// `inject('imcloudEnv')`. Tests that restart a server call startServers()
// themselves, since restart() cannot cross into the worker processes.

import type { TestProject } from 'vitest/node';
import { SERVER_NAMES, type ServerName, serverEnv, startServers } from './index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    imcloudEnv: Record<string, string>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const requested = process.env.IMCLOUD_SERVERS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const servers = await startServers((requested ?? SERVER_NAMES) as ServerName[]);
  const env = serverEnv(servers);
  Object.assign(process.env, env);
  project.provide('imcloudEnv', env);
  return () => servers.stop();
}
