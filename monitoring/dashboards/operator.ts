// imcloud / operator: the ImCluster operator's leadership, reconciles, work queue, applies,
// autoscaling decisions and watches (operator/metrics.ts).
import type { DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as units from '@grafana/grafana-foundation-sdk/units';
import { OPERATOR } from './shared/catalogue.js';
import { imcloudDashboard } from './shared/dashboard.js';
import { quantile, RATE, rate } from './shared/labels.js';
import { stat, timeseries } from './shared/panels.js';
import { OPERATOR_QUEUE_ALERT } from './shared/thresholds.js';

/** Rare events are counted over a longer window than rates. */
const RARE = '15m';

function state(d: DashboardBuilder): void {
  d.withPanel(
    stat({
      title: 'Leader',
      description:
        'Operator processes holding the leader Lease (imcloud_operator_leader): exactly 1 is right; 0 fires ImcloudOperatorNoLeader after 5 minutes.',
      unit: units.Short,
      targets: [{ expr: 'sum(imcloud_operator_leader)', legend: 'leaders' }],
    }),
  ).withPanel(
    stat({
      title: 'ImClusters by phase',
      description:
        'ImClusters the operator knows, by phase (imcloud_operator_imclusters). Degraded for 10 minutes fires ImclusterDegraded: `kubectl describe imc` says why.',
      unit: units.Short,
      width: 18,
      targets: [{ expr: 'sum by (phase) (imcloud_operator_imclusters)', legend: '{{phase}}' }],
    }),
  );
}

function reconciles(d: DashboardBuilder): void {
  d.withPanel(
    timeseries({
      title: 'Reconciles / s by result',
      description: `ImCluster reconciles per second over ${RATE}, by result: success, error, paused, deleted (imcloud_operator_reconciles_total).`,
      unit: units.OpsPerSecond,
      width: 12,
      targets: [{ expr: `sum by (result) (${rate('imcloud_operator_reconciles_total')})`, legend: '{{result}}' }],
    }),
  )
    .withPanel(
      timeseries({
        title: 'Reconcile duration p50 / p99',
        description: 'Time to reconcile one ImCluster (imcloud_operator_reconcile_duration_seconds).',
        unit: units.Seconds,
        width: 12,
        targets: [
          { expr: quantile(0.5, 'imcloud_operator_reconcile_duration_seconds'), legend: 'p50' },
          { expr: quantile(0.99, 'imcloud_operator_reconcile_duration_seconds'), legend: 'p99' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Work queue depth',
        description: `ImClusters waiting, scheduled or being reconciled (imcloud_operator_queue_depth). The ImcloudOperatorQueueBacklog alert fires above ${OPERATOR_QUEUE_ALERT} for 15 minutes (dashed line).`,
        unit: units.Short,
        width: 12,
        threshold: OPERATOR_QUEUE_ALERT,
        targets: [{ expr: 'max(imcloud_operator_queue_depth)', legend: 'depth' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Reconcile errors / s',
        description: `Failed reconciles per second over ${RATE}, each retried with exponential backoff (imcloud_operator_reconcile_errors_total); ImcloudOperatorReconcileErrors fires when they go on for 15 minutes.`,
        unit: units.OpsPerSecond,
        width: 12,
        targets: [{ expr: `sum(${rate('imcloud_operator_reconcile_errors_total')})`, legend: 'errors' }],
      }),
    );
}

function changes(d: DashboardBuilder): void {
  d.withPanel(
    timeseries({
      title: 'Server-side applies / s by kind and result',
      description: `Objects the operator applied (server-side apply) per second over ${RATE}, by kind and result (imcloud_operator_applies_total).`,
      unit: units.OpsPerSecond,
      width: 12,
      targets: [{ expr: `sum by (kind, result) (${rate('imcloud_operator_applies_total')})`, legend: '{{kind}} {{result}}' }],
    }),
  )
    .withPanel(
      timeseries({
        title: 'Owned objects deleted by kind',
        description: `Owned objects deleted in each ${RARE} because the spec no longer wants them, by kind (imcloud_operator_deletes_total).`,
        unit: units.Short,
        width: 12,
        targets: [{ expr: `sum by (kind) (increase(imcloud_operator_deletes_total[${RARE}]))`, legend: '{{kind}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Scaling decisions',
        description: `Replica changes the autoscaler decided in each ${RARE}, by component and direction (imcloud_operator_scale_decisions_total).`,
        unit: units.Short,
        width: 12,
        targets: [
          {
            expr: `sum by (component, direction) (increase(imcloud_operator_scale_decisions_total[${RARE}]))`,
            legend: '{{component}} {{direction}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Scaling metric read errors',
        description: `Failed reads, in each ${RARE}, of what the autoscaler scales on: gate load (redis), queue depth (rabbitmq), the file role's CPU (metrics.k8s.io) (imcloud_operator_scale_metric_errors_total). While they fail, the operator keeps the current replicas.`,
        unit: units.Short,
        width: 12,
        targets: [{ expr: `sum by (source) (increase(imcloud_operator_scale_metric_errors_total[${RARE}]))`, legend: '{{source}}' }],
      }),
    );
}

function process(d: DashboardBuilder): void {
  d.withPanel(
    timeseries({
      title: 'Watch restarts by reason',
      description: `Watch restarts in each ${RARE}, by resource and reason: timeout, error, gone (410, a relist) (imcloud_operator_watch_restarts_total). Timeouts are normal; errors are the apiserver or the network.`,
      unit: units.Short,
      targets: [
        { expr: `sum by (resource, reason) (increase(imcloud_operator_watch_restarts_total[${RARE}]))`, legend: '{{resource}} {{reason}}' },
      ],
    }),
  )
    .withPanel(
      timeseries({
        title: 'Operator CPU by pod (cores)',
        description: `CPU time per second of each operator pod, in cores, over ${RATE} (imcloud_operator_process_process_cpu_seconds_total).`,
        unit: units.Short,
        targets: [{ expr: `sum by (pod) (${rate('imcloud_operator_process_process_cpu_seconds_total')})`, legend: '{{pod}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Operator resident memory by pod',
        description:
          'Resident set size of each operator pod (imcloud_operator_process_process_resident_memory_bytes): the informer caches grow with the ImClusters and their objects.',
        unit: units.BytesIEC,
        targets: [{ expr: 'sum by (pod) (imcloud_operator_process_process_resident_memory_bytes)', legend: '{{pod}}' }],
      }),
    );
}

export function operator(): DashboardBuilder {
  const d = imcloudDashboard(OPERATOR, {
    description: 'The ImCluster operator: leadership, reconciles, its work queue, applies, autoscaling and watches.',
    appId: 'none',
    from: 'now-6h',
  });
  state(d);
  reconciles(d);
  changes(d);
  process(d);
  return d;
}
