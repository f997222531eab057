// imcloud / bus and storage: RabbitMQ, Redis and PostgreSQL (FerretDB's store) as their own
// exporters see them, beside imcloud's side of the bus and the store.
//
// Exporter metric names are those of the versions Debian ships (what test/infra installs):
//   - RabbitMQ 3.10, its bundled rabbitmq_prometheus plugin (port 15692): rabbitmq_queue_* per
//     queue need the plugin's per-object metrics (see PER_OBJECT); rabbitmq_global_* counters
//     (labels protocol, queue_type) are on every endpoint.
//   - prometheus-redis-exporter 1.45 (oliver006/redis_exporter): redis_*.
//   - prometheus-postgres-exporter 0.11: pg_up and the pg_stat_database_* of its built-in queries.
import type { DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as units from '@grafana/grafana-foundation-sdk/units';
import { BUS_AND_STORAGE } from './shared/catalogue.js';
import { imcloudDashboard } from './shared/dashboard.js';
import { APP, quantile, RATE, rate } from './shared/labels.js';
import { tenantLink } from './shared/links.js';
import { row, stat, timeseries } from './shared/panels.js';
import { STORE_LAG_ALERT_SECONDS } from './shared/thresholds.js';

/** What the per-queue panels assume of the scrape (in their descriptions). */
const PER_OBJECT =
  "Per queue only with the plugin's per-object metrics: this dashboard assumes Prometheus scrapes /metrics/per-object on port 15692 (or that rabbitmq.conf sets prometheus.return_per_object_metrics = true); on the default aggregated /metrics there is one series, the sum over all queues, without a queue label.";

function rabbitmq(d: DashboardBuilder): void {
  d.withRow(row('RabbitMQ (rabbitmq_prometheus)'))
    .withPanel(
      timeseries({
        title: 'Messages ready by queue',
        description: `Messages waiting in each queue for a consumer (rabbitmq_queue_messages_ready): the queue depth. A store queue that keeps growing means the consumers fall behind or are gone. ${PER_OBJECT}`,
        unit: units.Short,
        targets: [{ expr: 'sum by (queue) (rabbitmq_queue_messages_ready)', legend: '{{queue}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Messages unacked by queue',
        description: `Messages delivered to a consumer and not acknowledged yet, per queue (rabbitmq_queue_messages_unacked): bounded by the consumers' prefetch; stuck at the limit means a hung consumer. ${PER_OBJECT}`,
        unit: units.Short,
        targets: [{ expr: 'sum by (queue) (rabbitmq_queue_messages_unacked)', legend: '{{queue}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Consumers by queue',
        description: `Consumers attached to each queue (rabbitmq_queue_consumers). A durable queue with no consumer (the store queue with every consumer down) only grows. ${PER_OBJECT}`,
        unit: units.Short,
        targets: [{ expr: 'sum by (queue) (rabbitmq_queue_consumers)', legend: '{{queue}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Published, routed, delivered and acked / s',
        description: `Broker-wide message rates over ${RATE}, all protocols and queue types: received from publishers (rabbitmq_global_messages_received_total), routed to queues (rabbitmq_global_messages_routed_total), delivered to consumers (rabbitmq_global_messages_delivered_total), acknowledged by consumers (rabbitmq_global_messages_acknowledged_total).`,
        unit: units.OpsPerSecond,
        width: 12,
        targets: [
          { expr: `sum(${rate('rabbitmq_global_messages_received_total')})`, legend: 'published' },
          { expr: `sum(${rate('rabbitmq_global_messages_routed_total')})`, legend: 'routed' },
          { expr: `sum(${rate('rabbitmq_global_messages_delivered_total')})`, legend: 'delivered' },
          { expr: `sum(${rate('rabbitmq_global_messages_acknowledged_total')})`, legend: 'acked' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redelivered and unroutable / s',
        description: `Broker-wide over ${RATE}: messages redelivered to consumers (rabbitmq_global_messages_redelivered_total: a consumer died or nacked), and published messages no queue took, dropped or returned (rabbitmq_global_messages_unroutable_dropped_total, rabbitmq_global_messages_unroutable_returned_total).`,
        unit: units.OpsPerSecond,
        width: 12,
        targets: [
          { expr: `sum(${rate('rabbitmq_global_messages_redelivered_total')})`, legend: 'redelivered' },
          { expr: `sum(${rate('rabbitmq_global_messages_unroutable_dropped_total')})`, legend: 'unroutable, dropped' },
          { expr: `sum(${rate('rabbitmq_global_messages_unroutable_returned_total')})`, legend: 'unroutable, returned' },
        ],
      }),
    );
}

function redis(d: DashboardBuilder): void {
  d.withRow(row('Redis (redis_exporter)'))
    .withPanel(
      timeseries({
        title: 'Redis memory used and limit',
        description:
          'Memory Redis uses for data and overhead (redis_memory_used_bytes) against its maxmemory (redis_memory_max_bytes; 0 means no limit). Near the limit Redis evicts keys or refuses writes, depending on its policy.',
        unit: units.BytesIEC,
        targets: [
          { expr: 'sum by (instance) (redis_memory_used_bytes)', legend: 'used {{instance}}' },
          { expr: 'sum by (instance) (redis_memory_max_bytes)', legend: 'max {{instance}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redis commands / s',
        description: `Commands Redis processed per second over ${RATE} (redis_commands_processed_total): routing, presence, sequence numbers and rate limits all go through it.`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (instance) (${rate('redis_commands_processed_total')})`, legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redis connected clients',
        description:
          'Client connections open on Redis (redis_connected_clients): every role process holds a few; a climb without more pods is a leak.',
        unit: units.Short,
        targets: [{ expr: 'sum by (instance) (redis_connected_clients)', legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redis keys evicted and expired / s',
        description: `Keys Redis evicted under memory pressure (redis_evicted_keys_total: should stay at 0, imcloud's keys are not a cache) and keys that expired (redis_expired_keys_total), per second over ${RATE}.`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (instance) (${rate('redis_evicted_keys_total')})`, legend: 'evicted {{instance}}' },
          { expr: `sum by (instance) (${rate('redis_expired_keys_total')})`, legend: 'expired {{instance}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redis keys by database',
        description:
          'Keys in each Redis database (redis_db_keys). A sudden drop to near zero with a restart (uptime) means Redis lost its data.',
        unit: units.Short,
        targets: [{ expr: 'sum by (instance, db) (redis_db_keys)', legend: '{{instance}} {{db}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Redis uptime',
        description: 'Seconds since each Redis server started (redis_uptime_in_seconds): a fall to zero is a restart.',
        unit: units.Seconds,
        targets: [{ expr: 'min by (instance) (redis_uptime_in_seconds)', legend: '{{instance}}' }],
      }),
    );
}

function postgres(d: DashboardBuilder): void {
  d.withRow(row("PostgreSQL, FerretDB's store (postgres_exporter)"))
    .withPanel(
      stat({
        title: 'PostgreSQL up',
        description: 'Whether postgres_exporter reaches PostgreSQL, the store FerretDB writes the messages to (pg_up: 1 up, 0 down).',
        unit: units.NoUnit,
        width: 4,
        height: 8,
        targets: [{ expr: 'min(pg_up)', legend: 'up' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'PostgreSQL connections by database',
        description:
          "Backends connected to each database (pg_stat_database_numbackends): FerretDB's connection pool, and anything else; compare with max_connections.",
        unit: units.Short,
        width: 10,
        targets: [{ expr: 'sum by (datname) (pg_stat_database_numbackends)', legend: '{{datname}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'PostgreSQL transactions / s by database',
        description: `Transactions committed (pg_stat_database_xact_commit) and rolled back (pg_stat_database_xact_rollback) per second over ${RATE}, by database.`,
        unit: units.OpsPerSecond,
        width: 10,
        targets: [
          { expr: `sum by (datname) (${rate('pg_stat_database_xact_commit')})`, legend: 'commit {{datname}}' },
          { expr: `sum by (datname) (${rate('pg_stat_database_xact_rollback')})`, legend: 'rollback {{datname}}' },
        ],
      }),
    );
}

function imcloudSide(d: DashboardBuilder): void {
  d.withRow(row("imcloud's side of the bus and the store"))
    .withPanel(
      timeseries({
        title: 'Bus redeliveries and dead letters / s by channel',
        description: `Per second over ${RATE}: bus messages imcloud received more than once (imcloud_bus_redeliveries_total), and gave up on after the delivery limit (imcloud_bus_dead_letters_total; the ImcloudDeadLetters alert fires on any), by channel.`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (channel) (${rate('imcloud_bus_redeliveries_total')})`, legend: 'redelivered {{channel}}' },
          { expr: `sum by (channel) (${rate('imcloud_bus_dead_letters_total')})`, legend: 'dead-lettered {{channel}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Store lag p50 / p99',
        description: `From message acceptance to its durable write in the message store (imcloud_consumer_lag_seconds). The ImcloudStoreLagHigh alert fires when p99 stays above ${STORE_LAG_ALERT_SECONDS} s (dashed line).`,
        unit: units.Seconds,
        threshold: STORE_LAG_ALERT_SECONDS,
        targets: [
          { expr: quantile(0.5, 'imcloud_consumer_lag_seconds'), legend: 'p50' },
          { expr: quantile(0.99, 'imcloud_consumer_lag_seconds'), legend: 'p99' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Messages stored / s by AppId',
        description: `Messages the consumers wrote to the message store (new rows), per second over ${RATE}, for the selected AppIds (imcloud_consumer_stored_total). Click a series to open the tenant dashboard for its AppId.`,
        unit: units.OpsPerSecond,
        links: [tenantLink()],
        targets: [{ expr: `sum by (app_id) (${rate('imcloud_consumer_stored_total', APP)})`, legend: '{{app_id}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Store batch write p50 / p99',
        description: 'Time to write one batch of messages to the message store (imcloud_consumer_store_batch_seconds).',
        unit: units.Seconds,
        targets: [
          { expr: quantile(0.5, 'imcloud_consumer_store_batch_seconds'), legend: 'p50' },
          { expr: quantile(0.99, 'imcloud_consumer_store_batch_seconds'), legend: 'p99' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'MongoDB command latency p99 by command and collection',
        description:
          'p99 of the MongoDB commands (through FerretDB) as the driver saw them, by command and collection (imcloud_mongodb_command_seconds).',
        unit: units.Seconds,
        targets: [
          {
            expr: quantile(0.99, 'imcloud_mongodb_command_seconds', { by: ['command', 'collection'] }),
            legend: '{{command}} {{collection}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'MongoDB commands failed / s by command',
        description: `MongoDB commands that failed, by command and collection, per second over ${RATE} (imcloud_mongodb_command_seconds_count with outcome="error"); 0 for each command that ran without failing.`,
        unit: units.OpsPerSecond,
        targets: [
          {
            // A command that never failed has no error series: it shows as 0 through the ones that ran.
            expr: `sum by (command, collection) (${rate('imcloud_mongodb_command_seconds_count', 'outcome="error"')}) or sum by (command, collection) (${rate('imcloud_mongodb_command_seconds_count')}) * 0`,
            legend: '{{command}} {{collection}}',
          },
        ],
      }),
    );
}

export function busAndStorage(): DashboardBuilder {
  const d = imcloudDashboard(BUS_AND_STORAGE, {
    description: "RabbitMQ, Redis and PostgreSQL (FerretDB's store) from their exporters, and imcloud's side of the bus and the store.",
    appId: 'multi',
  });
  rabbitmq(d);
  redis(d);
  postgres(d);
  imcloudSide(d);
  return d;
}
