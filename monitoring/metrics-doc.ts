// docs/metrics.md, generated from the registries every imcloud process and the operator export,
// so the list cannot drift from the code (test/unit/metrics-doc.test.ts).
import { createOperatorMetrics } from '../operator/metrics.js';
import { createMetrics } from '../services/shared/metrics.js';

interface MetricShape {
  name: string;
  help: string;
  type: string;
  labelNames?: string[];
}

/** imcloud's own metrics (the Node.js process metrics prom-client adds are named by prefix only). */
function ownMetrics(): MetricShape[] {
  const byName = new Map<string, MetricShape>();
  for (const registry of [createMetrics().registry, createOperatorMetrics().registry]) {
    for (const m of registry.getMetricsAsArray() as unknown as MetricShape[]) {
      if (!m.name.startsWith('imcloud_process_') || m.name === 'imcloud_process_uncaught_errors_total') byName.set(m.name, m);
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export function metricsDoc(): string {
  const rows = ownMetrics().map(
    (m) =>
      `| \`${m.name}\` | ${m.type} | ${(m.labelNames ?? []).map((l) => `\`${l}\``).join(', ') || '—'} | ${m.help.replace(/\|/g, '\\|')} |`,
  );
  return [
    '# Metrics',
    '',
    'Generated from `services/shared/metrics.ts` and `operator/metrics.ts` by `npx tsx scripts/gen-docs.ts`; do not edit by hand.',
    '',
    'Every role serves these on `/metrics` (the ops listener when `http.opsPort` is set), the operator on',
    'its own. Labels are bounded: `app_id` by the number of apps, `code` by the error catalog',
    '(docs/errors.md), the rest by fixed sets; never user ids, connection ids or message ids.',
    'Prometheus adds `pod`, `namespace`, `job` and `instance` when it scrapes. Besides these, every',
    'process exports the Node.js process metrics of prom-client under `imcloud_process_` (CPU,',
    'memory, event-loop lag, garbage collection, handles).',
    '',
    '| metric | type | labels | what it counts |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
