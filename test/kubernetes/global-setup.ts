// Vitest globalSetup of the `kubernetes` project: one real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok), Redis and RabbitMQ for the whole run, from
// test/infra (built on first use and cached in ~/.cache/imcloud), plus helm; the ImCluster CRD is
// applied once, before the controllers start. Addresses reach the test files through
// process.env (inherited by the workers).
import { join } from 'node:path';
import { ensureHelm, serverEnv, startServers } from '../infra/index.js';

export default async function setup(): Promise<() => Promise<void>> {
  const crds = [join(process.cwd(), 'crds', 'imcluster.yaml')];
  const [servers, helm] = await Promise.all([startServers(['kubernetes', 'redis', 'rabbitmq'], { kubernetes: { crds } }), ensureHelm()]);
  const env = serverEnv(servers);
  Object.assign(process.env, env, {
    IMCLOUD_HELM: helm,
    IMCLOUD_TEST_REDIS_URL: servers.redis!.url,
    IMCLOUD_TEST_RABBITMQ_URL: servers.rabbitmq!.url,
  });
  return () => servers.stop();
}
