// Writes charts/imcloud/files/prometheus-rules.yaml (the chart's PrometheusRule rules) from
// monitoring/alerts/*.ts: `npm run generate:alerts`. test/unit/dashboards-and-alerts.test.ts
// fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alerts, RULES_FILE, renderRulesYaml } from '../monitoring/alerts/index.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
writeFileSync(join(root, RULES_FILE), renderRulesYaml());
console.log(`wrote ${RULES_FILE} (${alerts().length} alerts)`);
