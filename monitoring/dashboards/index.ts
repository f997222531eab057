// Grafana dashboards as code (@grafana/grafana-foundation-sdk): one module per dashboard, the
// shared frame and panel options in shared/. scripts/gen-dashboards.ts writes them to
// charts/imcloud/files/dashboards/<file>.json (`npm run generate:dashboards`), and
// test/unit/dashboards-and-alerts.test.ts fails when the committed JSON differs from what these
// sources generate.
import type { Dashboard, DashboardBuilder, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import { busAndStorage } from './bus-and-storage.js';
import { operator } from './operator.js';
import { overview } from './overview.js';
import { BUS_AND_STORAGE, type DashboardRef, OPERATOR, OVERVIEW, TENANT } from './shared/catalogue.js';
import { tenant } from './tenant.js';

export { CATALOGUE, type DashboardRef } from './shared/catalogue.js';

/** Where the chart keeps the generated JSON (relative to the repository root). */
export const DASHBOARDS_DIR = 'charts/imcloud/files/dashboards';

export const DASHBOARDS: ReadonlyArray<{ ref: DashboardRef; build: () => DashboardBuilder }> = [
  { ref: OVERVIEW, build: overview },
  { ref: TENANT, build: tenant },
  { ref: BUS_AND_STORAGE, build: busAndStorage },
  { ref: OPERATOR, build: operator },
];

/**
 * The dashboard model: panels (rows included) numbered 1, 2, … in order (stable ids for links
 * and embeds), and links shown in the dashboard's top bar (the SDK places them in the controls
 * menu of Grafana 12, where they are easy to miss).
 */
export function buildDashboard(builder: DashboardBuilder): Dashboard {
  const d = builder.build();
  for (const link of d.links ?? []) delete link.placement;
  let id = 0;
  for (const p of (d.panels ?? []) as Array<Panel | RowPanel>) {
    p.id = ++id;
    if (p.type === 'row') for (const nested of (p as RowPanel).panels ?? []) nested.id = ++id;
  }
  return d;
}

/** The JSON file's text: 2-space indented, with a final newline. */
export function renderDashboard(builder: DashboardBuilder): string {
  return `${JSON.stringify(buildDashboard(builder), null, 2)}\n`;
}

/** file name (e.g. overview.json) → its text, for every dashboard. */
export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map(({ ref, build }) => [`${ref.file}.json`, renderDashboard(build())]));
}
