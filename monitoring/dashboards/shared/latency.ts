// The two latency panels the overview and tenant dashboards share: delivery (the SLO's
// histogram) and send → ack, p50 and p99 for the selected AppIds, each with its line.
import * as units from '@grafana/grafana-foundation-sdk/units';
import { APP, quantile } from './labels.js';
import { timeseries } from './panels.js';
import { ACK_LATENCY_ALERT_SECONDS, DELIVERY_SLO_SECONDS } from './thresholds.js';

/** p50 and p99 of a latency histogram for the selected AppIds. */
function p50p99(histogram: string) {
  return [
    { expr: quantile(0.5, histogram, { matchers: APP }), legend: 'p50' },
    { expr: quantile(0.99, histogram, { matchers: APP }), legend: 'p99' },
  ];
}

/** `scope` says whose messages, e.g. "for the selected AppIds". */
export function deliveryLatencyPanel(title: string, scope: string) {
  return timeseries({
    title,
    description: `From message acceptance to the push written to the receiver's connection${scope} (imcloud_gate_push_latency_seconds). SLO: 99 % within ${DELIVERY_SLO_SECONDS * 1000} ms (dashed line).`,
    unit: units.Seconds,
    width: 12,
    threshold: DELIVERY_SLO_SECONDS,
    targets: p50p99('imcloud_gate_push_latency_seconds'),
  });
}

/** `alertScope` says what the alert covers, e.g. " (all apps)". */
export function ackLatencyPanel(title: string, scope: string, alertScope = '') {
  return timeseries({
    title,
    description: `From the send frame entering the gate to the SendAck leaving logic${scope} (imcloud_logic_ack_latency_seconds). The ImcloudAckLatencyHigh alert${alertScope} fires when p99 stays above ${ACK_LATENCY_ALERT_SECONDS} s (dashed line).`,
    unit: units.Seconds,
    width: 12,
    threshold: ACK_LATENCY_ALERT_SECONDS,
    targets: p50p99('imcloud_logic_ack_latency_seconds'),
  });
}
