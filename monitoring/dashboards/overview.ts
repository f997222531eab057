// imcloud / overview: the golden signals of every role (traffic, errors, latency, saturation),
// the first dashboard an SRE opens. Per-AppId panels follow the AppId variable (All by default)
// and link each AppId to the tenant dashboard.
import type { DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as units from '@grafana/grafana-foundation-sdk/units';
import { OVERVIEW } from './shared/catalogue.js';
import { imcloudDashboard } from './shared/dashboard.js';
import { APP, quantile, RATE, ROLE, rate } from './shared/labels.js';
import { ackLatencyPanel, deliveryLatencyPanel } from './shared/latency.js';
import { tenantLink } from './shared/links.js';
import { row, stat, timeseries } from './shared/panels.js';
import { SERVER_FAILED_SENDS } from './shared/queries.js';
import { DELIVERY_SLO_SECONDS, SEND_ERROR_BUDGET, STORE_LAG_ALERT_SECONDS } from './shared/thresholds.js';

function atAGlance(d: DashboardBuilder): void {
  d.withRow(row('At a glance'))
    .withPanel(
      stat({
        title: 'Open connections',
        description: 'Client connections open on all gates, authenticated or not (imcloud_gate_connections).',
        unit: units.Short,
        width: 4,
        targets: [{ expr: 'sum(imcloud_gate_connections)', legend: 'open' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Online (selected apps)',
        description: 'Authenticated connections of the selected AppIds (imcloud_gate_authenticated_connections).',
        unit: units.Short,
        width: 4,
        targets: [{ expr: `sum(imcloud_gate_authenticated_connections{${APP}})`, legend: 'online' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Sends accepted / s',
        description: `Messages logic accepted (acked) per second for the selected AppIds, over ${RATE} (imcloud_logic_sends_total).`,
        unit: units.OpsPerSecond,
        width: 4,
        targets: [{ expr: `sum(${rate('imcloud_logic_sends_total', APP)})`, legend: 'sends/s' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Delivery latency p99',
        description: `From acceptance to the push written to the receiver's connection, p99 for the selected AppIds (imcloud_gate_push_latency_seconds). SLO: 99 % within ${DELIVERY_SLO_SECONDS * 1000} ms; red above it.`,
        unit: units.Seconds,
        width: 4,
        threshold: DELIVERY_SLO_SECONDS,
        targets: [{ expr: quantile(0.99, 'imcloud_gate_push_latency_seconds', { matchers: APP }), legend: 'p99' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Sends failed by the server',
        description: `Share of the selected AppIds' sends answered IM_UNAVAILABLE (backend trouble or overload, shed included) out of all sends, accepted or refused (imcloud_logic_send_errors_total, imcloud_logic_sends_total). SLO: 99.9 % without a server error; red above the ${SEND_ERROR_BUDGET * 100} % budget.`,
        unit: units.PercentUnit,
        width: 4,
        threshold: SEND_ERROR_BUDGET,
        targets: [{ expr: SERVER_FAILED_SENDS, legend: 'failed' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Errors / s (all roles)',
        description: `Errors returned to clients and API callers by every role, per second over ${RATE} (imcloud_errors_total). The Errors row splits them by role and code.`,
        unit: units.OpsPerSecond,
        width: 4,
        targets: [{ expr: `sum(${rate('imcloud_errors_total')})`, legend: 'errors/s' }],
      }),
    );
}

function traffic(d: DashboardBuilder): void {
  d.withRow(row('Traffic'))
    .withPanel(
      timeseries({
        title: 'Connections by transport (gate)',
        description:
          'Open client connections by transport (imcloud_gate_connections), and the authenticated ones of the selected AppIds (imcloud_gate_authenticated_connections).',
        unit: units.Short,
        targets: [
          { expr: 'sum by (transport) (imcloud_gate_connections)', legend: '{{transport}}' },
          { expr: `sum(imcloud_gate_authenticated_connections{${APP}})`, legend: 'authenticated (selected apps)' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Frames / s in by type, and out (gate)',
        description: `Frames the gates read from clients, by frame type, and wrote to clients, per second over ${RATE} (imcloud_gate_frames_in_total, imcloud_gate_frames_out_total).`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (type) (${rate('imcloud_gate_frames_in_total')})`, legend: 'in {{type}}' },
          { expr: `sum(${rate('imcloud_gate_frames_out_total')})`, legend: 'out' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Sends and pushes / s by AppId (logic)',
        description: `Messages accepted (imcloud_logic_sends_total) and pushed to receivers' connections (imcloud_logic_pushes_total) per second over ${RATE}, by AppId. Click a series to open the tenant dashboard for its AppId.`,
        unit: units.OpsPerSecond,
        links: [tenantLink()],
        targets: [
          { expr: `sum by (app_id) (${rate('imcloud_logic_sends_total', APP)})`, legend: '{{app_id}} sent' },
          { expr: `sum by (app_id) (${rate('imcloud_logic_pushes_total', APP)})`, legend: '{{app_id}} pushed' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Upstream frames / s by type and result (logic)',
        description: `Frames logic handled from the upstream queue, by frame type and result, per second over ${RATE} (imcloud_logic_upstream_total).`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (type, result) (${rate('imcloud_logic_upstream_total')})`, legend: '{{type}} {{result}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Work / s of consumer, dispatch, admin and file',
        description: `Per second over ${RATE}: messages the consumer stored for the selected AppIds (imcloud_consumer_stored_total), dispatch answers by result (imcloud_dispatch_requests_total), admin API requests by status (imcloud_admin_requests_total), file uploads by stage for the selected AppIds (imcloud_file_uploads_total).`,
        unit: units.OpsPerSecond,
        width: 16,
        targets: [
          { expr: `sum(${rate('imcloud_consumer_stored_total', APP)})`, legend: 'consumer stored' },
          { expr: `sum by (result) (${rate('imcloud_dispatch_requests_total')})`, legend: 'dispatch {{result}}' },
          { expr: `sum by (status) (${rate('imcloud_admin_requests_total')})`, legend: 'admin {{status}}' },
          { expr: `sum by (stage) (${rate('imcloud_file_uploads_total', APP)})`, legend: 'file upload {{stage}}' },
        ],
      }),
    );
}

function errors(d: DashboardBuilder): void {
  d.withRow(row('Errors'))
    .withPanel(
      timeseries({
        title: 'Errors / s by role and code',
        description: `Errors returned to clients and API callers, by the role that answered and the stable error code, per second over ${RATE} (imcloud_errors_total).`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (role, code) (${rate('imcloud_errors_total')})`, legend: '{{role}} {{code}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Sends refused / s by code (selected apps)',
        description: `Sends refused, by the code answered, per second over ${RATE} (imcloud_logic_send_errors_total). IM_UNAVAILABLE is the server's failure (it burns the send-success SLO); the other codes are the client's.`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (code) (${rate('imcloud_logic_send_errors_total', APP)})`, legend: '{{code}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Connection problems / s (gate)',
        description: `Per second over ${RATE}: closed connections by reason code (imcloud_gate_disconnects_total), connections refused before they opened by reason (imcloud_gate_connections_refused_total), socket errors by where and code (imcloud_gate_socket_errors_total).`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (reason) (${rate('imcloud_gate_disconnects_total')})`, legend: 'closed {{reason}}' },
          { expr: `sum by (reason) (${rate('imcloud_gate_connections_refused_total')})`, legend: 'refused {{reason}}' },
          { expr: `sum by (where, code) (${rate('imcloud_gate_socket_errors_total')})`, legend: 'socket {{where}} {{code}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Uncaught errors and bad HTTP requests / s',
        description: `Per second over ${RATE}: errors that reached a process's last-resort handlers, by role and kind (imcloud_process_uncaught_errors_total; the ImcloudUncaughtErrors alert fires on any), and HTTP requests that could not be parsed or timed out before a handler ran, by reason (imcloud_http_client_errors_total).`,
        unit: units.OpsPerSecond,
        width: 24,
        targets: [
          { expr: `sum by (${ROLE}, kind) (${rate('imcloud_process_uncaught_errors_total')})`, legend: `uncaught {{${ROLE}}} {{kind}}` },
          { expr: `sum by (reason) (${rate('imcloud_http_client_errors_total')})`, legend: 'http {{reason}}' },
        ],
      }),
    );
}

function latency(d: DashboardBuilder): void {
  d.withRow(row('Latency'))
    .withPanel(deliveryLatencyPanel('Delivery latency p50 / p99 (gate)', ', for the selected AppIds'))
    .withPanel(ackLatencyPanel('Send → ack latency p50 / p99 (logic)', ', for the selected AppIds'))
    .withPanel(
      timeseries({
        title: 'Where a send spends its time: p99 by step (logic)',
        description:
          'p99 of each step of the accept path (imcloud_logic_send_stage_seconds; bus_in: from the gate to logic through the upstream queue). The step that grows is the one to look at.',
        unit: units.Seconds,
        width: 12,
        targets: [{ expr: quantile(0.99, 'imcloud_logic_send_stage_seconds', { by: ['stage'] }), legend: '{{stage}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Store lag p50 / p99 (consumer)',
        description: `From message acceptance to its durable write in the message store (imcloud_consumer_lag_seconds). The ImcloudStoreLagHigh alert fires when p99 stays above ${STORE_LAG_ALERT_SECONDS} s (dashed line).`,
        unit: units.Seconds,
        width: 12,
        threshold: STORE_LAG_ALERT_SECONDS,
        targets: [
          { expr: quantile(0.5, 'imcloud_consumer_lag_seconds'), legend: 'p50' },
          { expr: quantile(0.99, 'imcloud_consumer_lag_seconds'), legend: 'p99' },
        ],
      }),
    );
}

function saturation(d: DashboardBuilder): void {
  d.withRow(row('Saturation'))
    .withPanel(
      timeseries({
        title: 'Shed, refused and rate-limited frames / s',
        description: `Overload, per second over ${RATE}: frames logic shed after waiting longer than logic.maxQueueDelayMs, by type (imcloud_logic_shed_total; alert ImcloudShedding); frames the gates refused because the upstream queue was full (imcloud_gate_upstream_refused_total; alert ImcloudUpstreamFull); frames refused because their app exceeded its frame rate, for the selected AppIds (imcloud_gate_app_rate_limited_total).`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (type) (${rate('imcloud_logic_shed_total')})`, legend: 'shed {{type}}' },
          { expr: `sum(${rate('imcloud_gate_upstream_refused_total')})`, legend: 'refused at the gates (queue full)' },
          { expr: `sum by (app_id) (${rate('imcloud_gate_app_rate_limited_total', APP)})`, legend: 'rate-limited {{app_id}}' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Logic requests running and waiting',
        description:
          "Upstream requests in the logic processes: running, or waiting for their app's turn (imcloud_logic_requests). A waiting count that keeps growing comes before shedding.",
        unit: units.Short,
        targets: [{ expr: 'sum by (state) (imcloud_logic_requests)', legend: '{{state}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'File chunks in flight by pod (file)',
        description:
          'Chunk bodies each file process is reading now, each held in memory up to file.chunkBytes (imcloud_file_chunks_in_flight).',
        unit: units.Short,
        targets: [{ expr: 'sum by (pod) (imcloud_file_chunks_in_flight)', legend: '{{pod}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'CPU by pod (cores)',
        description: `CPU time per second of each role process, in cores, over ${RATE} (imcloud_process_process_cpu_seconds_total). A Node.js process does its JavaScript on one core: near 1 is saturated.`,
        unit: units.Short,
        targets: [{ expr: `sum by (${ROLE}, pod) (${rate('imcloud_process_process_cpu_seconds_total')})`, legend: `{{${ROLE}}} {{pod}}` }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Event-loop lag p99 by pod',
        description:
          'p99 of the Node.js event-loop delay of each role process (imcloud_process_nodejs_eventloop_lag_p99_seconds): every frame and request of the process waits at least this long.',
        unit: units.Seconds,
        targets: [{ expr: `max by (${ROLE}, pod) (imcloud_process_nodejs_eventloop_lag_p99_seconds)`, legend: `{{${ROLE}}} {{pod}}` }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Resident memory by pod',
        description:
          'Resident set size of each role process (imcloud_process_process_resident_memory_bytes); compare with the pod memory limit.',
        unit: units.BytesIEC,
        targets: [{ expr: `sum by (${ROLE}, pod) (imcloud_process_process_resident_memory_bytes)`, legend: `{{${ROLE}}} {{pod}}` }],
      }),
    );
}

export function overview(): DashboardBuilder {
  const d = imcloudDashboard(OVERVIEW, {
    description: 'Golden signals of every imcloud role: traffic, errors, latency, saturation.',
    appId: 'multi',
  });
  atAGlance(d);
  traffic(d);
  errors(d);
  latency(d);
  saturation(d);
  return d;
}
