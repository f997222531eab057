// The shapes of Prometheus rule files (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/),
// typed so that every alert carries what an SRE needs: a severity that says who is woken
// (page) and who is not (ticket), a summary and description (with the AppId where the series
// has one), and a runbook section in docs/slo.md.

/** page: a person acts now (user-visible harm, or budget gone within hours); ticket: within working hours. */
export type Severity = 'page' | 'ticket';

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertRule {
  alert: string;
  expr: string;
  /** How long the expression must hold before the alert fires (omitted: at once). */
  for?: string;
  labels: { severity: Severity } & Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

export type Rule = RecordingRule | AlertRule;

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export const isAlert = (r: Rule): r is AlertRule => 'alert' in r;

/** Where the runbooks live; the chart's home (Chart.yaml). */
export const DOCS_URL = 'https://github.com/imcloud/imcloud/blob/main/docs';

/** The runbook section of an alert: docs/slo.md has a heading per alert, named after it (GitHub lowercases anchors). */
export function runbook(alert: string, doc = 'slo.md'): string {
  return `${DOCS_URL}/${doc}#${alert.toLowerCase()}`;
}

/** A template reference to a label of the alerting series, as Prometheus expands it in annotations. */
export const label = (name: string) => `{{ $labels.${name} }}`;

/** A decimal without floating-point noise (14.4 × 0.001 = 0.0144, not 0.014400000000000001). */
export function num(x: number): string {
  return String(Number(x.toPrecision(6)));
}
