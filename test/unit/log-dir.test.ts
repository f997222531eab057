import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogDir, finishLogDir } from '../support/log-dir.js';

describe('role log directories', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('removes the directory and its logs when nothing failed', () => {
    const dir = createLogDir('log-dir-test');
    writeFileSync(join(dir, 'logic-1.log'), 'line\n');
    finishLogDir(dir, false);
    expect(existsSync(dir)).toBe(false);
  });

  it('keeps it, and says where, when something failed or IMCLOUD_KEEP_RUN=1', () => {
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const failedDir = createLogDir('log-dir-test');
    const keptDir = createLogDir('log-dir-test');
    try {
      finishLogDir(failedDir, true);
      vi.stubEnv('IMCLOUD_KEEP_RUN', '1');
      finishLogDir(keptDir, false);
      expect([existsSync(failedDir), existsSync(keptDir)]).toEqual([true, true]);
      expect(said.mock.calls.map(([s]) => String(s))).toEqual([
        `role logs kept in ${failedDir} (something failed)\n`,
        `role logs kept in ${keptDir}\n`,
      ]);
    } finally {
      for (const d of [failedDir, keptDir]) rmSync(d, { recursive: true, force: true });
    }
  });
});
