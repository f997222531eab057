// The chart's Grafana dashboards and Prometheus alerts may only ask for metrics that imcloud
// exports, by labels those metrics carry: a renamed metric or label must fail here, not leave an
// SRE with an empty panel or an alert that can never fire.
//
// The dashboards are generated from monitoring/dashboards/ (@grafana/grafana-foundation-sdk) by
// scripts/gen-dashboards.ts: the committed JSON must be exactly what those sources generate.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlert, REGENERATE, RULES_FILE, renderRulesYaml, ruleGroups } from '../../monitoring/alerts/index.js';
import { DOCS_URL } from '../../monitoring/alerts/model.js';
import { DASHBOARDS_DIR, renderDashboards } from '../../monitoring/dashboards/index.js';
import { PROMETHEUS } from '../../monitoring/dashboards/shared/datasource.js';
import { DELIVERY_SLO_SECONDS } from '../../monitoring/dashboards/shared/thresholds.js';
import { createOperatorMetrics } from '../../operator/metrics.js';
import { serviceMonitor } from '../../operator/objects/builders.js';
import { cluster } from '../../operator/testing/fixtures.js';
import { createMetrics } from '../../services/shared/metrics.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'imcloud');
const DASHBOARDS = join(ROOT, DASHBOARDS_DIR);
/**
 * Labels Prometheus itself adds to every scraped series (ServiceMonitor targets), histogram
 * buckets, and the pod labels the operator's ServiceMonitor copies onto every target
 * (podTargetLabels: role, pool and track, as Prometheus spells them).
 */
const SCRAPE_LABELS = new Set([
  'le',
  'pod',
  'namespace',
  'job',
  'instance',
  'service',
  'container',
  'endpoint',
  ...(serviceMonitor(cluster()).spec.podTargetLabels as string[]).map((l) => l.replace(/[^a-zA-Z0-9_]/g, '_')),
]);
/** The exporters' metrics (rabbitmq_prometheus, redis_exporter, postgres_exporter): allowed by prefix, labels not checked. */
const EXPORTER = /^(rabbitmq|redis|pg)_/;
/** The uid of each dashboard file: bookmarks and links use them, they never change. */
const UIDS = {
  'overview.json': 'imcloud-overview',
  'tenant.json': 'imcloud-tenant',
  'bus-and-storage.json': 'imcloud-bus-and-storage',
  'operator.json': 'imcloud-operator',
};

interface PanelJson {
  type: string;
  title: string;
  description?: string;
  fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps: Array<{ value: number | null; color: string }> } } };
  targets?: Array<{ expr: string; datasource?: { type?: string; uid?: string } }>;
  datasource?: { type?: string; uid?: string };
  panels?: PanelJson[];
}
interface DashboardJson {
  uid: string;
  title: string;
  panels: PanelJson[];
  links?: Array<{ url?: string; includeVars?: boolean; keepTime?: boolean }>;
  templating: { list: Array<{ name: string; multi?: boolean; includeAll?: boolean }> };
}

/** metric name → its label names, from the roles' and the operator's registries. */
function exported(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const registry of [createMetrics().registry, createOperatorMetrics().registry]) {
    for (const m of registry.getMetricsAsArray() as unknown as Array<{ name: string; labelNames?: string[] }>) {
      out.set(m.name, new Set(m.labelNames ?? []));
    }
  }
  return out;
}

function dashboards(): Array<{ file: string; dashboard: DashboardJson }> {
  return readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as DashboardJson }));
}

