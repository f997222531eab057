// Assertions the attacks share: refusals with their code, connections closed, memory measured.
import { expect } from 'vitest';
import { type ErrorCode, isErrorCode } from '../../../protocol/errors.js';
import type { imcloud } from '../../../protocol/gen/im.js';
import type { AttackClient } from './client.js';
import { rssBytes, type Target, type TargetProcess } from './target.js';

/** The next Error frame carries `code` (one of `code` when a list); when fatal, the connection then closes. */
export async function expectRefused(
  client: AttackClient,
  code: ErrorCode | ErrorCode[],
  opts: { fatal?: boolean; timeoutMs?: number; what?: string } = {},
): Promise<imcloud.v1.Error> {
  const codes = Array.isArray(code) ? code : [code];
  const err = await client.nextError(opts.timeoutMs ?? 10_000);
  expect(codes, `${opts.what ?? 'refusal'}: got ${err.code} (${err.message}); received: ${client.summary()}`).toContain(err.code);
  expect(isErrorCode(err.code), `${err.code} is in the catalog`).toBe(true);
  const fatal = opts.fatal ?? true;
  expect(err.fatal, `${err.code} fatal flag`).toBe(fatal);
  if (fatal) await client.closed(opts.timeoutMs ?? 10_000);
  return err;
}

/** A request answered with an Error of `code` (non-fatal: the connection stays). */
export async function expectRequestRefused(
  client: AttackClient,
  frame: Parameters<AttackClient['request']>[0],
  code: ErrorCode,
  what: string,
): Promise<void> {
  const reply = await client.request(frame);
  expect(reply.body === 'error' ? reply.error!.code : reply.body, what).toBe(code);
}

/** Every Error frame any of these clients received carries a catalog code. */
export function expectCatalogCodes(clients: AttackClient[]): void {
  for (const c of clients) {
    for (const f of c.all)
      if (f.body === 'error') expect(isErrorCode(f.error!.code ?? ''), `error code ${f.error!.code} is in the catalog`).toBe(true);
  }
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Samples the RSS of processes every 20 ms until stopped: the peak growth over the first sample, per process. */
export function sampleRss(processes: TargetProcess[]): { stop(): Map<string, { before: number; peak: number; last: number }> } {
  const stats = new Map<string, { before: number; peak: number; last: number }>();
  const sample = () => {
    for (const p of processes) {
      const pid = p.pid();
      const rss = pid === undefined ? undefined : rssBytes(pid);
      if (rss === undefined) continue;
      const s = stats.get(p.name);
      if (!s) stats.set(p.name, { before: rss, peak: rss, last: rss });
      else {
        s.peak = Math.max(s.peak, rss);
        s.last = rss;
      }
    }
  };
  sample();
  const timer = setInterval(sample, 20);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return stats;
    },
  };
}

/** The RSS of a process after a pause long enough for a scavenge and idle-time GC. */
export async function settledRss(p: TargetProcess, pauseMs = 1_500): Promise<number> {
  await new Promise((r) => setTimeout(r, pauseMs));
  const pid = p.pid();
  const rss = pid === undefined ? undefined : rssBytes(pid);
  if (rss === undefined) throw new Error(`${p.name} is gone`);
  return rss;
}

/** The processes of a role (embedded: the one process). */
export function processesOf(target: Target, role: string): TargetProcess[] {
  return target.processes.filter((p) => p.role === role || p.role === 'all');
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
