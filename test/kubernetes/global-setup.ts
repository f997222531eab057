// Vitest globalSetup of the `kubernetes` project: one real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok), Redis and RabbitMQ for the whole run, from
// test/infra (built on first use and cached in ~/.cache/imcloud), plus helm; the ImCluster CRD is
// applied once. Addresses reach the test files through process.env (inherited by the workers).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureHelm, serverEnv, startServers } from '../infra/index.js';

const exec = promisify(execFile);

export default async function setup(): Promise<() => Promise<void>> {
  const [servers, helm] = await Promise.all([startServers(['kubernetes', 'redis', 'rabbitmq']), ensureHelm()]);
  const env = serverEnv(servers);
  Object.assign(process.env, env, {
    IMCLOUD_HELM: helm,
    IMCLOUD_TEST_REDIS_URL: servers.redis!.url,
    IMCLOUD_TEST_RABBITMQ_URL: servers.rabbitmq!.url,
  });
  const kubectl = servers.kubernetes!.kubectl;
  const kubeconfig = servers.kubernetes!.kubeconfig;
  await exec(kubectl, [`--kubeconfig=${kubeconfig}`, 'apply', '--server-side', '-f', join(process.cwd(), 'crds', 'imcluster.yaml')]);
  await exec(kubectl, [`--kubeconfig=${kubeconfig}`, 'wait', '--for=condition=Established', 'crd/imclusters.imcloud.dev', '--timeout=60s']);
  return () => servers.stop();
}
