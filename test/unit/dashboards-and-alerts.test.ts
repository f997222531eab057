// The chart's Grafana dashboards and Prometheus alerts may only ask for metrics that imcloud
// exports, by labels those metrics carry: a renamed metric or label must fail here, not leave an
// SRE with an empty panel or an alert that can never fire.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOperatorMetrics } from '../../operator/metrics.js';
import { createMetrics } from '../../services/shared/metrics.js';

const CHART = join(import.meta.dirname, '..', '..', 'charts', 'imcloud');
/** Labels Prometheus itself adds to every scraped series (ServiceMonitor targets), and histogram buckets. */
const SCRAPE_LABELS = new Set(['le', 'pod', 'namespace', 'job', 'instance', 'service', 'container', 'endpoint']);

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

function expressions(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  const dir = join(CHART, 'files', 'dashboards');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    for (const p of dashboard.panels) for (const t of p.targets ?? []) out.push({ where: `${file}: ${p.title}`, expr: t.expr });
  }
  const rules = readFileSync(join(CHART, 'templates', 'prometheusrule.yaml'), 'utf8');
  for (const m of rules.matchAll(/^\s*expr:\s*(.+)$/gm)) out.push({ where: 'prometheusrule.yaml', expr: m[1]! });
  return out;
}

describe('dashboards and alerts', () => {
  const metrics = exported();
  const all = expressions();

  it('exist: every dashboard panel and alert has a query', () => {
    expect(all.length).toBeGreaterThan(30);
    for (const { where, expr } of all) expect(expr.trim(), where).not.toBe('');
  });

  it('ask only for exported metrics (histograms by _bucket/_sum/_count)', () => {
    const missing: string[] = [];
    for (const { where, expr } of all) {
      for (const [name] of expr.matchAll(/\bimcloud_[a-z0-9_]+/g)) {
        const base = metrics.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
        if (!metrics.has(base)) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('group and filter only by labels the metrics in the query carry', () => {
    const wrong: string[] = [];
    for (const { where, expr } of all) {
      const names = [...expr.matchAll(/\bimcloud_[a-z0-9_]+/g)].map(([n]) => (metrics.has(n) ? n : n.replace(/_(bucket|sum|count)$/, '')));
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
