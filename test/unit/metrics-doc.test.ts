import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricsDoc } from '../../monitoring/metrics-doc.js';

describe('docs/metrics.md', () => {
  it('lists every metric imcloud exports, as the code declares it (run `npx tsx scripts/gen-docs.ts`)', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    expect(doc).toBe(metricsDoc());
    for (const name of [
      'imcloud_logic_send_errors_total',
      'imcloud_gate_push_latency_seconds',
      'imcloud_operator_leader',
      'imcloud_file_uploads_total',
    ])
      expect(doc).toContain(`\`${name}\``);
  });
});
