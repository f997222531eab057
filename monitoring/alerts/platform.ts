// The platform's alerts beside the SLOs: the operator, the message path (dead letters, store
// lag, ack latency, shedding, a full upstream, uncaught errors, apps over their rate), and the
// failure modes the chaos test produces (test/chaos: kill -9 of a logic, gate or consumer,
// RabbitMQ and Redis restarts, a Redis wipe): a role down, no consumer on the store queue,
// Redis or RabbitMQ down, Redis lost its data. Each has a runbook section in docs/slo.md.
import { bus } from '../../services/shared/topology.js';
import { type AlertRule, label, type RecordingRule, runbook, type Severity } from './model.js';

const alert = (
  name: string,
  severity: Severity,
  expr: string,
  forDuration: string | undefined,
  summary: string,
  description: string,
): AlertRule => ({
  alert: name,
  expr,
  ...(forDuration ? { for: forDuration } : {}),
  labels: { severity },
  annotations: { summary, description, runbook_url: runbook(name) },
});

export function operatorAlerts(): AlertRule[] {
  return [
    alert(
      'ImcloudOperatorNoLeader',
      'page',
      '(sum(imcloud_operator_leader) or vector(0)) == 0',
      '5m',
      'No imcloud operator holds the leader Lease',
      'ImClusters are not reconciled or scaled: running pods keep serving, but spec changes, gray releases and autoscaling wait. Check the operator Deployment in the chart namespace (kubectl get deploy,lease -n <namespace>).',
    ),
    alert(
      'ImcloudOperatorReconcileErrors',
      'ticket',
      'sum(rate(imcloud_operator_reconcile_errors_total[10m])) > 0',
      '15m',
      'The imcloud operator keeps failing to reconcile',
      'kubectl get imc -A and kubectl describe imc show the Degraded condition and Events; the operator log has the failing request.',
    ),
    alert(
      'ImclusterDegraded',
      'ticket',
      'sum(imcloud_operator_imclusters{phase="Degraded"}) > 0',
      '10m',
      '{{ $value }} ImCluster(s) are Degraded',
      'kubectl get imc -A lists them; the Degraded condition says which dependency or object is missing.',
    ),
    alert(
      'ImcloudOperatorQueueBacklog',
      'ticket',
      'max(imcloud_operator_queue_depth) > 20',
      '15m',
      'ImClusters wait long to be reconciled',
      'More than 20 ImClusters have waited to be reconciled for 15 minutes: the operator is slow (API server latency, throttling) or failing and retrying.',
    ),
  ];
}

export function messagingAlerts(): AlertRule[] {
  return [
    alert(
      'ImcloudDeadLetters',
      'ticket',
      'sum by (channel) (increase(imcloud_bus_dead_letters_total[10m])) > 0',
      undefined,
      `Messages were dead-lettered on ${label('channel')}`,
      `Bus messages on ${label('channel')} failed their delivery limit and went to the ${bus.deadLetterQueue} queue: a message its handler cannot process (a bug) or a backend failing for long. They are kept there for inspection.`,
    ),
    // The lag histogram's top bucket is 10 s, so its p99 never exceeds 10: count what lies above.
    alert(
      'ImcloudStoreLagHigh',
      'ticket',
      '1 - sum(rate(imcloud_consumer_lag_seconds_bucket{le="10"}[5m])) / sum(rate(imcloud_consumer_lag_seconds_count[5m])) > 0.01',
      '10m',
      'More than 1 % of messages take over 10 s to reach the message store',
      'Consumers write the store behind the pushes: history and sync past the recent window wait for them. The store is slow (MongoDB command latency) or consumers are too few or were down (the backlog they catch up on is late).',
    ),
    alert(
      'ImcloudAckLatencyHigh',
      'ticket',
      'histogram_quantile(0.99, sum by (le) (rate(imcloud_logic_ack_latency_seconds_bucket[5m]))) > 1',
      '10m',
      'Send acknowledgements take more than 1 s (p99)',
      'From the frame entering the gate to its SendAck leaving logic: logic is saturated (imcloud_logic_requests waiting) or Redis or RabbitMQ is slow.',
    ),
    alert(
      'ImcloudShedding',
      'ticket',
      'sum by (type) (rate(imcloud_logic_shed_total[5m])) > 0',
      '5m',
      `Logic refuses ${label('type')} frames that waited longer than logic.maxQueueDelayMs: add logic capacity`,
      `Frames of type ${label('type')} waited in the upstream queue longer than logic.maxQueueDelayMs and were answered IM_UNAVAILABLE unprocessed (overload). Sends among them count against the send-success SLO.`,
    ),
    alert(
      'ImcloudUpstreamFull',
      'ticket',
      'sum(rate(imcloud_gate_upstream_refused_total[5m])) > 0',
      '5m',
      'Gates refuse client frames because the upstream queue holds logic.maxQueueBytes: add logic capacity',
      'Gates answer IM_UNAVAILABLE at once while the upstream queue is full (overload): logic does not keep up.',
    ),
    alert(
      'ImcloudUncaughtErrors',
      'ticket',
      'sum by (pod) (increase(imcloud_process_uncaught_errors_total[10m])) > 0',
      undefined,
      `An error reached the last-resort handler of ${label('pod')} (logged with its stack; the process kept serving): a bug to report`,
      `The log of ${label('pod')} has the error and its stack; report it with the version.`,
    ),
    alert(
      'ImcloudAppRateLimited',
      'ticket',
      'sum by (app_id) (rate(imcloud_gate_app_rate_limited_total[5m])) > 10',
      '15m',
      `App ${label('app_id')} keeps exceeding its frame rate: raise its limits.framesPerSec if that is its real load`,
      `Gates refuse more than 10 frames/s of app ${label('app_id')} because it exceeds limits.framesPerSec across all gates. The app's clients see IM_RATE_LIMITED; its owner decides whether the load is real.`,
    ),
  ];
}

