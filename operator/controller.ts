// The ImCluster controller: informers feed a work queue of ImCluster keys; workers reconcile one
// key at a time each. A reconcile reads the ImCluster and its objects from the informers' caches,
// applies every desired object with server-side apply (one field manager), deletes the owned
// objects the spec no longer wants, and writes the status. Autoscaling runs beside it on a timer
// and feeds its decisions back through the queue.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../services/shared/config.js';
import { parseRoutingTable, ROUTING_KEY, serializeRoutingTable } from '../services/shared/routing-table.js';
import { bus } from '../services/shared/topology.js';
import { ANNOTATIONS, API_VERSION, FINALIZER, KIND, type BacklogAutoscale, type GateAutoscale, type ImCluster } from './api/imcluster.js';
import type { EventRecorder } from './events.js';
import { isNotFound, KubeApiError, R, type KubeClient, type KubeObject, type Resource } from './kube/client.js';
import { keyOf } from './kube/informer.js';
import { ClusterCache, ownedBy } from './cluster-cache.js';
import type { LoadSource } from './load.js';
import type { OperatorMetrics } from './metrics.js';
import { adminTokenSecret, dependencySecret, routingTable, type CanaryPlan, type ServiceRole } from './objects/builders.js';
import { desiredObjects, followsTlsSecret, type PlanContext } from './objects/reconcilers.js';
import { A, dependencySecrets, DEPENDENCY_KEYS, FIELD_MANAGER, hash, L, MANAGED_SELECTOR, names, operatorSettings, tlsRoles } from './objects/common.js';
import { WorkQueue } from './queue.js';
import { Autoscaler } from './autoscaler.js';
import { autoscalePolicyFor } from './scaling.js';
import { specConfigProblems } from './spec-config.js';
import { planCanary } from './canary.js';
import { StatusRecorder } from './status-recorder.js';
import { computeStatus, rolledOut, type Workload } from './status.js';
import { tlsSecretProblem } from './tls.js';

export const HANDOVER_MANAGER = 'imcloud-operator-hpa-handover';

type OperatorConfig = Config['operator'];

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

interface Desired {
  resource: Resource;
  object: KubeObject;
}

export interface ControllerDeps {
  kube: KubeClient;
  config: OperatorConfig;
  log: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  load: LoadSource;
}

/** While a deleted cluster's dependency StatefulSets are still going, the finalizer looks again this often. */
const FINALIZE_RECHECK_MS = 1_000;
/** Secrets are not watched: while one the cluster needs is missing or unusable, it is looked at again this often. */
const SECRET_RECHECK_MS = 10_000;

export class Controller {
  readonly queue: WorkQueue;
  private readonly cache: ClusterCache;
  private readonly autoscaler: Autoscaler;
  private readonly status: StatusRecorder;
  private serviceMonitorCrd: { value: boolean; at: number } | undefined;
  private workers: Array<Promise<void>> = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private scaleTimer: NodeJS.Timeout | undefined;
  private scaling: Promise<void> | undefined;
  private started = false;

  constructor(private readonly d: ControllerDeps) {
    this.queue = new WorkQueue({ backoffBaseMs: d.config.backoffBaseMs, backoffMaxMs: d.config.backoffMaxMs });
    this.cache = new ClusterCache(d.kube, { namespace: d.config.namespace || undefined, log: d.log, metrics: d.metrics });
    this.autoscaler = new Autoscaler({ ...d, cache: this.cache, requeue: (key) => this.queue.add(key) });
    this.status = new StatusRecorder({ ...d, cache: this.cache, scaling: this.autoscaler });
  }

  get synced(): boolean {
    return this.started && this.cache.hasSynced;
  }

