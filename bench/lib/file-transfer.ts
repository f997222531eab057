// The transfer phase of bench/files.ts: one file uploaded and downloaded through the file role,
// then the same bytes put and got directly on the same store, run after run (role, direct,
// role, direct…). Each step is timed alone, with the CPU every process group used meanwhile.
import { mintToken } from '../../services/shared/tokens.js';
import { median, progress, round } from './common.js';
import { cpuShares, cpuSnapshot } from './cpu-by-process.js';
import type { SyntheticFile } from './file-bytes.js';
import { FileClient } from './file-client.js';
import type { FileTarget } from './file-target.js';

/** The baseline's objects live under this app in the store (no app of the role's has it). */
const DIRECT_APP = 'bench-direct';

export interface Step {
  seconds: number;
  mbPerSec: number;
  /** Cores each process group kept busy during the step, busiest first. */
  cpu: Array<{ group: string; cores: number }>;
}

export interface TransferRun {
  run: number;
  /** The file process uploaded to and downloaded from (index in FileTarget.fileUrls). */
  uploadVia: number;
  downloadVia: number;
  roleUpload: Step;
  roleDownload: Step;
  directPut: Step;
  directGet: Step;
  uploadRatio: number;
  downloadRatio: number;
}

async function timed(bytes: number, work: () => Promise<void>): Promise<Step> {
  const cpu0 = cpuSnapshot();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuShares(cpu0, cpuSnapshot(), seconds).filter((c) => c.cores >= 0.01);
  return { seconds: round(seconds, 3), mbPerSec: round(bytes / 1e6 / seconds, 1), cpu };
}

/** An upload and a download through the role, as a fresh app (so nothing is deduplicated). */
async function throughRole(target: FileTarget, file: SyntheticFile, up: number, down: number, label: string) {
  const app = await target.createApp();
  const { token } = await mintToken(app.appId, app.secret, 'uploader', 3600);
  let fileId = '';
  const every = Math.max(1, Math.ceil(file.chunks / 4));
  const upload = await timed(file.size, async () => {
    const client = new FileClient(target.fileUrls[up]!, token);
    const record = await client.upload(file, (i) => {
      if (label && (i + 1) % every === 0 && i + 1 < file.chunks) progress(`  ${label}: ${i + 1} of ${file.chunks} chunks`);
    });
    if (record.md5 !== file.md5 || record.size !== file.size) throw new Error(`the role stored ${JSON.stringify(record)}`);
    fileId = record.fileId;
  });
  const download = await timed(file.size, async () => {
    const bytes = await new FileClient(target.fileUrls[down]!, token).download(fileId);
    if (bytes !== file.size) throw new Error(`downloaded ${bytes} bytes of ${file.size}`);
  });
  return { upload, download };
}

/** A put of the file as one stream and a get of it, on the store itself. */
async function direct(target: FileTarget, file: SyntheticFile) {
  const put = await timed(file.size, async () => {
    const r = await target.direct.put(DIRECT_APP, file.md5, file.stream(), {
      size: file.size,
      contentType: 'application/octet-stream',
      md5: file.md5,
    });
    if (r.md5 !== file.md5) throw new Error(`direct put stored ${r.md5}`);
  });
  const get = await timed(file.size, async () => {
    let bytes = 0;
    for await (const piece of await target.direct.get(DIRECT_APP, file.md5)) bytes += (piece as Buffer).length;
    if (bytes !== file.size) throw new Error(`direct get read ${bytes} bytes of ${file.size}`);
  });
  return { put, get };
}

/** Loads every code path once (untimed) with a small file of two chunks. */
export async function warmUp(target: FileTarget, small: SyntheticFile): Promise<void> {
  for (let i = 0; i < target.fileUrls.length; i++) await throughRole(target, small, i, (i + 1) % target.fileUrls.length, '');
  await direct(target, small);
}

export async function transferRun(target: FileTarget, file: SyntheticFile, run: number): Promise<TransferRun> {
  const n = target.fileUrls.length;
  const uploadVia = (run - 1) % n;
  const downloadVia = run % n;
  const role = await throughRole(target, file, uploadVia, downloadVia, `run ${run} role upload`);
  progress(`files: run ${run} through the role: upload ${role.upload.mbPerSec} MB/s, download ${role.download.mbPerSec} MB/s`);
  const d = await direct(target, file);
  progress(`files: run ${run} direct: put ${d.put.mbPerSec} MB/s, get ${d.get.mbPerSec} MB/s`);
  return {
    run,
    uploadVia,
    downloadVia,
    roleUpload: role.upload,
    roleDownload: role.download,
    directPut: d.put,
    directGet: d.get,
    uploadRatio: round(role.upload.mbPerSec / d.put.mbPerSec, 3),
    downloadRatio: round(role.download.mbPerSec / d.get.mbPerSec, 3),
  };
}

const range = (xs: number[]) => [Math.min(...xs), Math.max(...xs)];

/** Medians and ranges over the runs. */
export function summarizeTransfer(runs: TransferRun[]) {
  const fig = (f: (r: TransferRun) => number) => ({ median: median(runs.map(f)), range: range(runs.map(f)) });
  return {
    runs: runs.length,
    roleUploadMBps: fig((r) => r.roleUpload.mbPerSec),
    directPutMBps: fig((r) => r.directPut.mbPerSec),
    uploadRatio: fig((r) => r.uploadRatio),
    roleDownloadMBps: fig((r) => r.roleDownload.mbPerSec),
    directGetMBps: fig((r) => r.directGet.mbPerSec),
    downloadRatio: fig((r) => r.downloadRatio),
  };
}
