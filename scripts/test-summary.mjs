// Prints one closing line for all vitest projects of `make test`: "N passed, N failed".
// A project whose report is missing (it crashed before reporting) counts as a failure.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.test-results';
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const file of existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : []) {
  let report;
  try {
    report = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  } catch {
    failed += 1;
    lines.push(`${file}: unreadable report`);
    continue;
  }
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A file that failed to load or whose hooks failed has no failed test of its own.
  const suitesFailed = (report.testResults ?? []).filter(
    (r) => r.status === 'failed' && (r.assertionResults ?? []).every((a) => a.status !== 'failed'),
  ).length;
  failed += suitesFailed;
  lines.push(
    `${file.replace(/\.json$/, '')}: ${report.numPassedTests} passed, ${report.numFailedTests} failed${suitesFailed ? `, ${suitesFailed} file(s) failed to run` : ''}`,
  );
}
for (const line of lines) console.log(`  ${line}`);
if (lines.length === 0) {
  failed += 1;
  console.log('  no test reports found');
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
