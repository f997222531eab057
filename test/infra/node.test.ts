// The benchmarks' Node release comes from the npm registry into the cache (test/infra/node.ts).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_NODE_VERSION, ensureNode } from './node.js';

const exec = promisify(execFile);

describe('ensureNode', () => {
  // An empty cache of its own, so that the fetch really happens (~30 MB, a few seconds).
  const saved = process.env.IMCLOUD_CACHE;
  let cache: string;
  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'imcloud-node-cache-'));
    process.env.IMCLOUD_CACHE = cache;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.IMCLOUD_CACHE;
    else process.env.IMCLOUD_CACHE = saved;
    await rm(cache, { recursive: true, force: true });
  });

  it("fetches the benchmarks' Node release once, then reuses the cached binary", async () => {
    const dir = await ensureNode();
    expect(dir.startsWith(cache)).toBe(true);
    const node = join(dir, 'node');
    expect((await exec(node, ['-p', 'process.version'])).stdout.trim()).toBe(`v${BENCH_NODE_VERSION}`);
    const before = (await stat(node)).mtimeMs;
    expect(await ensureNode(BENCH_NODE_VERSION)).toBe(dir);
    expect((await stat(node)).mtimeMs).toBe(before);
  }, 300_000);

  it('says what to do when a release cannot be had', async () => {
    await expect(ensureNode('24')).rejects.toThrow(/is not a Node release/);
    await expect(ensureNode('99.0.0')).rejects.toThrow(/could not fetch Node 99\.0\.0.*BENCH_NODE=system/s);
  }, 120_000);
});
