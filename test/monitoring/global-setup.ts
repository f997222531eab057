// Vitest globalSetup of the `monitoring` project: Prometheus's promtool (Debian's prometheus
// package) and helm for the rule checks; and for the live dashboards test, the real servers with
// their exporters and a Prometheus scraping them (test/infra), plus a control plane with the
// ImCluster CRD for an operator. Addresses reach the test files through process.env (inherited by
// the workers).
import { join } from 'node:path';
import { ensureHelm } from '../infra/helm.js';
import { serverEnv, startServers } from '../infra/index.js';
import { ensurePrometheus } from '../infra/prometheus.js';

export default async function setup(): Promise<() => Promise<void>> {
  const crds = [join(process.cwd(), 'crds', 'imcluster.yaml')];
  const [{ promtool }, helm, servers] = await Promise.all([
    ensurePrometheus(),
    ensureHelm(),
    startServers(['kubernetes', 'redis', 'rabbitmq', 'mongodb', 'minio', 'prometheus'], { kubernetes: { crds } }),
  ]);
  Object.assign(process.env, serverEnv(servers), {
    IMCLOUD_PROMTOOL: promtool,
    IMCLOUD_HELM: helm,
    // What the operator's connection Secrets name (test/kubernetes/harness.ts dependencySecrets).
    IMCLOUD_TEST_REDIS_URL: servers.redis!.url,
    IMCLOUD_TEST_RABBITMQ_URL: servers.rabbitmq!.url,
  });
  return () => servers.stop();
}
