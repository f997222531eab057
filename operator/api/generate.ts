// Writes the generated ImCluster CRD: `npx tsx operator/api/generate.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILES, renderCrdYaml } from './crd.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const text = renderCrdYaml();
for (const file of CRD_FILES) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
  process.stderr.write(`wrote ${file}\n`);
}
