// The flash phase of bench/files.ts: a file the app holds already, uploaded again by other users
// as flash uploads (prepare → challenge → the HMAC of each range → proofs → a file record),
// each timed from prepare to the record: N one after the other, then N by `concurrency` clients
// at once (each sequential in itself).
import { mintToken } from '../../services/shared/tokens.js';
import { Histogram, median, progress, round } from './common.js';
import type { SyntheticFile } from './file-bytes.js';
import { FileClient } from './file-client.js';
import type { FileTarget } from './file-target.js';

export interface FlashFigures {
  count: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface FlashRun {
  run: number;
  sequential: FlashFigures;
  concurrent: FlashFigures;
}

export interface FlashSetup {
  clients: FileClient[];
  file: SyntheticFile;
}

/** A fresh app holding `file` (uploaded once through the role), and one client per concurrent user. */
export async function flashSetup(target: FileTarget, file: SyntheticFile, concurrency: number): Promise<FlashSetup> {
  const app = await target.createApp();
  const base = target.fileUrls[0]!;
  const owner = new FileClient(base, (await mintToken(app.appId, app.secret, 'owner', 3600)).token);
  await owner.upload(file);
  const clients: FileClient[] = [];
  for (let i = 0; i < Math.max(1, concurrency); i++) {
    const url = target.fileUrls[i % target.fileUrls.length]!;
    clients.push(new FileClient(url, (await mintToken(app.appId, app.secret, `flash-${i}`, 3600)).token));
  }
  return { clients, file };
}

/** `n` flash uploads by `clients.length` clients at once, each timed from prepare to the file record. */
async function flashes(setup: FlashSetup, n: number, parallel: number): Promise<FlashFigures> {
  const h = new Histogram();
  let next = 0;
  const t0 = performance.now();
  const worker = async (client: FileClient) => {
    while (next < n) {
      next++;
      const start = performance.now();
      await client.flash(setup.file);
      h.record((performance.now() - start) * 1000);
    }
  };
  await Promise.all(setup.clients.slice(0, parallel).map(worker));
  const seconds = (performance.now() - t0) / 1000;
  const s = h.summaryMs();
  return { count: s.count, perSec: round(s.count / seconds, 0), p50Ms: s.p50, p99Ms: s.p99, maxMs: s.max };
}

export async function flashWarmUp(setup: FlashSetup, n: number): Promise<void> {
  await flashes(setup, n, setup.clients.length);
}

export async function flashRun(setup: FlashSetup, n: number, run: number): Promise<FlashRun> {
  const sequential = await flashes(setup, n, 1);
  progress(
    `files: flash run ${run}, one at a time: ${sequential.count} in all, p50 ${sequential.p50Ms} ms, p99 ${sequential.p99Ms} ms, max ${sequential.maxMs} ms`,
  );
  const concurrent = await flashes(setup, n, setup.clients.length);
  progress(
    `files: flash run ${run}, ${setup.clients.length} at once: ${concurrent.perSec}/s, p50 ${concurrent.p50Ms} ms, p99 ${concurrent.p99Ms} ms, max ${concurrent.maxMs} ms`,
  );
  return { run, sequential, concurrent };
}

const range = (xs: number[]) => [Math.min(...xs), Math.max(...xs)];

export function summarizeFlash(runs: FlashRun[]) {
  const mode = (pick: (r: FlashRun) => FlashFigures) => {
    const fig = (f: (x: FlashFigures) => number) => ({
      median: median(runs.map((r) => f(pick(r)))),
      range: range(runs.map((r) => f(pick(r)))),
    });
    return { perSec: fig((x) => x.perSec), p50Ms: fig((x) => x.p50Ms), p99Ms: fig((x) => x.p99Ms), maxMs: fig((x) => x.maxMs) };
  };
  return { runs: runs.length, sequential: mode((r) => r.sequential), concurrent: mode((r) => r.concurrent) };
}
