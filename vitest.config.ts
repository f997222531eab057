import { defineConfig } from 'vitest/config';

// Projects: `unit` (next to the code, in-memory, fast), `integration` (real Redis, RabbitMQ,
// FerretDB, MinIO started by test/infra), `chaos` (role processes killed and servers restarted
// under load; each file starts its own servers), `e2e` (the embedded platform, browser),
// `kubernetes` (a real control plane started by test/infra), `attack` (the attack and fuzzing
// suite of test/attack: embedded and multi-process targets as OS processes, property tests),
// `monitoring` (the alert rules through promtool), `node` (the chart, an ImCluster and chats on a
// real Kubernetes node).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'services/**/*.test.ts',
            'protocol/**/*.test.ts',
            'sdk/**/*.test.ts',
            'operator/**/*.test.ts',
            'bench/**/*.test.ts',
            'test/unit/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          // test/infra's own tests (its servers and the benchmarks' Node) run here too.
          include: ['test/integration/**/*.test.ts', 'test/infra/**/*.test.ts'],
          // Real Redis, RabbitMQ, FerretDB and MinIO for the run, addresses in process.env (see
          // test/infra/README.md); suites that restart a server start their own with startServers().
          globalSetup: ['test/integration/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 400_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'attack',
          include: ['test/attack/**/*.test.ts'],
          // Redis, RabbitMQ, FerretDB and MinIO for the multi-process target, and the tally of attacks
          // (one closing line: attacks: tried=N held=N crashed=N leaked=N).
          globalSetup: ['test/attack/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'kubernetes',
          include: ['test/kubernetes/**/*.test.ts'],
          // One control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok), Redis
          // and RabbitMQ for the run, built on first use into ~/.cache/imcloud by test/infra.
          // Each file works in its own namespaces with its own operator processes.
          globalSetup: ['test/kubernetes/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          // The whole platform on a real Kubernetes node (kubelet, containerd, runc in a private
          // namespace; test/infra/real-node.ts): the imcloud image built without Docker and imported,
          // Redis, RabbitMQ, FerretDB and MinIO inside the node's namespace (ADR 0034). Pods start
          // slowly on 2 cores: generous timeouts.
          globalSetup: ['test/node/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
      {
        test: {
          name: 'monitoring',
          include: ['test/monitoring/**/*.test.ts'],
          // Prometheus's promtool (Debian's prometheus package) and helm, installed or built on first
          // use by test/infra: `promtool check rules` and `promtool test rules` on the alert rules.
          globalSetup: ['test/monitoring/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
