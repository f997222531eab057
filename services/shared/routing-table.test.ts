import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  canaryBucket,
  claimedByOtherPool,
  fnv1a32,
  inCanary,
  parseRoutingTable,
  poolFor,
  type RoutingTableInput,
  RoutingTableSource,
  serializeRoutingTable,
  trackFor,
} from './routing-table.js';

const table = (over: Partial<RoutingTableInput> = {}) =>
  parseRoutingTable(
    serializeRoutingTable({
      format: 1,
      pools: [
        { name: 'vip', appIds: ['acme', 'globex'] },
        { name: 'main', default: true },
      ],
      stable: { version: '1.0.0' },
      ...over,
    }),
  );

describe('fnv1a32 and buckets', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('spreads AppIds over 0..99 and is stable', () => {
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const b = canaryBucket(`app-${i}`);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(100);
      counts[Math.floor(b / 10)]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800); // ~1000 each
    expect(canaryBucket('acme')).toBe(canaryBucket('acme'));
  });

  it('percentage selection is monotonic: raising it only adds AppIds', () => {
    const apps = Array.from({ length: 500 }, (_, i) => `tenant-${i}`);
    let previous = new Set<string>();
    for (const percentage of [0, 1, 5, 10, 50, 99, 100]) {
      const chosen = new Set(apps.filter((a) => inCanary({ appIds: [], percentage }, a)));
      for (const a of previous) expect(chosen.has(a)).toBe(true);
      previous = chosen;
    }
    expect(previous.size).toBe(apps.length);
    expect(apps.filter((a) => inCanary({ appIds: [], percentage: 0 }, a))).toEqual([]);
  });
});

describe('routing decisions', () => {
  it('without a table every AppId is stable and no pool claims anything', () => {
    expect(trackFor(undefined, 'acme')).toBe('stable');
    expect(poolFor(undefined, 'acme')).toBeUndefined();
    expect(claimedByOtherPool(undefined, 'acme', 'main')).toBe(false);
  });

  it('picks the pool listing the AppId, else the default pool', () => {
    const t = table();
    expect(poolFor(t, 'acme')).toBe('vip');
    expect(poolFor(t, 'other')).toBe('main');
    expect(claimedByOtherPool(t, 'acme', 'main')).toBe(true);
    expect(claimedByOtherPool(t, 'acme', 'vip')).toBe(false);
    expect(claimedByOtherPool(t, 'other', 'main')).toBe(false);
  });

  it('puts listed AppIds and the hashed share on the canary track', () => {
    const t = table({ canary: { version: '1.1.0', appIds: ['globex'], percentage: 20 } });
    expect(trackFor(t, 'globex')).toBe('canary');
    const apps = Array.from({ length: 200 }, (_, i) => `t-${i}`);
    for (const a of apps) expect(trackFor(t, a)).toBe(canaryBucket(a) < 20 ? 'canary' : 'stable');
    expect(trackFor(table(), 'globex')).toBe('stable');
  });

  it('rejects malformed tables with a clear message', () => {
    expect(() => parseRoutingTable('{"format":2}')).toThrow(/format/);
    expect(() => parseRoutingTable('{"format":1,"stable":{"version":"1"},"canary":{"version":"2","percentage":101}}')).toThrow(
      /canary.percentage/,
    );
  });

  it('serializes canonically (sorted AppIds)', () => {
    const text = serializeRoutingTable({ format: 1, pools: [{ name: 'p', appIds: ['b', 'a'] }], stable: { version: '1' } });
    expect(JSON.parse(text).pools[0].appIds).toEqual(['a', 'b']);
  });
});

describe('RoutingTableSource', () => {
  const dirs: string[] = [];
  const sources: RoutingTableSource[] = [];
  afterEach(() => {
    for (const s of sources.splice(0)) s.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** Lays a file out the way the kubelet mounts a ConfigMap: dir/routing.json → ..data/routing.json, ..data → ..<ts>. */
  function configMapDir(text: string) {
    const dir = mkdtempSync(join(tmpdir(), 'routing-'));
    dirs.push(dir);
    let n = 0;
    const write = (content: string) => {
      const ts = join(dir, `..ts${n++}`);
      mkdirSync(ts);
      writeFileSync(join(ts, 'routing.json'), content);
      symlinkSync(`..ts${n - 1}`, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
    };
    write(text);
    symlinkSync('..data/routing.json', join(dir, 'routing.json'));
    return { path: join(dir, 'routing.json'), write };
  }

  it('reads the table at start and reloads it after an atomic ConfigMap-style swap, without restart', async () => {
    const cm = configMapDir(serializeRoutingTable({ format: 1, generation: 1, stable: { version: '1.0.0' } }));
    const source = await new RoutingTableSource(cm.path, { pollMs: 50 }).start();
    sources.push(source);
    expect(source.current()?.generation).toBe(1);
    const changed = new Promise((resolve) => source.onChange(resolve));
    cm.write(
      serializeRoutingTable({ format: 1, generation: 2, stable: { version: '1.0.0' }, canary: { version: '1.1.0', appIds: ['acme'] } }),
    );
    await changed;
    expect(source.current()?.generation).toBe(2);
    expect(trackFor(source.current(), 'acme')).toBe('canary');
  });

  it('reload() reads a change made while a load is running, not just that load', async () => {
    const cm = configMapDir(serializeRoutingTable({ format: 1, generation: 1, stable: { version: '1' } }));
    const source = new RoutingTableSource(cm.path); // not started: no poll, no watch, only reload()
    sources.push(source);
    let again: Promise<void> | undefined;
    source.onChange(() => {
      if (again) return;
      // Called by the load that read generation 1, which is still running: the file changes
      // now and the caller asks for it.
      cm.write(serializeRoutingTable({ format: 1, generation: 2, stable: { version: '1' } }));
      again = source.reload();
    });
    await source.reload();
    await again;
    expect(source.current()?.generation).toBe(2);
  });

  it('keeps the last good table when the file becomes invalid', async () => {
    const cm = configMapDir(serializeRoutingTable({ format: 1, generation: 7, stable: { version: '1' } }));
    const warnings: string[] = [];
    const source = await new RoutingTableSource(cm.path, {
      pollMs: 50,
      log: { info: () => undefined, warn: (_o, m) => warnings.push(m) },
    }).start();
    sources.push(source);
    cm.write('{ not json');
    // The poll that met the bad file warned, and kept the table.
    await vi.waitFor(() => expect(warnings.length).toBeGreaterThan(0), { timeout: 5_000 });
    expect(source.current()?.generation).toBe(7);
  });

  it('starts without a file and picks it up when it appears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'routing-'));
    dirs.push(dir);
    const source = await new RoutingTableSource(join(dir, 'routing.json'), { pollMs: 50 }).start();
    sources.push(source);
    expect(source.current()).toBeUndefined();
    writeFileSync(join(dir, 'routing.json'), serializeRoutingTable({ format: 1, generation: 3, stable: { version: '1' } }));
    await vi.waitFor(() => expect(source.current()?.generation).toBe(3), { timeout: 5_000 });
  });
});
