// The vitest side of log-dir.ts: a log directory that lives as long as one test file.

import type { RunnerTask } from 'vitest';
import { afterAll } from 'vitest';
import { createLogDir, finishLogDir } from './log-dir.js';

function failed(task: RunnerTask): boolean {
  if (task.result?.state === 'fail' || (task.result?.errors?.length ?? 0) > 0) return true;
  return 'tasks' in task && task.tasks.some(failed);
}

/**
 * A log directory for this file's role processes, removed after the file unless one of its
 * tests or hooks failed. Call it at the top level, before the afterAll that stops the
 * processes: afterAll hooks run in reverse order, so the directory goes last.
 */
export function testLogDir(name: string): string {
  const dir = createLogDir(name);
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads its hooks' first argument as a destructured fixture list
  afterAll(({}, suite) => finishLogDir(dir, failed(suite)));
  return dir;
}
