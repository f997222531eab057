// The operator's own Prometheus metrics (served at /metrics on operator's http.port).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createOperatorMetrics() {
  const metrics = defineOperatorMetrics();
  // Counters of a fixed set of label values start at 0 for each (a dashboard sees 0, not no series).
  for (const kind of ['uncaughtException', 'unhandledRejection']) metrics.uncaught.inc({ kind }, 0);
  for (const source of ['redis', 'rabbitmq', 'metrics.k8s.io']) metrics.scaleMetricErrors.inc({ source }, 0);
  for (const component of ['gate', 'logic', 'consumer', 'file'])
    for (const direction of ['up', 'down']) metrics.scaleDecisions.inc({ component, direction }, 0);
  return metrics;
}

function defineOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'imcloud_operator_process_' });
  const r = { registers: [registry] };
  return {
    registry,
    uncaught: new Counter({
      name: 'imcloud_process_uncaught_errors_total',
      help: 'Errors that reached the process last-resort handlers (logged; the process kept running), by kind.',
      labelNames: ['kind'],
      ...r,
    }),
    reconciles: new Counter({
      name: 'imcloud_operator_reconciles_total',
      help: 'ImCluster reconciles by result (success, error, paused, deleted).',
      labelNames: ['result'],
      ...r,
    }),
    reconcileErrors: new Counter({
      name: 'imcloud_operator_reconcile_errors_total',
      help: 'Failed reconciles (each is retried with exponential backoff).',
      ...r,
    }),
    reconcileDuration: new Histogram({
      name: 'imcloud_operator_reconcile_duration_seconds',
      help: 'Time to reconcile one ImCluster.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ...r,
    }),
    queueDepth: new Gauge({ name: 'imcloud_operator_queue_depth', help: 'ImClusters waiting, scheduled or being reconciled.', ...r }),
    applies: new Counter({
      name: 'imcloud_operator_applies_total',
      help: 'Server-side applies by kind and result.',
      labelNames: ['kind', 'result'],
      ...r,
    }),
    deletes: new Counter({
      name: 'imcloud_operator_deletes_total',
      help: 'Owned objects deleted because the spec no longer wants them, by kind.',
      labelNames: ['kind'],
      ...r,
    }),
    watchRestarts: new Counter({
      name: 'imcloud_operator_watch_restarts_total',
      help: 'Watch restarts by resource and reason (timeout, error, gone = 410 relist).',
      labelNames: ['resource', 'reason'],
      ...r,
    }),
    leader: new Gauge({ name: 'imcloud_operator_leader', help: '1 while this process holds the leader Lease.', ...r }),
    scaleDecisions: new Counter({
      name: 'imcloud_operator_scale_decisions_total',
      help: 'Replica changes decided by the autoscaler, by component kind and direction.',
      labelNames: ['component', 'direction'],
      ...r,
    }),
    scaleMetricErrors: new Counter({
      name: 'imcloud_operator_scale_metric_errors_total',
      help: "Failed reads of gate load (redis), queue depth (rabbitmq) or the file role's CPU (metrics.k8s.io).",
      labelNames: ['source'],
      ...r,
    }),
    clusters: new Gauge({
      name: 'imcloud_operator_imclusters',
      help: 'ImClusters known to the operator, by phase.',
      labelNames: ['phase'],
      ...r,
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
