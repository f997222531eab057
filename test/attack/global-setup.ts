// globalSetup of the `attack` project: the real servers the multi-process target runs on (Redis,
// RabbitMQ, FerretDB, and MinIO for its file process; addresses exported through process.env, see test/infra/README.md), and the
// tally of attacks, printed at the end as one line:
//   attacks: tried=N held=N crashed=N leaked=N
// The run fails unless held = tried, crashed = 0 and leaked = 0 (each attack is also a test
// of its own, so its own message says what went wrong).
// IMCLOUD_ATTACK_TARGETS=embedded (or multi-process) limits the targets; `none` starts no servers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import setupServers from '../infra/vitest-global-setup.js';
import { summarise, summaryLine, TALLY_ENV } from './harness/tally.js';

export default async function attackSetup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'imcloud-attack-tally-'));
  process.env[TALLY_ENV] = dir;
  const targets = (process.env.IMCLOUD_ATTACK_TARGETS ?? 'embedded,multi-process').split(',').map((s) => s.trim());
  let stopServers: (() => Promise<void>) | undefined;
  if (targets.includes('multi-process')) {
    process.env.IMCLOUD_SERVERS = 'redis,rabbitmq,mongodb,minio';
    stopServers = await setupServers(project);
  }
  return async () => {
    await stopServers?.();
    const summary = summarise(dir);
    rmSync(dir, { recursive: true, force: true });
    if (summary.tried === 0) return;
    for (const line of summary.notHeld) process.stderr.write(`attack not held: ${line}\n`);
    console.log(summaryLine(summary));
    if (summary.held !== summary.tried || summary.crashed > 0 || summary.leaked > 0) {
      throw new Error(
        `${summary.tried - summary.held} of ${summary.tried} attacks did not hold (crashed=${summary.crashed}, leaked=${summary.leaked})`,
      );
    }
  };
}
