// The per-AppId SLOs of docs/slo.md as recording and alerting rules: each SLI is recorded as an
// error ratio (bad events / all events) per app_id over every window the SRE workbook's
// multi-window, multi-burn-rate alerts read (chapter 5, "Alerting on SLOs", recipe 6), and one
// function builds the page and ticket alerts of any SLO from its recordings.
import { type AlertRule, label, num, type RecordingRule, runbook } from './model.js';

/** Every window an SLI ratio is recorded over. */
export const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;
export type Window = (typeof WINDOWS)[number];

/** A long window and a short one that must both burn faster than `factor` × the budget rate. */
export interface BurnPair {
  long: Window;
  short: Window;
  factor: number;
}

/** Pages: 2 % of a 28-day budget spent in 1 h (14.4×), or 5 % in 6 h (6×). */
export const PAGE_BURNS: BurnPair[] = [
  { long: '1h', short: '5m', factor: 14.4 },
  { long: '6h', short: '30m', factor: 6 },
];
/** Tickets: 10 % of the budget spent in 1 day (3×), or the whole budget on course to go in 28 days (1× over 3 days). */
export const TICKET_BURNS: BurnPair[] = [
  { long: '1d', short: '2h', factor: 3 },
  { long: '3d', short: '6h', factor: 1 },
];

export interface Slo {
  /** The alerts' names start with it: <prefix>FastBurn (page) and <prefix>SlowBurn (ticket). */
  alertPrefix: string;
  /** The recorded ratio is app_id:<errors>:ratio_rate<window>. */
  errors: string;
  /** The SLO's name in a sentence: "send success". */
  name: string;
  /** What a good event is, in words (the SLO's sentence in docs/slo.md). */
  title: string;
  /** 0.999 = 99.9 % of events good over 28 days. */
  objective: number;
  /** Bad events per second over `w`, by app_id. */
  bad(w: string): string;
  /** The bad events' series exist only once an app had one (a counter by code): the ratio fills in 0 for the others. */
  sparse: boolean;
  /** All events (good and bad) per second over `w`, by app_id. */
  total(w: string): string;
  /** Where to look first when it burns (a sentence of the alerts' description). */
  look: string;
}

/** The SLOs' window (a rolling 28 days: four whole weeks). */
export const SLO_WINDOW = '28d';

const UNAVAILABLE = 'code="IM_UNAVAILABLE"';
const FILE_SERVER_ERRORS = 'reason=~"IM_UNAVAILABLE|IM_INTERNAL"';

/** (a) 99.9 % of sends acked without a server error. */
export const sendSuccess: Slo = {
  alertPrefix: 'ImcloudSendSuccess',
  errors: 'imcloud_send_errors',
  name: 'send success',
  title: 'sends acked without a server error (IM_UNAVAILABLE)',
  objective: 0.999,
  sparse: true,
  bad: (w) => `sum by (app_id) (rate(imcloud_logic_send_errors_total{${UNAVAILABLE}}[${w}]))`,
  // Acked sends and refused ones have different label sets (code), so `or` keeps both and the sum adds them.
  total: (w) => `sum by (app_id) (rate(imcloud_logic_sends_total[${w}]) or rate(imcloud_logic_send_errors_total{${UNAVAILABLE}}[${w}]))`,
  look: 'Backend trouble (Redis, RabbitMQ, the store) or overload shed by logic (ImcloudShedding, ImcloudUpstreamFull) answers IM_UNAVAILABLE.',
};

/** (b) 99 % of pushes to online receivers written within 500 ms of acceptance. */
export const deliveryLatency: Slo = {
  alertPrefix: 'ImcloudDeliveryLatency',
  errors: 'imcloud_push_slow',
  name: 'delivery latency',
  title: 'pushes to online receivers written within 500 ms of acceptance',
  objective: 0.99,
  sparse: false,
  bad: (w) =>
    `sum by (app_id) (rate(imcloud_gate_push_latency_seconds_count[${w}])) - sum by (app_id) (rate(imcloud_gate_push_latency_seconds_bucket{le="0.5"}[${w}]))`,
  total: (w) => `sum by (app_id) (rate(imcloud_gate_push_latency_seconds_count[${w}]))`,
  look: 'Slow pushes come from queued upstream work (logic saturated), a slow bus (RabbitMQ) or slow gates (CPU, slow receivers).',
};

