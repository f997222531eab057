// A fully defaulted ImCluster for unit tests (what the apiserver hands the operator).
import type { ImCluster, ImClusterSpec } from '../api/imcluster.js';

export function cluster(spec: Partial<ImClusterSpec> = {}, name = 'demo'): ImCluster {
  return {
    apiVersion: 'imcloud.dev/v1alpha1',
    kind: 'ImCluster',
    metadata: { name, namespace: 'chat', uid: 'uid-1', generation: 3, resourceVersion: '100' },
    spec: {
      version: '1.0.0',
      image: 'ghcr.io/imcloud/imcloud',
      imagePullPolicy: 'IfNotPresent',
      gate: {
        pools: [
          { name: 'vip', default: false, appIds: ['acme', 'globex'], replicas: 2, service: { type: 'ClusterIP' }, maxUnavailable: 1 },
          {
            name: 'main',
            default: true,
            appIds: [],
            autoscale: {
              minReplicas: 1,
              maxReplicas: 8,
              targetConnectionsPerPod: 100,
              stabilizationWindowSeconds: 300,
              maxStepUp: 4,
              maxStepDown: 1,
            },
            service: { type: 'LoadBalancer' },
            maxUnavailable: '25%',
          },
        ],
        drainSeconds: 30,
        tcp: true,
      },
      logic: {},
      consumer: {
        autoscale: {
          minReplicas: 1,
          maxReplicas: 5,
          targetBacklogPerReplica: 1000,
          stabilizationWindowSeconds: 300,
          maxStepUp: 4,
          maxStepDown: 1,
        },
      },
      dispatch: { replicas: 2 },
      admin: { replicas: 1 },
      dependencies: {
        redis: { managed: false, secretRef: { name: 'redis-conn' } },
        rabbitmq: { managed: false, secretRef: { name: 'amqp-conn' } },
        mongodb: { managed: true },
      },
      monitoring: { serviceMonitor: true, interval: '30s' },
      logLevel: 'info',
      ...spec,
    },
  };
}
