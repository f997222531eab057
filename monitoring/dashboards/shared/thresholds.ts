// The numbers panels draw as thresholds: SLO targets and the alert thresholds of
// charts/imcloud/templates/prometheusrule.yaml (keep them in step when an alert changes).

/** SLO: 99 % of messages delivered to online receivers within 500 ms (imcloud_gate_push_latency_seconds). */
export const DELIVERY_SLO_SECONDS = 0.5;
/** SLO: 99.9 % of sends acked without a server error: the budget is 0.1 % IM_UNAVAILABLE answers. */
export const SEND_ERROR_BUDGET = 0.001;
/** Alert ImcloudAckLatencyHigh: ack latency p99 above 1 s for 10 minutes. */
export const ACK_LATENCY_ALERT_SECONDS = 1;
/** Alert ImcloudStoreLagHigh: store lag p99 above 10 s for 10 minutes. */
export const STORE_LAG_ALERT_SECONDS = 10;
/** Alert ImcloudAppRateLimited: an app's frames refused above 10/s for 15 minutes. */
export const APP_RATE_LIMITED_ALERT_PER_SECOND = 10;
/** Alert ImcloudOperatorQueueBacklog: operator work queue deeper than 20 for 15 minutes. */
export const OPERATOR_QUEUE_ALERT = 20;
