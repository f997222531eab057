// imcloud / tenant: one AppId (single select) end to end: its connections, sends, delivery and
// ack latency against the SLO, refusals and rate limiting, what it stores, groups and files.
import type { DashboardBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import * as units from '@grafana/grafana-foundation-sdk/units';
import { TENANT } from './shared/catalogue.js';
import { imcloudDashboard } from './shared/dashboard.js';
import { APP, quantile, RATE, rate } from './shared/labels.js';
import { ackLatencyPanel, deliveryLatencyPanel } from './shared/latency.js';
import { row, stat, timeseries } from './shared/panels.js';
import { SERVER_FAILED_SENDS } from './shared/queries.js';
import { APP_RATE_LIMITED_ALERT_PER_SECOND, DELIVERY_SLO_SECONDS, SEND_ERROR_BUDGET } from './shared/thresholds.js';

function atAGlance(d: DashboardBuilder): void {
  d.withRow(row('At a glance'))
    .withPanel(
      stat({
        title: 'Online connections',
        description: "The app's authenticated connections on all gates (imcloud_gate_authenticated_connections).",
        unit: units.Short,
        width: 5,
        targets: [{ expr: `sum(imcloud_gate_authenticated_connections{${APP}})`, legend: 'online' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Sends accepted / s',
        description: `The app's messages logic accepted (acked), per second over ${RATE} (imcloud_logic_sends_total).`,
        unit: units.OpsPerSecond,
        width: 5,
        targets: [{ expr: `sum(${rate('imcloud_logic_sends_total', APP)})`, legend: 'sends/s' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Delivery latency p99',
        description: `End to end, from acceptance to the push written to the receiver's connection, p99 (imcloud_gate_push_latency_seconds). SLO: 99 % within ${DELIVERY_SLO_SECONDS * 1000} ms; red above it.`,
        unit: units.Seconds,
        width: 5,
        threshold: DELIVERY_SLO_SECONDS,
        targets: [{ expr: quantile(0.99, 'imcloud_gate_push_latency_seconds', { matchers: APP }), legend: 'p99' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Sends failed by the server',
        description: `Share of the app's sends answered IM_UNAVAILABLE (backend trouble or overload, shed included) out of all its sends (imcloud_logic_send_errors_total, imcloud_logic_sends_total). SLO: 99.9 % without a server error; red above the ${SEND_ERROR_BUDGET * 100} % budget.`,
        unit: units.PercentUnit,
        width: 5,
        threshold: SEND_ERROR_BUDGET,
        targets: [{ expr: SERVER_FAILED_SENDS, legend: 'failed' }],
      }),
    )
    .withPanel(
      stat({
        title: 'Frames rate-limited / s',
        description: `Frames refused because the app exceeded its frame rate across all gates, per second over ${RATE} (imcloud_gate_app_rate_limited_total). The ImcloudAppRateLimited alert fires above ${APP_RATE_LIMITED_ALERT_PER_SECOND}/s; red there.`,
        unit: units.OpsPerSecond,
        width: 4,
        threshold: APP_RATE_LIMITED_ALERT_PER_SECOND,
        targets: [{ expr: `sum(${rate('imcloud_gate_app_rate_limited_total', APP)})`, legend: 'rate-limited/s' }],
      }),
    );
}

function messages(d: DashboardBuilder): void {
  d.withRow(row('Messages'))
    .withPanel(
      timeseries({
        title: 'Online connections',
        description: "The app's authenticated connections on all gates (imcloud_gate_authenticated_connections).",
        unit: units.Short,
        targets: [{ expr: `sum(imcloud_gate_authenticated_connections{${APP}})`, legend: 'online' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Sent, pushed and stored / s',
        description: `Per second over ${RATE}: messages accepted (imcloud_logic_sends_total), pushed to receivers' connections (imcloud_logic_pushes_total) and written to the message store (imcloud_consumer_stored_total).`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum(${rate('imcloud_logic_sends_total', APP)})`, legend: 'sent' },
          { expr: `sum(${rate('imcloud_logic_pushes_total', APP)})`, legend: 'pushed' },
          { expr: `sum(${rate('imcloud_consumer_stored_total', APP)})`, legend: 'stored' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Send retries / s by outcome',
        description: `Sends that repeated an earlier clientMsgId (the client retried, e.g. after a lost ack), by outcome, per second over ${RATE} (imcloud_logic_send_retries_total).`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (outcome) (${rate('imcloud_logic_send_retries_total', APP)})`, legend: '{{outcome}}' }],
      }),
    )
    .withPanel(deliveryLatencyPanel('End-to-end delivery latency p50 / p99', ''))
    .withPanel(ackLatencyPanel('Send → ack latency p50 / p99', '', ' (all apps)'));
}

function refusals(d: DashboardBuilder): void {
  d.withRow(row('Refusals and limits'))
    .withPanel(
      timeseries({
        title: 'Sends refused / s by code',
        description: `The app's sends refused, by the code answered, per second over ${RATE} (imcloud_logic_send_errors_total). IM_UNAVAILABLE is the server's failure; the other codes are the client's (bad input, permissions, limits).`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (code) (${rate('imcloud_logic_send_errors_total', APP)})`, legend: '{{code}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Frames rate-limited / s',
        description: `Frames refused because the app exceeded its frame rate across all gates, per second over ${RATE} (imcloud_gate_app_rate_limited_total). The ImcloudAppRateLimited alert fires above ${APP_RATE_LIMITED_ALERT_PER_SECOND}/s (dashed line).`,
        unit: units.OpsPerSecond,
        threshold: APP_RATE_LIMITED_ALERT_PER_SECOND,
        targets: [{ expr: `sum(${rate('imcloud_gate_app_rate_limited_total', APP)})`, legend: 'rate-limited' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'Sessions expired / s',
        description: `Sessions the gates ended because their token expired, per second over ${RATE} (imcloud_gate_sessions_expired_total). A burst means the app issues tokens that are too short-lived.`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum(${rate('imcloud_gate_sessions_expired_total', APP)})`, legend: 'expired' }],
      }),
    );
}

function groups(d: DashboardBuilder): void {
  d.withRow(row('Groups')).withPanel(
    timeseries({
      title: 'Group diffusion switches (all apps)',
      description: `Groups that switched between write and read diffusion (ADR 0030) in each ${RATE}, by the mode they switched to (imcloud_logic_group_diffusion_switches_total). Counted for all apps together: the metric carries no AppId.`,
      unit: units.Short,
      width: 24,
      targets: [{ expr: `sum by (to) (increase(imcloud_logic_group_diffusion_switches_total[${RATE}]))`, legend: 'to {{to}}' }],
    }),
  );
}

function files(d: DashboardBuilder): void {
  d.withRow(row('Files'))
    .withPanel(
      timeseries({
        title: 'Uploads / s by stage',
        description: `The app's file uploads per second over ${RATE}, by stage: started (prepare), completed (a full upload stored), deduplicated (a flash upload proved), failed (imcloud_file_uploads_total).`,
        unit: units.OpsPerSecond,
        targets: [{ expr: `sum by (stage) (${rate('imcloud_file_uploads_total', APP)})`, legend: '{{stage}}' }],
      }),
    )
    .withPanel(
      timeseries({
        title: 'File refusals and failed proofs / s',
        description: `The app's file requests refused or failed, by error code (imcloud_file_failures_total), and flash uploads whose proof of possession was wrong (imcloud_file_proof_failures_total), per second over ${RATE}.`,
        unit: units.OpsPerSecond,
        targets: [
          { expr: `sum by (reason) (${rate('imcloud_file_failures_total', APP)})`, legend: '{{reason}}' },
          { expr: `sum(${rate('imcloud_file_proof_failures_total', APP)})`, legend: 'proof failed' },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: 'File bytes / s in and out',
        description: `Bytes of the app's accepted upload chunks (imcloud_file_bytes_in_total) and of files and thumbnails sent to its clients (imcloud_file_bytes_out_total), per second over ${RATE}.`,
        unit: units.BytesPerSecondSI,
        targets: [
          { expr: `sum(${rate('imcloud_file_bytes_in_total', APP)})`, legend: 'in (uploads)' },
          { expr: `sum(${rate('imcloud_file_bytes_out_total', APP)})`, legend: 'out (downloads)' },
        ],
      }),
    );
}

export function tenant(): DashboardBuilder {
  const d = imcloudDashboard(TENANT, {
    description: 'One AppId end to end: connections, sends, delivery latency against the SLO, refusals, groups and files.',
    appId: 'single',
  });
  atAGlance(d);
  messages(d);
  refusals(d);
  groups(d);
  files(d);
  return d;
}
