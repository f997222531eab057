// Writes the chart's Grafana dashboards from their TypeScript sources (monitoring/dashboards/):
// `npm run generate:dashboards`. Removes any other JSON there, so that a dashboard deleted from
// the sources leaves the chart too. test/unit/dashboards-and-alerts.test.ts fails when they drift.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARDS_DIR, renderDashboards } from '../monitoring/dashboards/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, DASHBOARDS_DIR);
const files = renderDashboards();
mkdirSync(dir, { recursive: true });
for (const stale of readdirSync(dir).filter((f) => f.endsWith('.json') && !files.has(f))) {
  rmSync(join(dir, stale));
  process.stderr.write(`removed ${DASHBOARDS_DIR}/${stale}\n`);
}
for (const [file, text] of files) {
  writeFileSync(join(dir, file), text);
  process.stderr.write(`wrote ${DASHBOARDS_DIR}/${file}\n`);
}