/** The roles the operator runs (operator/objects/builders.ts); file only with spec.file and MinIO. */
export const ROLES = ['gate', 'logic', 'consumer', 'dispatch', 'admin', 'file'] as const;
type Role = (typeof ROLES)[number];
/** Without these the platform does not serve: a page. Admin (the admin API) and file (covered by its SLO while up) are tickets. */
const ROLE_SEVERITY: Record<Role, Severity> = {
  gate: 'page',
  logic: 'page',
  consumer: 'page',
  dispatch: 'page',
  admin: 'ticket',
  file: 'ticket',
};

export const ROLE_UP = 'imcloud:role_up';
const CLUSTER = 'namespace, cluster';
const POOL = 'namespace, cluster, imcloud_dev_pool, imcloud_dev_track';

/**
 * `up` of every role target with its role and ImCluster: in Kubernetes from the operator's
 * ServiceMonitor (podTargetLabels: app_kubernetes_io_component = the role; job = <cluster>-metrics),
 * elsewhere from a job named after the role (gate, or imcloud-gate).
 */
export function availabilityRecordingRules(): RecordingRule[] {
  const roles = ROLES.join('|');
  return [
    {
      record: ROLE_UP,
      expr: [
        `label_replace(`,
        `  label_replace(up{app_kubernetes_io_component=~"${roles}"}, "role", "$1", "app_kubernetes_io_component", "(.*)"),`,
        `  "cluster", "$1", "job", "(.*)-metrics"`,
        `)`,
        `or`,
        `label_replace(up{app_kubernetes_io_component="", job=~"(imcloud[-_])?(${roles})"}, "role", "$2", "job", "(imcloud[-_])?(.*)")`,
      ].join('\n'),
    },
  ];
}

/** "ImCluster <namespace>/<name>" of an alert grouped by (namespace, cluster); outside Kubernetes there is one. */
const IMCLUSTER = '{{ with $labels.cluster }}ImCluster {{ $labels.namespace }}/{{ . }}{{ else }}the cluster{{ end }}';

const REDIS = 'namespace, job, instance';
export const REDIS_KEYS = 'imcloud:redis_keys:sum';
export const REDIS_DROP = 'imcloud:redis_keys:drop_ratio';

/**
 * Keys in each Redis (redis_exporter's redis_db_keys; 0 when Redis answers with an empty
 * keyspace, which the exporter may report as no db series at all; nothing while Redis is down or
 * still loading its dump), and the share of them lost since the 10-minute high: a wipe or a restart
 * without data shows as a drop to near 0. Instances that held fewer than 100 keys are ignored.
 */