/** (c) 99.5 % of file uploads completing without a server error. */
export const fileUploads: Slo = {
  alertPrefix: 'ImcloudFileUpload',
  errors: 'imcloud_upload_errors',
  name: 'file uploads',
  title: 'file uploads completing without a server error (IM_UNAVAILABLE, IM_INTERNAL)',
  objective: 0.995,
  sparse: true,
  bad: (w) => `sum by (app_id) (rate(imcloud_file_failures_total{${FILE_SERVER_ERRORS}}[${w}]))`,
  total: (w) =>
    `sum by (app_id) (rate(imcloud_file_uploads_total{stage=~"completed|deduplicated"}[${w}]) or rate(imcloud_file_failures_total{${FILE_SERVER_ERRORS}}[${w}]))`,
  look: 'The file role answers IM_UNAVAILABLE when MinIO or the file store fails, IM_INTERNAL on a bug (logged with its trace id).',
};

export const SLOS: Slo[] = [sendSuccess, deliveryLatency, fileUploads];

/** The recorded error ratio of `slo` over `w`, by app_id. */
export const ratio = (slo: Slo, w: Window) => `app_id:${slo.errors}:ratio_rate${w}`;

/** The error ratio of every window; an app with traffic and no bad event has 0 (not absent), one with no traffic NaN. */
export function sliRecordingRules(slo: Slo): RecordingRule[] {
  return WINDOWS.map((w) => ({
    record: ratio(slo, w),
    expr: slo.sparse
      ? `(\n  ${slo.bad(w)}\n  or\n  0 * ${slo.total(w)}\n)\n/\n${slo.total(w)}`
      : `(\n  ${slo.bad(w)}\n)\n/\n${slo.total(w)}`,
  }));
}

const pct = (x: number) => `${num(x * 100)} %`;

function burnExpr(slo: Slo, pairs: BurnPair[]): string {
  const budget = 1 - slo.objective;
  return pairs
    .map(
      ({ long, short, factor }) =>
        `(\n  ${ratio(slo, long)} > ${num(factor * budget)}\n  and\n  ${ratio(slo, short)} > ${num(factor * budget)}\n)`,
    )
    .join('\nor\n');
}

const windows = (pairs: BurnPair[]) =>
  pairs.map((p, i) => `${p.factor}×${i === 0 ? ' the rate the budget allows' : ''} over ${p.long} and ${p.short}`).join(', or ');

/** The SLO's two alerts: FastBurn pages (1 h/5 m at 14.4×, 6 h/30 m at 6×), SlowBurn tickets (1 d/2 h at 3×, 3 d/6 h at 1×). */
export function burnRateAlerts(slo: Slo): AlertRule[] {
  const app = label('app_id');
  const target = `${pct(slo.objective)} of ${slo.title} over ${SLO_WINDOW.replace('d', ' days')}`;
  const fast = `${slo.alertPrefix}FastBurn`;
  const slow = `${slo.alertPrefix}SlowBurn`;
  return [
    {
      alert: fast,
      expr: burnExpr(slo, PAGE_BURNS),
      for: '2m',
      labels: { severity: 'page', slo: slo.name.replace(/ /g, '-') },
      annotations: {
        summary: `App ${app} burns its ${slo.name} error budget fast: at this rate its ${SLO_WINDOW.replace('d', '-day')} budget is gone in under 5 days`,
        description: `The SLO is ${target}. App ${app} spends its error budget at ${windows(PAGE_BURNS)}. ${slo.look}`,
        runbook_url: runbook(fast),
      },
    },
    {
      alert: slow,
      expr: burnExpr(slo, TICKET_BURNS),
      for: '15m',
      labels: { severity: 'ticket', slo: slo.name.replace(/ /g, '-') },
      annotations: {
        summary: `App ${app} burns its ${slo.name} error budget faster than its ${SLO_WINDOW.replace('d', '-day')} SLO allows`,
        description: `The SLO is ${target}. App ${app} spends its error budget at ${windows(TICKET_BURNS)}. ${slo.look}`,
        runbook_url: runbook(slow),
      },
    },
  ];
}
