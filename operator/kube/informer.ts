// List-then-watch cache of one resource, like client-go's reflector + store:
// - lists, then watches from the list's resourceVersion (with bookmarks, so that the last seen
//   resourceVersion keeps moving even when nothing we select changes);
// - when a watch ends or breaks, it resumes from the last resourceVersion seen, after a backoff
//   if it broke;
// - when the apiserver answers 410 Gone (the resourceVersion is too old: compacted), as an HTTP
//   status or an ERROR event, it relists and emits the differences as events, so that handlers
//   never miss a deletion that happened while it was away.
import type { Kube, KubeObject, Resource, WatchEvent } from './client.js';
import { KubeApiError } from './client.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type Handler<T> = (type: EventType, obj: T, old?: T) => void;

export interface InformerLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface InformerOpts {
  namespace?: string;
  labelSelector?: string;
  /** Server-side watch timeout; the watch is renewed after it (default 240–300 s, jittered). */
  watchTimeoutSeconds?: number;
  /** Backoff after a failed list/watch: base, doubled per failure, capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  log?: InformerLog;
  /** Called with the reason whenever the watch restarts (metrics). */
  onRestart?: (reason: 'timeout' | 'error' | 'gone') => void;
}

export const keyOf = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: Array<Handler<T>> = [];
  private resourceVersion = '';
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private failures = 0;

  constructor(
    private readonly kube: Kube,
    readonly resource: Resource,
    private readonly opts: InformerOpts = {},
  ) {}

  on(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(filter?: (o: T) => boolean): T[] {
    const all = [...this.store.values()];
    return filter ? all.filter(filter) : all;
  }

  /** The last resourceVersion seen (tests). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Starts the list/watch loop; resolves once the first list is in the cache. */
  start(): Promise<void> {
    if (!this.running) {
      this.abort = new AbortController();
      this.running = this.loop();
    }
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
    this.running = undefined;
  }

  private emit(type: EventType, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.opts.log?.warn({ resource: this.resource.plural, err: String(err) }, 'informer handler failed');
      }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.kube.list<T>(this.resource, this.opts.namespace, {
      labelSelector: this.opts.labelSelector,
    });
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, item);
      if (!old) this.emit('ADDED', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('MODIFIED', item, old);
    }
    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('DELETED', old);
      }
    }
    this.resourceVersion = resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private apply(event: WatchEvent<T>): void {
    const obj = event.object;
    if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const key = keyOf(obj);
    if (event.type === 'DELETED') {
      this.store.delete(key);
      this.emit('DELETED', obj);
      return;
    }
    const old = this.store.get(key);
    this.store.set(key, obj);
    this.emit(old ? 'MODIFIED' : 'ADDED', obj, old);
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        if (signal.aborted) break;
        const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
        let gone = false;
        await this.kube.watch<T>(
          this.resource,
          this.opts.namespace,
          {
            resourceVersion: this.resourceVersion,
            labelSelector: this.opts.labelSelector,
            timeoutSeconds,
            signal,
          },
          (event) => {
            if (gone) return;
            if (event.type === 'ERROR') {
              const status = event.object as unknown as { code?: number; reason?: string; message?: string };
              if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') {
                gone = true;
                return;
              }
              throw new KubeApiError(
                status.code ?? 500,
                status.reason ?? '',
                `watch ${this.resource.plural}: ${status.message ?? 'error event'}`,
              );
            }
            this.apply(event);
          },
        );
        this.failures = 0;
        if (gone) {
          this.opts.log?.debug({ resource: this.resource.plural, resourceVersion: this.resourceVersion }, 'watch expired (410); relisting');
          this.opts.onRestart?.('gone');
          needList = true;
        } else if (!signal.aborted) {
          this.opts.onRestart?.('timeout');
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.opts.log?.debug({ resource: this.resource.plural }, 'watch resourceVersion gone (HTTP 410); relisting');
          this.opts.onRestart?.('gone');
          needList = true;
          continue;
        }
        this.failures++;
        const base = this.opts.backoffBaseMs ?? 500;
        const delay = Math.min(this.opts.backoffMaxMs ?? 30_000, base * 2 ** Math.min(this.failures - 1, 16));
        this.opts.log?.warn(
          { resource: this.resource.plural, err: String(err), retryInMs: delay, failures: this.failures },
          'list/watch failed; resuming after backoff',
        );
        this.opts.onRestart?.('error');
        await this.sleep(delay * (0.8 + Math.random() * 0.4));
      }
    }
  }
}