export function redisRecordingRules(): RecordingRule[] {
  return [
    {
      record: REDIS_KEYS,
      expr: `(\n  sum by (${REDIS}) (redis_db_keys)\n  or\n  sum by (${REDIS}) (0 * (redis_up == 1))\n)\nunless on (${REDIS})\n(redis_loading_dump_file == 1)`,
    },
    { record: REDIS_DROP, expr: `1 - ${REDIS_KEYS} / (max_over_time(${REDIS_KEYS}[10m]) >= 100)` },
  ];
}

/**
 * The alert of a role with no target up, per ImCluster gate pool and track (a pool's AppIds are
 * offline without its gates; canary AppIds without the canary track): its targets are listed and
 * none is up (killed, crash-looping); or, per ImCluster, the role has no target at all while the
 * cluster's other roles are scraped (its pods are gone). The file role is optional: only the first.
 */
function roleDown(role: Role): AlertRule {
  const name = `Imcloud${role[0]!.toUpperCase()}${role.slice(1)}Down`;
  const up = `${ROLE_UP}{role="${role}"}`;
  const noneUp = `count by (${POOL}) (${up})\nunless on (${POOL})\n(${up} == 1)`;
  const noTarget = `count by (${CLUSTER}) (${ROLE_UP})\nunless on (${CLUSTER})\n${up}`;
  const expr = role === 'file' ? noneUp : `(\n  ${noneUp.replace(/\n/g, '\n  ')}\n)\nor\n(\n  ${noTarget.replace(/\n/g, '\n  ')}\n)`;
  const where = `${IMCLUSTER}{{ with $labels.imcloud_dev_pool }} pool {{ . }}{{ end }}{{ with $labels.imcloud_dev_track }} ({{ . }} track){{ end }}`;
  const severity = ROLE_SEVERITY[role];
  const forDuration = severity === 'page' ? '2m' : '10m';
  return alert(
    name,
    severity,
    expr,
    forDuration,
    `No ${role} process is up in ${where}`,
    `No ${role} target of ${where} has answered its scrape for ${forDuration.replace('m', ' minutes')}: killed, crash-looping, or its pods are gone. kubectl get pods -l app.kubernetes.io/component=${role} shows them; kubectl describe imc shows what the operator sees.`,
  );
}

export function availabilityAlerts(): AlertRule[] {
  return [
    ...ROLES.map(roleDown),
    alert(
      'ImcloudTargetDown',
      'ticket',
      `${ROLE_UP} == 0`,
      '10m',
      `The ${label('role')} target ${label('instance')} has not answered its scrape for 10 minutes`,
      `One ${label('role')} process of ${IMCLUSTER} does not answer its scrape (hung, overloaded, or unreachable), or is gone while its target is still listed; the others carry its load.`,
    ),
    alert(
      'ImcloudStoreQueueNoConsumer',
      'page',
      `max by (namespace, vhost, queue) (rabbitmq_queue_consumers{queue="${bus.storeQueue}"}) == 0`,
      '5m',
      `No consumer reads the ${bus.storeQueue} queue`,
      `Acked messages pile up in ${bus.storeQueue} (vhost ${label('vhost')}) and reach no message store: history past the recent window stops growing and RabbitMQ fills up until it blocks publishers. Every consumer process is down or lost its channel.`,
    ),
    alert(
      'ImcloudRabbitmqDown',
      'page',
      'up{job=~".*rabbitmq.*"} == 0',
      '2m',
      `RabbitMQ ${label('instance')} does not answer its scrape`,
      'Gates cannot publish client frames nor logic acks and pushes while RabbitMQ is down: sends fail with IM_UNAVAILABLE. Quorum queues keep what was acked.',
    ),
    alert(
      'ImcloudRedisDown',
      'page',
      'redis_up == 0',
      '2m',
      `Redis ${label('instance')} is unreachable`,
      `redis_exporter ${label('instance')} cannot reach Redis: logic allocates no seq and reads no recent window, so sends fail with IM_UNAVAILABLE.`,
    ),
    alert(
      'ImcloudRedisDataLost',
      'ticket',
      `max_over_time(${REDIS_DROP}[30m]) > 0.5`,
      undefined,
      `Redis ${label('instance')} lost more than half of its keys at once`,
      `Redis ${label('instance')} was wiped (FLUSHALL) or restarted without its data. imcloud recovers by design (seqs from the durable high-water marks, the recent window from the store, presence as clients reconnect), but find out why: persistence off, eviction, or a person.`,
    ),
  ];
}
