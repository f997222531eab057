#!/usr/bin/env node
// The one imcloud executable. The TypeScript sources are bundled to dist/ by `npm run build`
// (run automatically by `npm ci` / `npm install` through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/imcloud.js', import.meta.url));
if (!existsSync(bundle)) {
  console.error('imcloud: dist/imcloud.js is missing. Run `npm ci` (or `npm run build`) in the imcloud checkout first.');
  process.exit(2);
}
await import(bundle);
