// The ImCluster controller, the coordinator: informers feed a work queue of ImCluster keys, and
// workers take one key at a time each to ClusterReconciler (reconcile/cluster-reconciler.ts).
// Beside them, on timers, a periodic resync requeues every ImCluster and the Autoscaler makes
// its pass, whose decisions come back through the queue. It runs while this process leads
// (main.ts); stop() drains the workers before the Lease is handed back.
import type { Logger } from 'pino';
import type { Config } from '../services/shared/config.js';
import type { ImCluster } from './api/imcluster.js';
import { Autoscaler } from './autoscaler.js';
import { ClusterCache } from './cluster-cache.js';
import type { EventRecorder } from './events.js';
import type { KubeClient } from './kube/client.js';
import { type EventType, keyOf } from './kube/informer.js';
import type { LoadSource } from './load.js';
import type { OperatorMetrics } from './metrics.js';
import { L } from './objects/common.js';
import { WorkQueue } from './queue.js';
import { ClusterReconciler, type ReconcileResult } from './reconcile/cluster-reconciler.js';
import { StatusRecorder } from './status-recorder.js';

export interface ControllerDeps {
  kube: KubeClient;
  config: Config['operator'];
  log: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  load: LoadSource;
}

/**
 * An ImCluster event worth a reconcile. Not a status-only update (our own writes): those change
 * neither the generation nor the metadata a reconcile acts on.
 */
export function changesWhatWeActOn(type: EventType, obj: ImCluster, old: ImCluster | undefined): boolean {
  if (type !== 'MODIFIED' || !old) return true;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return (
    old.metadata.generation !== obj.metadata.generation ||
    !same(old.metadata.annotations ?? {}, obj.metadata.annotations ?? {}) ||
    old.metadata.deletionTimestamp !== obj.metadata.deletionTimestamp ||
    !same(old.metadata.finalizers ?? [], obj.metadata.finalizers ?? [])
  );
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly cache: ClusterCache;
  private readonly autoscaler: Autoscaler;
  private readonly reconciler: ClusterReconciler;
  private workers: Array<Promise<void>> = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private scaleTimer: NodeJS.Timeout | undefined;
  private scaling: Promise<void> | undefined;
  private started = false;

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue({ backoffBaseMs: deps.config.backoffBaseMs, backoffMaxMs: deps.config.backoffMaxMs });
    const cache = new ClusterCache(deps.kube, { namespace: deps.config.namespace || undefined, log: deps.log, metrics: deps.metrics });
    const autoscaler = new Autoscaler({ ...deps, cache, requeue: (key) => this.queue.add(key) });
    const status = new StatusRecorder({ ...deps, cache, scaling: autoscaler });
    this.reconciler = new ClusterReconciler({
      ...deps,
      cache,
      status,
      autoscaler,
      requeueAfter: (key, ms) => this.queue.addAfter(key, ms),
    });
    this.cache = cache;
    this.autoscaler = autoscaler;
  }

  get synced(): boolean {
    return this.started && this.cache.hasSynced;
  }

  async start(): Promise<void> {
    this.queueOnChanges();
    await this.cache.start();
    this.started = true;
    this.requeueAll();
    for (let i = 0; i < this.deps.config.workers; i++) this.workers.push(this.work());
    this.resyncTimer = setInterval(() => this.requeueAll(), this.deps.config.resyncMs);
    this.resyncTimer.unref();
    this.scaleTimer = setInterval(() => {
      this.scaling ??= this.autoscaler
        .scaleAll()
        .catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'autoscaling pass failed'))
        .finally(() => (this.scaling = undefined));
    }, this.deps.config.scaleIntervalMs);
    this.scaleTimer.unref();
    this.deps.log.info({ namespace: this.deps.config.namespace || '(all)', workers: this.deps.config.workers }, 'controller started');
  }

  /** Stops taking work, waits for in-flight reconciles (up to `graceMs`), stops the watches. */
  async stop(graceMs = 20_000): Promise<void> {
    clearInterval(this.resyncTimer);
    clearInterval(this.scaleTimer);
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, graceMs).unref())]);
    await this.scaling;
    await this.cache.stop();
  }

  reconcile(key: string): Promise<ReconcileResult> {
    return this.reconciler.reconcile(key);
  }

  /** One autoscaling pass over every ImCluster (the leader runs it every scaleIntervalMs). */
  scaleAll(now = Date.now()): Promise<void> {
    return this.autoscaler.scaleAll(now);
  }

  /** Current autoscaler decision for a Deployment. */
  decision(namespace: string, deployment: string): number | undefined {
    return this.autoscaler.decision(namespace, deployment);
  }

  /** Every informer event becomes the key of the ImCluster it concerns. */
  private queueOnChanges(): void {
    const { imclusters, hpas, owned } = this.cache;
    imclusters.on((type, obj, old) => {
      if (changesWhatWeActOn(type, obj, old)) this.queue.add(keyOf(obj));
    });
    for (const informer of owned) {
      informer.on((_type, obj) => {
        const cluster = obj.metadata.labels?.[L.cluster];
        if (cluster && obj.metadata.namespace) this.queue.add(`${obj.metadata.namespace}/${cluster}`);
      });
    }
    hpas.on((_type, obj) => {
      // Whichever cluster owns the target: requeue the namespace's clusters (cheap, rare).
      for (const c of imclusters.list((x) => x.metadata.namespace === obj.metadata.namespace)) this.queue.add(keyOf(c));
    });
  }

  private requeueAll(): void {
    for (const c of this.cache.imclusters.list()) this.queue.add(keyOf(c));
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.deps.metrics.queueDepth.set(this.queue.depth);
      const end = this.deps.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        this.deps.metrics.reconciles.inc({ result });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        this.deps.metrics.reconciles.inc({ result: 'error' });
        this.deps.metrics.reconcileErrors.inc();
        this.deps.log.warn(
          { imcluster: key, err: String(err), retryInMs: delay, retries: this.queue.retries(key) },
          'reconcile failed; retrying with backoff',
        );
      } finally {
        end();
        this.queue.done(key);
        this.deps.metrics.queueDepth.set(this.queue.depth);
      }
    }
  }
}