/** Every panel but the rows (a collapsed row keeps its panels inside it). */
function panels(d: DashboardJson): PanelJson[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

function dashboardExpressions(): Array<{ where: string; expr: string; file: string }> {
  return dashboards().flatMap(({ file, dashboard }) =>
    panels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title}`, expr: t.expr, file }))),
  );
}

/** The dashboards' queries. The alert rules' are checked below ('alerts as code'), with the series their recording rules add. */
function expressions(): Array<{ where: string; expr: string }> {
  return dashboardExpressions();
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/** The metric names a PromQL expression selects (not functions, keywords, label names, strings or variables). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$\w+/g, '');
  return [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !KEYWORDS.has(n.toLowerCase()));
}

const metrics = exported();
/** The registered metric a series name belongs to (a histogram's _bucket, _sum and _count are its own). */
const base = (name: string) => (metrics.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));

describe('dashboards and alerts', () => {
  const all = expressions();

  it('exist: every dashboard panel and alert has a query', () => {
    expect(all.length).toBeGreaterThan(30);
    for (const { where, expr } of all) expect(expr.trim(), where).not.toBe('');
  });

  it('ask only for exported metrics (histograms by _bucket/_sum/_count)', () => {
    const missing: string[] = [];
    for (const { where, expr } of all) {
      for (const [name] of expr.matchAll(/\bimcloud_[a-z0-9_]+/g)) {
        if (!metrics.has(base(name))) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("dashboards ask only for imcloud's metrics and the exporters' (rabbitmq_, redis_, pg_)", () => {
    const unknown: string[] = [];
    for (const { where, expr } of dashboardExpressions()) {
      for (const name of metricNames(expr)) if (!name.startsWith('imcloud_') && !EXPORTER.test(name)) unknown.push(`${where}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });

  it("group and filter only by labels the metrics in the query carry (exporters' labels are theirs)", () => {
    const wrong: string[] = [];
    for (const { where, expr } of all) {
      if (metricNames(expr).some((n) => EXPORTER.test(n))) continue;
      const names = [...expr.matchAll(/\bimcloud_[a-z0-9_]+/g)].map(([n]) => base(n));
      const carried = new Set([...SCRAPE_LABELS, ...names.flatMap((n) => [...(metrics.get(n) ?? [])])]);
      const used = [
        ...[...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',')),
        ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!)),
      ]
        .map((l) => l.trim())
        .filter(Boolean);
      for (const label of used) if (!carried.has(label)) wrong.push(`${where}: ${label} in ${expr}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('dashboards as code (monitoring/dashboards/)', () => {
  const generated = renderDashboards();
  const fix = 'run `npm run generate:dashboards` (scripts/gen-dashboards.ts) and commit the result';

  it(`${DASHBOARDS_DIR} holds exactly what the TypeScript sources generate`, () => {
    const onDisk = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
    expect(onDisk.sort(), `dashboard files differ from monitoring/dashboards/: ${fix}`).toEqual([...generated.keys()].sort());
    for (const [file, text] of generated) {
      expect(readFileSync(join(DASHBOARDS, file), 'utf8'), `${DASHBOARDS_DIR}/${file} drifted from monitoring/dashboards/: ${fix}`).toBe(
        text,
      );
    }
  });

  it('keeps every uid (bookmarks and links use them)', () => {
    expect(Object.fromEntries(dashboards().map(({ file, dashboard }) => [file, dashboard.uid]))).toEqual(UIDS);
  });

  it('every panel has a unit and a description, and every query a data source', () => {
    const lacking: string[] = [];
    for (const { file, dashboard } of dashboards()) {
      for (const p of panels(dashboard)) {
        if (!p.description?.trim()) lacking.push(`${file}: ${p.title}: description`);
        if (!p.fieldConfig?.defaults?.unit) lacking.push(`${file}: ${p.title}: unit`);
        if (!p.targets?.length) lacking.push(`${file}: ${p.title}: query`);
        // The dashboard's data source variable, so that an import works whatever the data source is called.
        for (const ds of [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)]) {
          if (ds?.type !== PROMETHEUS.type || ds?.uid !== PROMETHEUS.uid)
            lacking.push(`${file}: ${p.title}: data source ${JSON.stringify(ds)}`);
        }
      }
    }
    expect(lacking).toEqual([]);
  });

  it('links each dashboard to the others, keeping the time range and the variables (the AppId)', () => {
    for (const { file, dashboard } of dashboards()) {
      const others = Object.values(UIDS).filter((uid) => uid !== dashboard.uid);
      expect((dashboard.links ?? []).map((l) => l.url).sort(), file).toEqual(others.map((uid) => `/d/${uid}`).sort());
      for (const l of dashboard.links ?? []) expect(l, file).toMatchObject({ includeVars: true, keepTime: true });
    }
  });

  it('has the AppId variable wherever a query filters by it; one AppId at a time on the tenant dashboard', () => {
    const byFile = new Map(dashboards().map(({ file, dashboard }) => [file, dashboard]));
    const tenant = byFile.get('tenant.json')!.templating.list.find((v) => v.name === 'app_id');
    expect(tenant).toMatchObject({ multi: false, includeAll: false });
    const unfiltered: string[] = [];
    for (const { where, expr, file } of dashboardExpressions()) {
      const hasVariable = byFile.get(file)!.templating.list.some((v) => v.name === 'app_id');
      if (expr.includes('$app_id') && !hasVariable) unfiltered.push(`${where}: $app_id without the variable`);
      // On a dashboard with the variable, a metric labelled by AppId follows it.
      const perApp = [...expr.matchAll(/\bimcloud_[a-z0-9_]+/g)].some(([n]) => metrics.get(base(n))?.has('app_id'));
      if (hasVariable && perApp && !expr.includes('app_id=~"$app_id"')) unfiltered.push(`${where}: ${expr}`);
    }
    expect(unfiltered).toEqual([]);
  });

  it(`marks the delivery SLO (${DELIVERY_SLO_SECONDS} s) on every delivery latency panel`, () => {
    const delivery = dashboards().flatMap(({ file, dashboard }) =>
      panels(dashboard)
        .filter((p) => p.targets?.some((t) => t.expr.includes('imcloud_gate_push_latency_seconds')))
        .map((p) => ({ where: `${file}: ${p.title}`, steps: p.fieldConfig?.defaults?.thresholds?.steps ?? [] })),
    );
    expect(delivery.length).toBeGreaterThanOrEqual(4);
    for (const { where, steps } of delivery)
      expect(
        steps.map((s) => s.value),
        where,
      ).toContain(DELIVERY_SLO_SECONDS);
  });
});

describe('alerts as code (monitoring/alerts/)', () => {
  const fix = `run \`${REGENERATE}\` (scripts/gen-alerts.ts) and commit the result`;
  const rules = ruleGroups().flatMap((g) => g.rules);
  const alertRules = rules.filter(isAlert);
  const recorded = new Map(rules.flatMap((r) => (isAlert(r) ? [] : [[r.record, r.expr] as const])));
  const nameOf = (r: (typeof rules)[number]) => (isAlert(r) ? r.alert : r.record);
  /** The exporters' series the alerts read, with their own labels (Prometheus adds SCRAPE_LABELS). */
  const EXPORTER_SERIES = new Map<string, string[]>([
    ['up', []],
    ['redis_up', []],
    ['redis_db_keys', ['db']],
    ['redis_loading_dump_file', []],
    ['rabbitmq_queue_consumers', ['vhost', 'queue']],
  ]);
  /** `label_replace(v, "dst", …)`: the labels an expression adds. */
  const added = (expr: string) => [...expr.matchAll(/,\s*"(\w+)",\s*"[^"]*",\s*"\w*",\s*"[^"]*"\s*\)/g)].map((m) => m[1]!);
  const lists = (expr: string) =>
    [...expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) =>
      m[1]!
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );
  /** The labels a series may carry: its metric's (or exporter's) and the scrape's; a recorded one, what its rule keeps or adds. */
  const labelsOf = (name: string, seen = new Set<string>()): Set<string> | undefined => {
    if (name.startsWith('imcloud_')) {
      const own = metrics.get(base(name));
      return own && new Set([...SCRAPE_LABELS, ...own]);
    }
    if (EXPORTER_SERIES.has(name)) return new Set([...SCRAPE_LABELS, ...EXPORTER_SERIES.get(name)!]);
    const expr = recorded.get(name);
    if (expr === undefined || seen.has(name)) return undefined;
    seen.add(name);
    const out = new Set([...lists(expr), ...added(expr)]);
    for (const n of metricNames(expr)) for (const l of labelsOf(n, seen) ?? []) out.add(l);
    return out;
  };

  it(`${RULES_FILE} is exactly what the TypeScript sources generate`, () => {
    expect(readFileSync(join(ROOT, RULES_FILE), 'utf8'), `${RULES_FILE} drifted from monitoring/alerts/: ${fix}`).toBe(renderRulesYaml());
  });

  it("is what the chart's PrometheusRule ships", () => {
    const template = readFileSync(join(CHART, 'templates', 'prometheusrule.yaml'), 'utf8');
    expect(template).toContain(`.Files.Get "${RULES_FILE.replace('charts/imcloud/', '')}"`);
  });

  it('names every rule once; every alert pages or tickets, says what and why, and has a runbook section in docs/slo.md', () => {
    const names = rules.map(nameOf);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    const slo = readFileSync(join(ROOT, 'docs', 'slo.md'), 'utf8');
    const headings = new Set([...slo.matchAll(/^#{2,4} (\S+)\s*$/gm)].map((m) => m[1]!));
    const problems: string[] = [];
    for (const a of alertRules) {
      if (!['page', 'ticket'].includes(a.labels.severity)) problems.push(`${a.alert}: severity ${a.labels.severity}`);
      if (!a.annotations.summary.trim() || !a.annotations.description.trim()) problems.push(`${a.alert}: summary or description`);
      if (a.annotations.runbook_url !== `${DOCS_URL}/slo.md#${a.alert.toLowerCase()}`)
        problems.push(`${a.alert}: ${a.annotations.runbook_url}`);
      if (!headings.has(a.alert)) problems.push(`${a.alert}: no heading in docs/slo.md`);
    }
    expect(problems).toEqual([]);
  });

  it("ask only for imcloud's exported metrics, the exporters' series above, and series a rule records", () => {
    const unknown: string[] = [];
    for (const r of rules) for (const n of metricNames(r.expr)) if (!labelsOf(n)) unknown.push(`${nameOf(r)}: ${n}`);
    expect(unknown).toEqual([]);
  });

  it('select, group and template only by labels the series carry', () => {
    const wrong: string[] = [];
    for (const r of rules) {
      const where = nameOf(r);
      // Each selector's matchers, against its own series.
      for (const [, name, matchers] of r.expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
        const carried = labelsOf(name!) ?? new Set();
        for (const [, l] of matchers!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) if (!carried.has(l!)) wrong.push(`${where}: ${name}{${l}}`);
      }
      // by/on lists and the annotations' $labels, against every series of the expression.
      const carried = new Set([...added(r.expr), ...metricNames(r.expr).flatMap((n) => [...(labelsOf(n) ?? [])])]);
      const used = [
        ...lists(r.expr),
        ...(isAlert(r) ? Object.values(r.annotations).flatMap((t) => [...t.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!)) : []),
      ];
      for (const l of used) if (!carried.has(l)) wrong.push(`${where}: ${l}`);
    }
    expect(wrong).toEqual([]);
  });

  it('the SLO alerts are per AppId: they keep app_id and name it', () => {
    const slo = alertRules.filter((a) => /(FastBurn|SlowBurn)$/.test(a.alert));
    expect(slo.map((a) => `${a.alert}:${a.labels.severity}`)).toEqual([
      'ImcloudSendSuccessFastBurn:page',
      'ImcloudSendSuccessSlowBurn:ticket',
      'ImcloudDeliveryLatencyFastBurn:page',
      'ImcloudDeliveryLatencySlowBurn:ticket',
      'ImcloudFileUploadFastBurn:page',
      'ImcloudFileUploadSlowBurn:ticket',
    ]);
    for (const a of slo) {
      // Each SLI it reads is recorded per app_id and nothing else.
      for (const name of metricNames(a.expr))
        expect(new Set(lists(recorded.get(name) ?? 'by ()')), `${a.alert}: ${name}`).toEqual(new Set(['app_id']));
      expect(a.annotations.summary, a.alert).toContain('{{ $labels.app_id }}');
      expect(a.annotations.description, a.alert).toContain('{{ $labels.app_id }}');
    }
  });
});
