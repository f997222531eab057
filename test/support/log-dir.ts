// Role logs of a test file or a benchmark run: a fresh directory under the system's temp
// directory, removed when everything passed and kept (its path printed) when something failed,
// so a green run leaves nothing behind and a red one leaves what to read.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new directory `imcloud-<name>-XXXXXX` for role logs. */
export function createLogDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `imcloud-${name}-`));
}

/** Removes `dir` unless `failed` or IMCLOUD_KEEP_RUN=1 (as for the servers' run directories); a kept directory is named on stderr. */
export function finishLogDir(dir: string, failed: boolean): void {
  if (failed || process.env.IMCLOUD_KEEP_RUN === '1') {
    process.stderr.write(`role logs kept in ${dir}${failed ? ' (something failed)' : ''}\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
