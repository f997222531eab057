// The routing table: which gate pool serves an AppId and which gray track (stable or canary) it
// is on. The operator writes it into a ConfigMap (key routing.json) that is mounted into the
// dispatch, gate and logic pods; they read it from IMCLOUD_ROUTING_FILE and reload it when the
// kubelet swaps the file, without a restart. Without a file every AppId is on the stable track
// and pools are known only from the gates' own reports.
//
// Canary selection is deterministic and shared by every reader: an AppId is on the canary when
// it is listed in canary.appIds, or when fnv1a32(appId) % 100 < canary.percentage. Raising the
// percentage only ever adds AppIds to the canary.

import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

export const ROUTING_FILE_ENV = 'IMCLOUD_ROUTING_FILE';
/** The ConfigMap key (and file name in the mounted directory). */
export const ROUTING_KEY = 'routing.json';

export type Track = 'stable' | 'canary';

const appId = z.string().min(1).max(64);
export const routingTableSchema = z.object({
  /** Format version of this document. */
  format: z.literal(1),
  /** ImCluster name and generation the table was computed from (informational). */
  cluster: z.string().optional(),
  generation: z.number().int().optional(),
  pools: z
    .array(
      z.object({
        name: z.string().min(1),
        default: z.boolean().default(false),
        appIds: z.array(appId).default([]),
      }),
    )
    .default([]),
  stable: z.object({ version: z.string() }),
  canary: z
    .object({
      version: z.string(),
      appIds: z.array(appId).default([]),
      percentage: z.number().int().min(0).max(100).default(0),
    })
    .optional(),
});

export type RoutingTable = z.infer<typeof routingTableSchema>;
export type RoutingTableInput = z.input<typeof routingTableSchema>;

/** 32-bit FNV-1a over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The AppId's bucket 0..99 for percentage-based canary selection. */
export function canaryBucket(appId: string): number {
  return fnv1a32(appId) % 100;
}

/** True when the canary described by `canary` covers `appId`. */
export function inCanary(canary: { appIds: readonly string[]; percentage: number } | undefined, appId: string): boolean {
  if (!canary) return false;
  return canary.appIds.includes(appId) || canaryBucket(appId) < canary.percentage;
}

export function trackFor(table: RoutingTable | undefined, appId: string): Track {
  return table && inCanary(table.canary, appId) ? 'canary' : 'stable';
}

/** The pool that serves `appId`: the pool listing it, else the default pool, else undefined. */
export function poolFor(table: RoutingTable | undefined, appId: string): string | undefined {
  if (!table) return undefined;
  return (table.pools.find((p) => p.appIds.includes(appId)) ?? table.pools.find((p) => p.default))?.name;
}

/** True when a pool other than `pool` lists `appId` (so a gate of `pool` must refuse it). */
export function claimedByOtherPool(table: RoutingTable | undefined, appId: string, pool: string): boolean {
  if (!table) return false;
  return table.pools.some((p) => p.name !== pool && p.appIds.includes(appId));
}

export function parseRoutingTable(text: string): RoutingTable {
  const result = routingTableSchema.safeParse(JSON.parse(text));
  if (!result.success) {
    throw new Error(`routing table: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

/** Canonical JSON of a table (sorted AppId lists), as the operator writes it. */
export function serializeRoutingTable(input: RoutingTableInput): string {
  const table = routingTableSchema.parse(input);
  const sorted: RoutingTable = {
    ...table,
    pools: table.pools.map((p) => ({ ...p, appIds: [...p.appIds].sort() })),
    ...(table.canary ? { canary: { ...table.canary, appIds: [...table.canary.appIds].sort() } } : {}),
  };
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

export interface RoutingLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * A routing table read from a file and kept current: the directory is watched (a ConfigMap
 * update is an atomic symlink swap in it) and the file is also polled, since inotify does not
 * see every kind of swap. A file that fails to parse keeps the last good table.
 */
export class RoutingTableSource {
  private table: RoutingTable | undefined;
  private lastText: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Set<(table: RoutingTable | undefined) => void>();
  private loading: Promise<void> | undefined;
  private reloadAfter: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly opts: { pollMs?: number; log?: RoutingLog } = {},
  ) {}

  current(): RoutingTable | undefined {
    return this.table;
  }

  onChange(listener: (table: RoutingTable | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the file once (synchronously, so callers see the table at once), then keeps watching. */
  async start(): Promise<this> {
    this.loadSync();
    await this.reload();
    const poll = this.opts.pollMs ?? 2000;
    this.timer = setInterval(() => void this.reload(), poll);
    this.timer.unref();
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => void this.reload());
      this.watcher.on('error', () => undefined);
    } catch {
      // the directory may not exist yet; polling covers it
    }
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.watcher?.close();
  }

  /** Re-reads the file now (tests, or a caller that knows it changed). */
  reload(): Promise<void> {
    if (this.loading) {
      // The load running may have read the file before the caller changed it: one more load
      // follows it, shared by every caller that asks meanwhile.
      this.reloadAfter ??= this.loading.then(() => {
        this.reloadAfter = undefined;
        return this.reload();
      });
      return this.reloadAfter;
    }
    this.loading = this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private loadSync(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    this.accept(text);
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      await stat(this.path);
      text = await readFile(this.path, 'utf8');
    } catch {
      return; // missing: keep what we have (a ConfigMap swap briefly removes the file)
    }
    this.accept(text);
  }

  private accept(text: string): void {
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      const table = parseRoutingTable(text);
      this.table = table;
      this.opts.log?.info({ path: this.path, generation: table.generation, canary: table.canary?.version ?? null }, 'routing table loaded');
      for (const l of this.listeners) l(table);
    } catch (err) {
      this.opts.log?.warn({ path: this.path, err: String(err) }, 'routing table unreadable; keeping the previous one');
    }
  }
}

const shared = new Map<string, RoutingTableSource>();

/**
 * The process-wide source for the routing file (one per path, shared by the roles of one
 * process), started on first use; undefined when no file is configured (config routing.file,
 * env IMCLOUD_ROUTING_FILE).
 */
export function routingSource(opts: { file: string; pollMs: number }, log?: RoutingLog): RoutingTableSource | undefined {
  if (!opts.file) return undefined;
  let source = shared.get(opts.file);
  if (!source) {
    source = new RoutingTableSource(opts.file, { pollMs: opts.pollMs, log });
    shared.set(opts.file, source);
    void source.start();
  }
  return source;
}
