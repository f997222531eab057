// imcloud's Prometheus rules as code: the rule groups the chart's PrometheusRule ships
// (charts/imcloud/templates/prometheusrule.yaml includes RULES_FILE), rendered by
// `npm run generate:alerts` (scripts/gen-alerts.ts). test/unit/dashboards-and-alerts.test.ts
// fails when RULES_FILE drifts from this source; test/monitoring/promtool.test.ts checks the
// rules with promtool and runs the unit tests of monitoring/alerts/tests (every alert fires on
// a series that should page or ticket and stays silent on one that should not).
import { stringify } from 'yaml';
import { isAlert, type RuleGroup } from './model.js';
import { availabilityAlerts, availabilityRecordingRules, messagingAlerts, operatorAlerts, redisRecordingRules } from './platform.js';
import { burnRateAlerts, SLOS, sliRecordingRules } from './slo.js';

export type { AlertRule, RecordingRule, Rule, RuleGroup, Severity } from './model.js';
export { isAlert } from './model.js';

/** The generated rules file, relative to the repository root; the chart's template includes it. */
export const RULES_FILE = 'charts/imcloud/files/prometheus-rules.yaml';
/** The command that regenerates RULES_FILE. */
export const REGENERATE = 'npm run generate:alerts';

export function ruleGroups(): RuleGroup[] {
  return [
    { name: 'imcloud-operator', rules: operatorAlerts() },
    { name: 'imcloud-messaging', rules: messagingAlerts() },
    { name: 'imcloud-availability', rules: [...availabilityRecordingRules(), ...redisRecordingRules(), ...availabilityAlerts()] },
    // The SLIs first: a group's rules run in order, and the alerts of the next group read them.
    { name: 'imcloud-slo-sli', rules: SLOS.flatMap(sliRecordingRules) },
    { name: 'imcloud-slo-alerts', rules: SLOS.flatMap(burnRateAlerts) },
  ];
}

/** Every alert, in file order. */
export const alerts = () => ruleGroups().flatMap((g) => g.rules.filter(isAlert));

/** RULES_FILE's text: a Prometheus rules file (promtool check rules reads it as is). */
export function renderRulesYaml(): string {
  const header = [
    `# Generated from monitoring/alerts/*.ts by \`${REGENERATE}\`: do not edit.`,
    '# The alerts, their SLOs and runbooks: docs/slo.md.',
  ].join('\n');
  return `${header}\n${stringify({ groups: ruleGroups() }, { lineWidth: 0 })}`;
}
