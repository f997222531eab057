// Files benchmark (docs/adr/0031-files.md): how fast bytes go through the file role against the
// same store reached directly, and how long a flash upload takes.
//
//   npx tsx bench/files.ts [--size 200] [--runs 3] [--phases transfer,flash] [--flash-n 500]
//        [--flash-concurrency 4] [--flash-size 8] [--dist] [--out files] [--profile]
//        [--server-node-args="--max-semi-space-size=64"] [--wait-quiet 300] [--no-build]
//
// Phase "transfer": a file of --size MiB uploaded through the role (prepare, 5 MiB chunks in
// order with their Content-MD5, complete) and downloaded through a signed URL, then the same
// bytes put (one stream) and got directly on the same store; --runs alternating runs (role,
// direct, role, direct…), medians and ranges of MB/s (10^6 bytes per second) and of the ratio
// through the role / direct, paired run by run. Embedded (`imcloud all` in its own process) the
// store is a local folder and the baseline a FolderBlobStore on another folder; --dist it is
// MinIO (test/infra) behind two file processes (test/support/cluster.ts), the upload through
// one and the download through the other, and the baseline a MinioBlobStore from this process.
// Phase "flash": a file of --flash-size MiB the app holds; --flash-n flash uploads (prepare →
// challenge → proofs → file record) one at a time, then --flash-n by --flash-concurrency
// clients at once, in each of --runs runs; p50, p99 and max from prepare to the record.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  bundleFacts,
  ensureBuilt,
  machineFacts,
  num,
  parseFlags,
  progress,
  RESULTS_DIR,
  round,
  table,
  waitForQuiet,
  writeResult,
} from './lib/common.js';
import { summarizeProfile } from './lib/cpu-profile.js';
import { syntheticFile } from './lib/file-bytes.js';
import { type FlashRun, flashRun, flashSetup, flashWarmUp, summarizeFlash } from './lib/file-flash.js';
import { fileRows } from './lib/file-report.js';
import { distributedFiles, embeddedFiles, type FileTarget } from './lib/file-target.js';
import { summarizeTransfer, type TransferRun, transferRun, warmUp } from './lib/file-transfer.js';
import { describeProbe, machineProbe } from './lib/machine-probe.js';

const MiB = 1024 * 1024;
const flags = parseFlags(process.argv.slice(2));
const cfg = {
  sizeBytes: Math.round(num(flags, 'size', 200) * MiB),
  chunkBytes: 5 * MiB,
  runs: num(flags, 'runs', 3),
  phases: String(flags.phases ?? 'transfer,flash').split(',') as Array<'transfer' | 'flash'>,
  flashN: num(flags, 'flash-n', 500),
  flashConcurrency: num(flags, 'flash-concurrency', 4),
  flashSizeBytes: Math.round(num(flags, 'flash-size', 8) * MiB),
  dist: flags.dist === true,
  out: String(flags.out ?? (flags.dist === true ? 'dist-files' : 'files')),
  /** A CPU profile of every imcloud process, summarized into the result (bench/lib/cpu-profile.ts). */
  profile: flags.profile === true,
  /** Before each run, wait up to this long for other processes to use < 0.25 CPU (--wait-quiet S). */
  waitQuietMs: flags['wait-quiet'] === true ? 300_000 : num(flags, 'wait-quiet', 0) * 1000,
  /** Node flags for every imcloud process, e.g. --server-node-args=--max-semi-space-size=64. */
  serverNodeArgs: String(flags['server-node-args'] ?? '')
    .split(' ')
    .filter(Boolean),
};
/** Targets (2-core machine): bench/README.md. */
export const TARGETS = { uploadRatio: 0.8, downloadRatio: 0.8, flashP99Ms: 20 };

async function start(profileDir: string): Promise<FileTarget> {
  const env = {
    IMCLOUD_LOG_LEVEL: 'warn',
    IMCLOUD_FILE_MAX_FILE_BYTES: String(Math.max(cfg.sizeBytes, cfg.flashSizeBytes, 100 * MiB)),
    IMCLOUD_FILE_CHUNK_BYTES: String(cfg.chunkBytes),
  };
  const nodeArgs = [...cfg.serverNodeArgs, ...(cfg.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  return cfg.dist ? distributedFiles(env, nodeArgs) : embeddedFiles(env, nodeArgs);
}

function profiles(dir: string) {
  if (!cfg.profile) return undefined;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: f, summary: summarizeProfile(join(dir, f), 25) }));
}

