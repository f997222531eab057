// Prometheus metrics (prom-client). One registry per process, shared by every role the process
// runs, so the embedded mode exposes one /metrics. Labelled by AppId where it matters.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const latencyBuckets = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Steps of one send take from tens of microseconds to (when queued) seconds. */
const stageBuckets = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The outcomes of imcloud_webhook_events_total. */
export const WEBHOOK_OUTCOMES = ['delivered', 'failed', 'retried', 'dead_lettered', 'suppressed'] as const;

export function createMetrics() {
  const metrics = defineMetrics();
  initializeSeries(metrics);
  return metrics;
}

/**
 * Counters whose label values form a fixed set start at 0 for each, so a dashboard or an alert
 * sees 0 rather than no series before the first event (Prometheus's advice: initialize your
 * metrics). Per-app series start when a role first serves the app.
 */
function initializeSeries(m: ReturnType<typeof defineMetrics>): void {
  for (const kind of ['uncaughtException', 'unhandledRejection']) m.uncaught.inc({ kind }, 0);
  for (const type of ['send', 'recall', 'groupCreate', 'groupChange']) m.shed.inc({ type }, 0);
  for (const to of ['write', 'read']) m.groupDiffusionSwitches.inc({ to }, 0);
  for (const channel of ['upstream', 'push', 'store', 'events']) {
    m.redeliveries.inc({ channel }, 0);
    m.deadLetters.inc({ channel }, 0);
  }
  m.connectionsRefused.inc({ reason: 'IM_TOO_MANY_CONNECTIONS' }, 0);
  m.dispatchRequests.inc({ result: 'ok' }, 0);
  for (const result of ['made', 'refused', 'skipped']) m.fileThumbnails.inc({ result }, 0);
}

/**
 * A role's per-app counters start at 0 when it first serves the app (a login on a gate, a send
 * in logic), so the app's error ratios and refusal rates read 0, not no data.
 */
export function initializeAppSeries(m: Metrics, appId: string, role: 'gate' | 'logic' | 'webhook'): void {
  const app_id = appId;
  if (role === 'webhook') {
    for (const outcome of WEBHOOK_OUTCOMES) m.webhookEvents.inc({ app_id, outcome }, 0);
    return;
  }
  if (role === 'gate') {
    m.appRateLimited.inc({ app_id }, 0);
    m.sessionsExpired.inc({ app_id }, 0);
    return;
  }
  m.sendErrors.inc({ app_id, code: 'IM_UNAVAILABLE' }, 0);
  for (const outcome of ['acked-before', 'busy', 'resumed', 'reallocated']) m.sendRetries.inc({ app_id, outcome }, 0);
}

function defineMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'imcloud_process_' });
  const r = { registers: [registry] };
  return {
    registry,
    connections: new Gauge({
      name: 'imcloud_gate_connections',
      help: 'Open client connections (authenticated or not).',
      labelNames: ['transport'],
      ...r,
    }),
    authenticated: new Gauge({
      name: 'imcloud_gate_authenticated_connections',
      help: 'Authenticated client connections by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    framesIn: new Counter({
      name: 'imcloud_gate_frames_in_total',
      help: 'Frames received from clients by type.',
      labelNames: ['type'],
      ...r,
    }),
    framesOut: new Counter({ name: 'imcloud_gate_frames_out_total', help: 'Frames written to clients.', ...r }),
    bytesIn: new Counter({ name: 'imcloud_gate_bytes_in_total', help: 'Bytes received from clients.', ...r }),
    connectionsRefused: new Counter({
      name: 'imcloud_gate_connections_refused_total',
      help: 'Connections refused before they opened, by reason code (per-address limit, draining).',
      labelNames: ['reason'],
      ...r,
    }),
    socketErrors: new Counter({
      name: 'imcloud_gate_socket_errors_total',
      help: 'Socket errors of client connections, by where they happened and the error code (resets, TLS handshakes).',
      labelNames: ['where', 'code'],
      ...r,
    }),
    appRateLimited: new Counter({
      name: 'imcloud_gate_app_rate_limited_total',
      help: 'Frames refused because their app exceeded its frame rate across all gates, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    sessionsExpired: new Counter({
      name: 'imcloud_gate_sessions_expired_total',
      help: 'Sessions ended because their token expired, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    httpClientErrors: new Counter({
      name: 'imcloud_http_client_errors_total',
      help: 'HTTP requests that could not be parsed or timed out before a handler ran, by reason.',
      labelNames: ['reason'],
      ...r,
    }),
    uncaught: new Counter({
      name: 'imcloud_process_uncaught_errors_total',
      help: 'Errors that reached the process last-resort handlers (logged; the process kept running), by kind.',
      labelNames: ['kind'],
      ...r,
    }),
    gateDisconnects: new Counter({
      name: 'imcloud_gate_disconnects_total',
      help: 'Closed client connections by reason code.',
      labelNames: ['reason'],
      ...r,
    }),
    errors: new Counter({
      name: 'imcloud_errors_total',
      help: 'Errors returned to clients or API callers by stable code.',
      labelNames: ['code', 'role'],
      ...r,
    }),
    sends: new Counter({ name: 'imcloud_logic_sends_total', help: 'Messages accepted (acked) by AppId.', labelNames: ['app_id'], ...r }),
    sendErrors: new Counter({
      name: 'imcloud_logic_send_errors_total',
      help: "Sends refused, by AppId and the code answered: IM_UNAVAILABLE (backend trouble or overload, shed included) is the server failing the send-success SLO; the other codes are the client's.",
      labelNames: ['app_id', 'code'],
      ...r,
    }),
    sendRetries: new Counter({
      name: 'imcloud_logic_send_retries_total',
      help: 'Sends that were retries of an earlier clientMsgId, by outcome.',
      labelNames: ['app_id', 'outcome'],
      ...r,
    }),
    groupDiffusionSwitches: new Counter({
      name: 'imcloud_logic_group_diffusion_switches_total',
      help: 'Groups that switched between write and read diffusion (ADR 0030), by the mode they switched to.',
      labelNames: ['to'],
      ...r,
    }),
    pushes: new Counter({
      name: 'imcloud_logic_pushes_total',
      help: 'Messages pushed to connections, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    // The name is from when every downstream frame was called a push; dashboards use it.
    downstreamBatches: new Counter({
      name: 'imcloud_logic_push_batches_total',
      help: 'Downstream batches (acks, pushes, notices, errors) published to gates.',
      ...r,
    }),
    ackLatency: new Histogram({
      name: 'imcloud_logic_ack_latency_seconds',
      help: 'From the frame entering the gate to the SendAck leaving logic.',
      labelNames: ['app_id'],
      buckets: latencyBuckets,
      ...r,
    }),
    sendStages: new Histogram({
      name: 'imcloud_logic_send_stage_seconds',
      help: 'Time a send spends in each step of the accept path (bus_in: gate to logic through the upstream queue).',
      labelNames: ['stage'],
      buckets: stageBuckets,
      ...r,
    }),
    e2eLatency: new Histogram({
      name: 'imcloud_gate_push_latency_seconds',
      help: 'From message acceptance to the push being written to the receiver connection.',
      labelNames: ['app_id'],
      buckets: latencyBuckets,
      ...r,
    }),
    upstreamRefused: new Counter({
      name: 'imcloud_gate_upstream_refused_total',
      help: 'Client frames a gate refused at once (IM_UNAVAILABLE) because the upstream queue was full (overload; logic.maxQueueBytes).',
      ...r,
    }),
    shed: new Counter({
      name: 'imcloud_logic_shed_total',
      help: 'Frames refused unprocessed because they waited longer than logic.maxQueueDelayMs in the upstream queue (overload), by type.',
      labelNames: ['type'],
      ...r,
    }),
    logicRequests: new Gauge({
      name: 'imcloud_logic_requests',
      help: "Upstream requests in a logic process: running, or waiting for their app's turn.",
      labelNames: ['state'],
      ...r,
    }),
    readsSkipped: new Counter({
      name: 'imcloud_logic_reads_skipped_total',
      help: 'Page reads (sync, pull, history) not done because the connection that asked was gone by their turn.',
      ...r,
    }),
    upstreamHandled: new Counter({
      name: 'imcloud_logic_upstream_total',
      help: 'Upstream frames handled by type and result.',
      labelNames: ['type', 'result'],
      ...r,
    }),
    redeliveries: new Counter({
      name: 'imcloud_bus_redeliveries_total',
      help: 'Bus messages delivered more than once, by channel.',
      labelNames: ['channel'],
      ...r,
    }),
    deadLetters: new Counter({
      name: 'imcloud_bus_dead_letters_total',
      help: 'Bus messages given up after the delivery limit, by channel.',
      labelNames: ['channel'],
      ...r,
    }),
    stored: new Counter({
      name: 'imcloud_consumer_stored_total',
      help: 'Messages written to the message store (new rows) by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    storeBatch: new Histogram({
      name: 'imcloud_consumer_store_batch_seconds',
      help: 'Time to write one batch to the message store.',
      buckets: latencyBuckets,
      ...r,
    }),
    mongoCommands: new Histogram({
      name: 'imcloud_mongodb_command_seconds',
      help: 'MongoDB commands by name, collection and outcome, as the driver saw them.',
      labelNames: ['command', 'collection', 'outcome'],
      buckets: latencyBuckets,
      ...r,
    }),
    storeLag: new Histogram({
      name: 'imcloud_consumer_lag_seconds',
      help: 'From message acceptance to its durable write.',
      buckets: latencyBuckets,
      ...r,
    }),
    dispatchRequests: new Counter({
      name: 'imcloud_dispatch_requests_total',
      help: 'Dispatch answers by result.',
      labelNames: ['result'],
      ...r,
    }),
    fileUploads: new Counter({
      name: 'imcloud_file_uploads_total',
      help: 'File uploads by AppId and stage: started (prepare), completed (a full upload stored), deduplicated (a flash upload proved), failed.',
      labelNames: ['app_id', 'stage'],
      ...r,
    }),
    fileFailures: new Counter({
      name: 'imcloud_file_failures_total',
      help: 'File requests refused or failed, by AppId and error code.',
      labelNames: ['app_id', 'reason'],
      ...r,
    }),
    fileProofFailures: new Counter({
      name: 'imcloud_file_proof_failures_total',
      help: 'Flash uploads whose proof of possession was wrong, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    fileBytesIn: new Counter({
      name: 'imcloud_file_bytes_in_total',
      help: 'Bytes of accepted upload chunks, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    fileBytesOut: new Counter({
      name: 'imcloud_file_bytes_out_total',
      help: 'Bytes of files and thumbnails sent to clients, by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    fileThumbnails: new Counter({
      name: 'imcloud_file_thumbnails_total',
      help: 'Thumbnails by result: made, refused (not an image sharp reads, or over its limits), skipped (too large).',
      labelNames: ['result'],
      ...r,
    }),
    fileChunksInFlight: new Gauge({
      name: 'imcloud_file_chunks_in_flight',
      help: 'Chunk bodies this file process is reading now (each held in memory up to file.chunkBytes).',
      ...r,
    }),
    fileCleanups: new Counter({
      name: 'imcloud_file_abandoned_uploads_removed_total',
      help: 'Abandoned uploads removed by the cleanup job (their multipart uploads aborted).',
      ...r,
    }),
    adminRequests: new Counter({
      name: 'imcloud_admin_requests_total',
      help: 'Admin API requests by route and status.',
      labelNames: ['route', 'status'],
      ...r,
    }),
    webhookEvents: new Counter({
      name: 'imcloud_webhook_events_total',
      help: 'Webhook events by AppId and outcome: delivered (a 2xx answer), failed (an attempt that timed out, could not connect or was not answered 2xx), retried (another attempt scheduled), dead_lettered (given up after webhook.maxAttempts, or not an event), suppressed (a user.offline and the user.online that followed it within webhooks.presenceDebounceMs).',
      labelNames: ['app_id', 'outcome'],
      ...r,
    }),
    webhookDelivery: new Histogram({
      name: 'imcloud_webhook_delivery_seconds',
      help: 'From the event (its message accepted) to its delivery, by AppId: queueing, waiting for the conversation, retries and the request.',
      labelNames: ['app_id'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      ...r,
    }),
    webhookEventsPublished: new Counter({
      name: 'imcloud_webhook_events_published_total',
      help: 'Webhook events logic published to the bus (confirmed), by AppId.',
      labelNames: ['app_id'],
      ...r,
    }),
    beforeSend: new Histogram({
      name: 'imcloud_webhook_before_send_seconds',
      help: "before-send calls by AppId and outcome: allow, deny, replace, or what the app's fail mode answered for: timeout, error (not 2xx, unreachable, not a valid answer) and busy (past webhooks.beforeSendMaxConcurrentPerApp).",
      labelNames: ['app_id', 'outcome'],
      buckets: latencyBuckets,
      ...r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
