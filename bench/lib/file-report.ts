// The rows bench/files.ts prints, from its result (bench/results/files.json or dist-files.json);
// `make bench` (bench/run.ts) prints the same rows in its summary table.
import type { summarizeFlash } from './file-flash.js';
import type { summarizeTransfer } from './file-transfer.js';

export interface FilesResult {
  config: { sizeBytes: number; flashConcurrency: number; dist: boolean };
  targets: { uploadRatio: Target; downloadRatio: Target; flashP99Ms: Target };
  transfer?: ReturnType<typeof summarizeTransfer>;
  flash?: ReturnType<typeof summarizeFlash>;
}

interface Target {
  target: number;
  met?: boolean;
}

const verdict = (met?: boolean) => (met === undefined ? '' : met ? 'met' : 'MISSED');
const fig = (f: { median: number; range: number[] }) => `${f.median} (${f.range.join('–')})`;

/** [figure, measured (median, range), target, verdict] rows. */
export function fileRows(r: FilesResult): Array<Array<string | number>> {
  const mode = r.config.dist ? 'files, dist' : 'files, embedded';
  const rows: Array<Array<string | number>> = [];
  const t = r.transfer;
  if (t) {
    const mib = Math.round((10 * r.config.sizeBytes) / 2 ** 20) / 10;
    rows.push([`${mode}: upload of ${mib} MiB through the role (MB/s)`, fig(t.roleUploadMBps), '', '']);
    rows.push(['  direct put of the same bytes to the same store (MB/s)', fig(t.directPutMBps), '', '']);
    rows.push([
      '  upload, through the role / direct',
      fig(t.uploadRatio),
      `≥ ${r.targets.uploadRatio.target}`,
      verdict(r.targets.uploadRatio.met),
    ]);
    rows.push([`${mode}: download through a signed URL (MB/s)`, fig(t.roleDownloadMBps), '', '']);
    rows.push(['  direct get (MB/s)', fig(t.directGetMBps), '', '']);
    rows.push([
      '  download, through the role / direct',
      fig(t.downloadRatio),
      `≥ ${r.targets.downloadRatio.target}`,
      verdict(r.targets.downloadRatio.met),
    ]);
  }
  const f = r.flash;
  if (f) {
    const limit = r.targets.flashP99Ms.target;
    for (const [name, m] of [
      ['one at a time', f.sequential],
      [`${r.config.flashConcurrency} at once`, f.concurrent],
    ] as const) {
      // The target is the embedded mode's; the distributed figure is reported beside it.
      const checked = !r.config.dist;
      rows.push([
        `${mode}: flash upload, ${name}: p99 (ms)`,
        fig(m.p99Ms),
        checked ? `≤ ${limit}` : '',
        checked ? verdict(m.p99Ms.median <= limit) : '',
      ]);
      rows.push(['  p50 / max (ms); flash uploads per second', `${m.p50Ms.median} / ${m.maxMs.median}; ${m.perSec.median}`, '', '']);
    }
  }
  return rows;
}
