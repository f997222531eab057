import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCatalog } from '../../protocol/errors.js';
import { configurationDoc, errorsDoc } from './docs.js';

const read = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

describe('generated reference docs', () => {
  it('docs/errors.md documents every code of the catalog (run `npx tsx scripts/gen-docs.ts`)', () => {
    const doc = read('errors.md');
    expect(doc).toBe(errorsDoc());
    for (const code of Object.keys(errorCatalog)) expect(doc).toContain(`\`${code}\``);
  });

  it('docs/configuration.md lists every key and its env variable (run `npx tsx scripts/gen-docs.ts`)', () => {
    const doc = read('configuration.md');
    expect(doc).toBe(configurationDoc());
    expect(doc).toContain('`IMCLOUD_GATE_TCP_PORT`');
  });
});
