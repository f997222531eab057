// One reconcile of one ImCluster. In order: a cluster that is gone is forgotten; one being
// deleted runs the finalizer; a paused one (imcloud.dev/paused) gets its status and nothing
// else; one whose spec.config the roles would refuse keeps its running workloads on the last
// valid spec. Otherwise: plan (Secrets, canary, every desired object) → apply → prune → status.
// Reads come from the informers' caches, Secrets from the apiserver. A reconcile that hit an
// error throws after writing the status, so that the key is retried with backoff.
import type { Logger } from 'pino';
import { ROUTING_KEY, serializeRoutingTable } from '../../services/shared/routing-table.js';
import { ANNOTATIONS } from '../api/imcluster.js';
import type { Autoscaler } from '../autoscaler.js';
import { type CanaryDecision, planCanary } from '../canary.js';
import type { Cluster, ClusterCache } from '../cluster-cache.js';
import type { EventRecorder } from '../events.js';
import { type KubeClient, R } from '../kube/client.js';
import { keyOf } from '../kube/informer.js';
import { ServedApi } from '../kube/served-api.js';
import type { OperatorMetrics } from '../metrics.js';
import { routingTable } from '../objects/builders.js';
import { hash, names, operatorSettings } from '../objects/common.js';
import { type DesiredObject, desiredObjects, objectKey } from '../objects/reconcilers.js';
import { specConfigProblems } from '../spec-config.js';
import type { StatusRecorder } from '../status-recorder.js';
import { applyDesired, keptAsIs, pruneOwned, pruneServiceMonitors } from './apply.js';
import { addFinalizer, FINALIZER_RECHECK_MS, runFinalizer } from './finalizer.js';
import { handOverReplicas } from './hpa-handover.js';
import { type DependencyPlan, reconcileAdminToken, reconcileDependencySecrets, SECRET_RECHECK_MS } from './secrets.js';

export type ReconcileResult = 'success' | 'paused' | 'deleted' | 'gone';

export interface ReconcilerDeps {
  kube: KubeClient;
  log: Logger;
  metrics: OperatorMetrics;
  events: EventRecorder;
  cache: ClusterCache;
  status: StatusRecorder;
  autoscaler: Autoscaler;
  /** Look at the cluster again after `ms`: what it waits for (a Secret, a StatefulSet going) is not watched. */
  requeueAfter(key: string, ms: number): void;
}

interface Plan {
  desired: DesiredObject[];
  dependencies: DependencyPlan;
  canary: CanaryDecision;
  routing: { configMap: string; hash: string };
}

export class ClusterReconciler {
  private readonly serviceMonitorApi: ServedApi;

  constructor(private readonly deps: ReconcilerDeps) {
    this.serviceMonitorApi = new ServedApi(deps.kube, R.servicemonitors);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const c = this.deps.cache.cluster(key);
    if (!c) {
      this.forget(key);
      return 'gone';
    }
    if (c.metadata.deletionTimestamp) {
      // While the finalizer runs (the dependencies' volumes can take a while), kubectl shows why the cluster lingers.
      if (c.metadata.finalizers?.length)
        await this.deps.status.write(c, { paused: false, terminating: true, errors: [], canary: undefined, routing: undefined });
      if ((await runFinalizer(this.deps, c)) === 'waiting') this.deps.requeueAfter(key, FINALIZER_RECHECK_MS);
      else this.forget(key);
      return 'deleted';
    }
    const paused = c.metadata.annotations?.[ANNOTATIONS.paused] === 'true';
    this.deps.status.notePaused(c, paused);
    if (paused) {
      await this.deps.status.write(c, { paused: true, errors: [], canary: undefined, routing: undefined });
      return 'paused';
    }
    await addFinalizer(this.deps.kube, c);
    // A spec the roles would refuse rolls nothing out: the running workloads keep the last valid one.
    const invalidSpec = invalidSpecOf(c);
    this.deps.status.noteInvalidSpec(c, invalidSpec);
    if (invalidSpec) {
      await this.deps.status.write(c, { paused: false, errors: [], invalidSpec, canary: undefined, routing: undefined });
      return 'success';
    }
    await this.converge(c);
    return 'success';
  }

  /** Plan, apply, prune, status. */
  private async converge(c: Cluster): Promise<void> {
    const errors: string[] = [];
    const plan = await this.plan(c, errors);
    if (plan.dependencies.recheck) this.deps.requeueAfter(keyOf(c), SECRET_RECHECK_MS);
    const kept = keptAsIs(c, { holdTls: plan.dependencies.holdTls, keepCanary: plan.canary.keepCanary });
    const desired = plan.desired.filter((d) => !kept(d.resource, d.object));
    const applied = await applyDesired(this.deps, desired, errors);
    const wanted = new Set(desired.map((d) => objectKey(d.resource, d.object)));
    const deleted = await pruneOwned(this.deps, c, wanted, kept, errors);
    if (await this.serviceMonitorApi.served()) await pruneServiceMonitors(this.deps.kube, c, wanted, kept, errors);
    await this.deps.status.write(c, {
      paused: false,
      errors,
      canary: plan.canary.canary,
      routing: plan.routing,
      dependencies: plan.dependencies.status,
      applied,
      deleted,
    });
    if (errors.length) throw new Error(errors.join('; '));
  }

  /** Every object the cluster should have, and what the status reports about the plan. */
  private async plan(c: Cluster, errors: string[]): Promise<Plan> {
    const { cache, kube } = this.deps;
    const ns = c.metadata.namespace!;
    const dependencies = await reconcileDependencySecrets(kube, cache, c);
    if (dependencies.problems.length) void this.deps.events.record(c, 'Warning', 'DependencyMissing', dependencies.problems.join('; '));
    await reconcileAdminToken(kube, c);
    const routingConfigMap = names.routing(c.metadata.name);
    const canary = planCanary({
      cluster: c,
      deployments: cache.deploymentsOf(c),
      routingTable: cache.configMap(ns, routingConfigMap)?.data?.[ROUTING_KEY],
    });
    this.deps.status.noteCanary(c, canary.transition);
    const hpaTargets = cache.hpaTargets(ns);
    const desired = [
      ...dependencies.secrets,
      ...desiredObjects({
        cluster: c,
        dependenciesHash: dependencies.hash,
        canary: canary.canary,
        serviceMonitors: c.spec.monitoring.serviceMonitor && (await this.serviceMonitorApi.served()),
        replicasFor: this.deps.autoscaler.replicasFor(ns, hpaTargets),
      }),
    ];
    await handOverReplicas(this.deps, ns, hpaTargets, errors);
    return {
      desired,
      dependencies,
      canary,
      routing: { configMap: routingConfigMap, hash: hash(serializeRoutingTable(routingTable(c, canary.canary))) },
    };
  }

  private forget(key: string): void {
    this.deps.status.forget(key);
    this.deps.autoscaler.forget(key);
  }
}

/** Why spec.config cannot be rolled out (ADR 0106), or undefined. */
function invalidSpecOf(c: Cluster): string | undefined {
  const problems = specConfigProblems(c.spec.config, operatorSettings(c));
  return problems.length ? `spec.config: ${problems.join('; ')}` : undefined;
}
