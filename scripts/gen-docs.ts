// Writes docs/errors.md (from the error catalog) and docs/configuration.md (from the config
// schema). services/shared/docs.test.ts fails when either file is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configurationDoc, errorsDoc } from '../services/shared/docs.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
writeFileSync(join(root, 'docs', 'errors.md'), errorsDoc());
writeFileSync(join(root, 'docs', 'configuration.md'), configurationDoc());
console.log('wrote docs/errors.md and docs/configuration.md');
