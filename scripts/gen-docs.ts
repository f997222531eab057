// Writes docs/errors.md (from the error catalog), docs/configuration.md (from the config
// schema) and docs/metrics.md (from the metrics registries). services/shared/docs.test.ts and
// test/unit/metrics-doc.test.ts fail when one is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metricsDoc } from '../monitoring/metrics-doc.js';
import { configurationDoc, errorsDoc } from '../services/shared/docs.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
writeFileSync(join(root, 'docs', 'errors.md'), errorsDoc());
writeFileSync(join(root, 'docs', 'configuration.md'), configurationDoc());
writeFileSync(join(root, 'docs', 'metrics.md'), metricsDoc());
console.log('wrote docs/errors.md, docs/configuration.md and docs/metrics.md');