  async start(): Promise<void> {
    const { imclusters, hpas, owned } = this.cache;
    imclusters.on((type, obj, old) => {
      // Status-only updates (our own writes) change neither generation nor metadata we act on.
      if (type === 'MODIFIED' && old && old.metadata.generation === obj.metadata.generation
        && JSON.stringify(old.metadata.annotations ?? {}) === JSON.stringify(obj.metadata.annotations ?? {})
        && old.metadata.deletionTimestamp === obj.metadata.deletionTimestamp
        && JSON.stringify(old.metadata.finalizers ?? []) === JSON.stringify(obj.metadata.finalizers ?? [])) return;
      this.queue.add(keyOf(obj));
    });
    for (const inf of owned) {
      inf.on((_type, obj) => {
        const cluster = obj.metadata.labels?.[L.cluster];
        if (cluster && obj.metadata.namespace) this.queue.add(`${obj.metadata.namespace}/${cluster}`);
      });
    }
    hpas.on((_type, obj) => {
      // Whichever cluster owns the target: requeue the namespace's clusters (cheap, rare).
      for (const c of imclusters.list((x) => x.metadata.namespace === obj.metadata.namespace)) this.queue.add(keyOf(c));
    });
    await this.cache.start();
    this.started = true;
    for (const c of imclusters.list()) this.queue.add(keyOf(c));
    for (let i = 0; i < this.d.config.workers; i++) this.workers.push(this.work());
    this.resyncTimer = setInterval(() => {
      for (const c of imclusters.list()) this.queue.add(keyOf(c));
    }, this.d.config.resyncMs);
    this.resyncTimer.unref();
    this.scaleTimer = setInterval(() => {
      this.scaling ??= this.autoscaler.scaleAll().catch((err: unknown) => this.d.log.warn({ err: String(err) }, 'autoscaling pass failed')).finally(() => (this.scaling = undefined));
    }, this.d.config.scaleIntervalMs);
    this.scaleTimer.unref();
    this.d.log.info({ namespace: this.d.config.namespace || '(all)', workers: this.d.config.workers }, 'controller started');
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

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.d.metrics.queueDepth.set(this.queue.depth);
      const end = this.d.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.reconcile(key);
        this.queue.forget(key);
        this.d.metrics.reconciles.inc({ result });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        this.d.metrics.reconciles.inc({ result: 'error' });
        this.d.metrics.reconcileErrors.inc();
        this.d.log.warn({ imcluster: key, err: String(err), retryInMs: delay, retries: this.queue.retries(key) }, 'reconcile failed; retrying with backoff');
      } finally {
        end();
        this.queue.done(key);
        this.d.metrics.queueDepth.set(this.queue.depth);
      }
    }
  }

  // ── reconcile ──────────────────────────────────────────────────────────────────────────────

  async reconcile(key: string): Promise<'success' | 'paused' | 'deleted' | 'gone'> {
    const [namespace, name] = key.split('/') as [string, string];
    const c = this.cache.cluster(key);
    if (!c) {
      this.forget(key);
      return 'gone';
    }
    if (c.metadata.deletionTimestamp) {
      await this.finalize(c);
      return 'deleted';
    }
    const paused = c.metadata.annotations?.[ANNOTATIONS.paused] === 'true';
    this.status.notePaused(c, paused);
    if (paused) {
      await this.status.write(c, { paused: true, errors: [], canary: undefined, routing: undefined });
      return 'paused';
    }
    if (!c.metadata.finalizers?.includes(FINALIZER)) {
      await this.d.kube.apply(R.imclusters, { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, finalizers: [FINALIZER] } }, { fieldManager: FIELD_MANAGER });
    }

    // A spec the roles would refuse rolls nothing out: the running workloads keep the last valid one.
    const configProblems = specConfigProblems(c.spec.config, operatorSettings(c));
    const invalidSpec = configProblems.length ? `spec.config: ${configProblems.join('; ')}` : undefined;
    this.status.noteInvalidSpec(c, invalidSpec);
    if (invalidSpec) {
      await this.status.write(c, { paused: false, errors: [], invalidSpec, canary: undefined, routing: undefined });
      return 'success';
    }

    const errors: string[] = [];
    const planned = await this.plan(c, errors);
    const { canary, routing, dependencies, keepCanary, holdTls } = planned;
    if (planned.secretProblems) this.queue.addAfter(key, SECRET_RECHECK_MS);
    // Without a usable TLS Secret, what follows it stays as it is (see followsTlsSecret).
    const held = (r: Resource, o: KubeObject) => holdTls && followsTlsSecret(c, r, o);
    const desired = planned.desired.filter((d) => !held(d.resource, d.object));

    // Apply every desired object, each independently: one failure must not block the rest.
    const applied = new Map<string, KubeObject>();
    for (const { resource, object } of desired) {
      try {
        const result = await this.d.kube.apply(resource, object, { fieldManager: FIELD_MANAGER, force: true });
        applied.set(`${resource.plural}/${object.metadata.name}`, result);
        this.d.metrics.applies.inc({ kind: resource.kind, result: 'ok' });
      } catch (err) {
        this.d.metrics.applies.inc({ kind: resource.kind, result: 'error' });
        errors.push(`apply ${resource.kind} ${object.metadata.name}: ${err instanceof KubeApiError ? err.message : String(err)}`);
      }
    }

    // Delete what this cluster owns but no longer wants (a removed pool, a finished canary…).
    const wanted = new Set(desired.map((x) => `${x.resource.plural}/${x.object.metadata.name}`));
    for (const inf of this.cache.owned) {
      const r = inf.resource;
      for (const o of this.cache.ownedIn(inf, c)) {
        if (wanted.has(`${r.plural}/${o.metadata.name}`)) continue;
        if (keepCanary && r === R.deployments && o.metadata.labels?.[L.track] === 'canary') continue;
        if (held(r, o)) continue;
        try {
          await this.d.kube.delete(r, namespace, o.metadata.name, { uid: o.metadata.uid });
          this.d.metrics.deletes.inc({ kind: r.kind });
          this.d.log.info({ imcluster: key, kind: r.kind, name: o.metadata.name }, 'deleted an object the spec no longer wants');
        } catch (err) {
          errors.push(`delete ${r.kind} ${o.metadata.name}: ${String(err)}`);
        }
      }
    }
    if (await this.serviceMonitorsServed()) {
      try {
        const sms = await this.d.kube.list(R.servicemonitors, namespace, { labelSelector: `${L.cluster}=${name},${MANAGED_SELECTOR}` });
        for (const sm of sms.items) {
          if (ownedBy(sm, c) && !wanted.has(`${R.servicemonitors.plural}/${sm.metadata.name}`) && !held(R.servicemonitors, sm)) await this.d.kube.delete(R.servicemonitors, namespace, sm.metadata.name);
        }
      } catch (err) {
        errors.push(`servicemonitors: ${String(err)}`);
      }
    }

    await this.status.write(c, { paused: false, errors, canary, routing, dependencies, applied });
    if (errors.length) throw new Error(errors.join('; '));
    return 'success';
  }

  private async plan(c: ImCluster & KubeObject, errors: string[]) {
    const key = keyOf(c);
    const ns = c.metadata.namespace!;
    const desired: Desired[] = [];
    const add = (resource: Resource, object: KubeObject) => desired.push({ resource, object });

    // Dependencies: managed ones get a StatefulSet, a Service and a generated Secret; external
    // ones must have a Secret with the keys the roles read.
    const problems: string[] = [];
    const secretData: Record<string, Record<string, string>> = {};
    let managedNotReady: string[] = [];
    for (const { dep, secret, managed } of dependencySecrets(c)) {
      if (managed) {
        const existing = await this.d.kube.get<Secret>(R.secrets, ns, secret);
        const password = existing?.data?.password
          ? Buffer.from(existing.data.password, 'base64').toString('utf8')
          : existing?.data?.secretKey ? Buffer.from(existing.data.secretKey, 'base64').toString('utf8') : randomBytes(18).toString('base64url');
        const { plain, ...obj } = dependencySecret(c, dep, password);
        add(R.secrets, obj as KubeObject);
        secretData[secret] = plain;
        const sts = this.cache.statefulSet(ns, secret);
        if ((sts?.status?.readyReplicas ?? 0) < 1) managedNotReady.push(`${dep} (managed StatefulSet ${secret} not ready)`);
      } else {
        const s = await this.d.kube.get<Secret>(R.secrets, ns, secret);
        if (!s) {
          problems.push(`${dep}: Secret ${secret} not found`);
          continue;
        }
        const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        const missing = DEPENDENCY_KEYS[dep].filter((k) => !k.optional && !data[k.key]).map((k) => k.key);
        if (missing.length) problems.push(`${dep}: Secret ${secret} lacks key(s) ${missing.join(', ')}`);
        secretData[secret] = data;
      }
    }
    managedNotReady = managedNotReady.sort();
    // Only the dependencies' connection settings: the TLS Secret's content is read by the running
    // processes (a renewed certificate never restarts a pod).
    const dependenciesHash = hash(Object.keys(secretData).sort().map((k) => [k, secretData[k]]));

    let tlsProblem: string | undefined;
    if (c.spec.tls) {
      const name = c.spec.tls.secretName;
      tlsProblem = tlsSecretProblem(name, await this.d.kube.get<Secret>(R.secrets, ns, name));
      if (tlsProblem) {
        const roles = [...tlsRoles(c)];
        problems.push(`${tlsProblem}; the ${roles.join(', ')} Deployments are not rolled out until it is fixed (running pods keep serving)`);
      }
    }
    const dependencies = {
      ready: problems.length === 0 && managedNotReady.length === 0,
      reason: tlsProblem && problems.length === 1 && managedNotReady.length === 0 ? 'TLSSecretNotReady' : undefined,
      message: [...problems, ...managedNotReady].join('; ') || 'every dependency is configured' + (dependencySecrets(c).some((d) => d.managed) ? ' and the managed ones are ready' : '') + (c.spec.tls ? `; TLS Secret ${c.spec.tls.secretName} holds a usable certificate and key` : ''),
    };
    if (problems.length) void this.d.events.record(c, 'Warning', 'DependencyMissing', problems.join('; '));

    if (!c.spec.adminTokenSecretRef) {
      const existing = await this.d.kube.get<Secret>(R.secrets, ns, names.adminToken(c.metadata.name));
      if (!existing) {
        await this.d.kube.create(R.secrets, adminTokenSecret(c, randomBytes(24).toString('base64url')) as KubeObject);
      }
    }

    const { canary, keepCanary, transition } = planCanary({
      cluster: c, deployments: this.cache.deploymentsOf(c), routingTable: this.cache.configMap(ns, names.routing(c.metadata.name))?.data?.[ROUTING_KEY],
    });
    this.status.noteCanary(c, transition);

    const hpaTargets = this.cache.hpaTargets(ns);
    const ctx: PlanContext = {
      cluster: c,
      dependenciesHash,
      canary,
      serviceMonitors: c.spec.monitoring.serviceMonitor && (await this.serviceMonitorsServed()),
      replicasFor: this.autoscaler.replicasFor(ns, hpaTargets),
    };
    desired.push(...desiredObjects(ctx));
    const table = routingTable(c, canary);

    // Hand spec.replicas over to an HPA without resetting it (see ADR 0104).
    for (const target of hpaTargets) await this.handOverReplicas(ns, target).catch((err: unknown) => errors.push(`hpa handover ${target}: ${String(err)}`));

    return {
      desired, canary, keepCanary, dependencies, holdTls: tlsProblem !== undefined, secretProblems: problems.length > 0,
      routing: { configMap: names.routing(c.metadata.name), hash: hash(serializeRoutingTable(table)) },
    };
  }

  /**
   * If our field manager still owns spec.replicas of a Deployment an HPA now scales, a second
   * manager takes it over at its current value first; our next apply (without replicas) then
   * releases it without the apiserver resetting it to 1 (the documented SSA hand-over).
   */
  private async handOverReplicas(namespace: string, name: string): Promise<void> {
    const live = this.cache.deployment(namespace, name);
    if (!live) return;
    const owns = (live.metadata.managedFields ?? []).some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply' && !m.subresource
      && Boolean((m.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:replicas']));
    if (!owns || live.spec?.replicas === undefined) return;
    await this.d.kube.apply(R.deployments, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { replicas: live.spec.replicas } }, { fieldManager: HANDOVER_MANAGER, force: true });
    this.d.log.info({ deployment: `${namespace}/${name}`, replicas: live.spec.replicas }, 'a HorizontalPodAutoscaler targets this Deployment: handing spec.replicas over to it');
  }

  private async serviceMonitorsServed(): Promise<boolean> {
    const now = Date.now();
    if (this.serviceMonitorCrd && now - this.serviceMonitorCrd.at < 60_000) return this.serviceMonitorCrd.value;
    try {
      const value = await this.d.kube.serves('monitoring.coreos.com', 'v1', 'servicemonitors');
      this.serviceMonitorCrd = { value, at: now };
      return value;
    } catch {
      return this.serviceMonitorCrd?.value ?? false;
    }
  }

  // ── deletion ───────────────────────────────────────────────────────────────────────────────

  /**
   * The finalizer: what garbage collection does not do. Gates go first so that their clients
   * drain while logic still runs; managed dependencies' StatefulSets are deleted and, once they
   * are gone, their PersistentVolumeClaims (not owned by the ImCluster); then the finalizer is
   * removed and the garbage collector deletes every owned object through its ownerReference.
   */
  private async finalize(c: ImCluster & KubeObject): Promise<void> {
    const key = keyOf(c);
    if (!c.metadata.finalizers?.includes(FINALIZER)) {
      this.forget(key);
      return;
    }
    const ns = c.metadata.namespace!;
    void this.d.events.record(c, 'Normal', 'Deleting', 'draining gates, deleting managed dependencies and then their volumes; owned objects follow through garbage collection');
    for (const d of this.cache.deploymentsOf(c).filter((x) => x.metadata.labels?.[L.component] === 'gate')) {
      await this.d.kube.delete(R.deployments, ns, d.metadata.name, { propagationPolicy: 'Background' });
    }
    // A managed dependency's StatefulSet goes before its volumes. While it exists, its controller
    // makes a new claim for a pod whose claim went away, and that claim (made after the list
    // below, not yet owned by the set) would outlive the cluster. Deleted in the foreground, the
    // set stops acting at once and is gone once its pods are; until then the finalizer waits.
    let setsLeft = false;
    for (const { dep, managed } of dependencySecrets(c)) {
      if (!managed) continue;
      const selector = { labelSelector: `${L.cluster}=${c.metadata.name},${L.component}=${dep}` };
      const sets = await this.d.kube.list(R.statefulsets, ns, selector);
      for (const set of sets.items) {
        if (!set.metadata.deletionTimestamp) await this.d.kube.delete(R.statefulsets, ns, set.metadata.name, { propagationPolicy: 'Foreground' });
      }
      if (sets.items.length > 0) {
        setsLeft = true;
        continue;
      }
      const pvcs = await this.d.kube.list(R.pvcs, ns, selector);
      for (const pvc of pvcs.items) await this.d.kube.delete(R.pvcs, ns, pvc.metadata.name);
    }
    if (setsLeft) {
      this.queue.addAfter(key, FINALIZE_RECHECK_MS);
      return;
    }
    await this.d.kube.apply(R.imclusters, { apiVersion: API_VERSION, kind: KIND, metadata: { name: c.metadata.name, namespace: ns, finalizers: [] } }, { fieldManager: FIELD_MANAGER, force: true })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    this.d.log.info({ imcluster: key }, 'finalizer done: owned objects are left to the garbage collector');
    this.forget(key);
  }

  private forget(key: string): void {
    this.status.forget(key);
    this.autoscaler.forget(key);
  }

  // ── autoscaling ────────────────────────────────────────────────────────────────────────────

  /** One autoscaling pass over every ImCluster (the leader runs it every scaleIntervalMs). */
  scaleAll(now = Date.now()): Promise<void> {
    return this.autoscaler.scaleAll(now);
  }

  /** Current autoscaler decision for a Deployment. */
  decision(namespace: string, deployment: string): number | undefined {
    return this.autoscaler.decision(namespace, deployment);
  }
}