/** How quiet the machine was before each run (--wait-quiet). */
const quietness: Array<{ before: string } & Awaited<ReturnType<typeof waitForQuiet>>> = [];
async function quiet(before: string): Promise<void> {
  if (cfg.waitQuietMs <= 0) return;
  const q = await waitForQuiet(cfg.waitQuietMs);
  quietness.push({ before, ...q });
  if (!q.quiet) progress(`files: the machine is not quiet before ${before} (other processes use ${q.busyCores} CPUs); going on`);
}

async function main(): Promise<void> {
  ensureBuilt(flags['no-build'] === true);
  const probe = await machineProbe();
  progress(`files: ${describeProbe(probe)}`);
  const profileDir = join(RESULTS_DIR, 'profiles', cfg.out);
  if (cfg.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  const t0 = Date.now();
  const file = syntheticFile(cfg.sizeBytes, cfg.chunkBytes);
  const target = await start(profileDir);
  progress(`files: ${cfg.dist ? 'dist' : 'embedded'} file role up (${target.fileUrls.length} process(es)), store ${target.store}`);
  const transfers: TransferRun[] = [];
  const flash: FlashRun[] = [];
  try {
    if (cfg.phases.includes('transfer')) {
      await warmUp(target, syntheticFile(2 * cfg.chunkBytes, cfg.chunkBytes));
      progress(`files: transfer of ${round(cfg.sizeBytes / MiB, 1)} MiB, ${cfg.runs} alternating runs (role, direct)`);
      for (let run = 1; run <= cfg.runs; run++) {
        await quiet(`transfer run ${run}`);
        transfers.push(await transferRun(target, file, run));
      }
    }
    if (cfg.phases.includes('flash')) {
      const setup = await flashSetup(target, syntheticFile(cfg.flashSizeBytes, cfg.chunkBytes), cfg.flashConcurrency);
      await flashWarmUp(setup, 100);
      progress(`files: flash uploads of a ${round(cfg.flashSizeBytes / MiB, 1)} MiB file the app holds, ${cfg.flashN} per mode per run`);
      for (let run = 1; run <= cfg.runs; run++) {
        await quiet(`flash run ${run}`);
        flash.push(await flashRun(setup, cfg.flashN, run));
      }
    }
  } finally {
    await target.stop();
  }
  const transfer = transfers.length ? summarizeTransfer(transfers) : undefined;
  const flashSummary = flash.length ? summarizeFlash(flash) : undefined;
  const targets = {
    uploadRatio: {
      target: TARGETS.uploadRatio,
      actual: transfer?.uploadRatio.median,
      met: transfer && transfer.uploadRatio.median >= TARGETS.uploadRatio,
    },
    downloadRatio: {
      target: TARGETS.downloadRatio,
      actual: transfer?.downloadRatio.median,
      met: transfer && transfer.downloadRatio.median >= TARGETS.downloadRatio,
    },
    // The p99 target is the embedded mode's; --dist reports its figure beside it.
    flashP99Ms: {
      target: TARGETS.flashP99Ms,
      actual: flashSummary?.sequential.p99Ms.median,
      concurrentActual: flashSummary?.concurrent.p99Ms.median,
      met:
        flashSummary && !cfg.dist
          ? Math.max(flashSummary.sequential.p99Ms.median, flashSummary.concurrent.p99Ms.median) <= TARGETS.flashP99Ms
          : undefined,
    },
  };
  const written = writeResult(cfg.out, {
    machine: { ...machineFacts(), probe, server: bundleFacts() },
    config: { ...cfg, layout: cfg.dist ? 'file×2 admin dispatch on MinIO + FerretDB' : 'embedded', store: target.store, fileMd5: file.md5 },
    targets,
    transfer: transfer && { ...transfer, all: transfers },
    flash: flashSummary && { ...flashSummary, all: flash },
    quietness,
    profiles: profiles(profileDir),
    seconds: Math.round((Date.now() - t0) / 1000),
  });
  console.log(
    table(
      ['figure (median of runs, range)', 'measured', 'target', 'verdict'],
      fileRows({ config: cfg, targets, transfer, flash: flashSummary }),
    ),
  );
  progress(`files: wrote ${written}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
