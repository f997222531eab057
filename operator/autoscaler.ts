// The operator's autoscaler (ADR 0103). Every scaleIntervalMs the leader reads each ImCluster's
// load — connections from the gates' reports in Redis, backlogs from RabbitMQ — and decides the
// replicas of the Deployments that autoscale. Decisions are kept here, in memory, and reach the
// Deployments through the next reconcile's apply: a cluster whose decision (or connection count)
// changed is requeued. The decisions themselves are scaling.ts's, pure and unit tested.
import type { Logger } from 'pino';
import type { GateInfo } from '../services/ports/routes.js';
import type { Config } from '../services/shared/config.js';
import { bus } from '../services/shared/topology.js';
import { ANNOTATIONS } from './api/imcluster.js';
import type { Cluster, ClusterCache } from './cluster-cache.js';
import type { EventRecorder } from './events.js';
import { type KubeClient, R } from './kube/client.js';
import { keyOf } from './kube/informer.js';
import { type Secret, secretValue } from './kube/secret.js';
import type { LoadSource } from './load.js';
import type { OperatorMetrics } from './metrics.js';
import type { ServiceRole } from './objects/builders.js';
import { A, dependencySecrets, FIELD_MANAGER, fileDeployed, names, selectorLabels } from './objects/common.js';
import type { PlanContext } from './objects/reconcilers.js';
import {
  autoscalePolicyFor,
  clusterGateReports,
  deletionCosts,
  type PodMetrics,
  podsCpuMillicores,
  poolConnections,
  replicasToApply,
  Stabilizer,
  totalConnections,
} from './scaling.js';
import { kubeTime } from './status.js';

export interface AutoscalerDeps {
  kube: KubeClient;
  config: Pick<Config['operator'], 'gateReportMaxAgeMs'>;
  load: LoadSource;
  metrics: OperatorMetrics;
  events: EventRecorder;
  log: Logger;
  cache: ClusterCache;
  /** Reconcile the cluster soon: a decision reaches its Deployment through the apply. */
  requeue(key: string): void;
}

/** Backlog that drives each role: the store queue for consumers, the stable upstream queue for logic. */
const BACKLOG_QUEUES: Array<[ServiceRole & ('logic' | 'consumer'), string]> = [
  ['consumer', bus.storeQueue],
  ['logic', bus.upstreamQueue('stable')],
];

/** What one pass over one cluster knows. */
interface ScalePass {
  cluster: Cluster;
  now: number;
  /** The cluster's gate reports, undefined when they could not be read. */
  reports: GateInfo[] | undefined;
  hpaTargets: Set<string>;
  changed: boolean;
}

export class Autoscaler {
  private readonly stabilizer = new Stabilizer();
  /** Replicas decided per `<ns>/<deployment>`. */
  private readonly decisions = new Map<string, number>();
  /** Cluster key → the Deployments (namespace/name) decided for it, so that forget() drops exactly those. */
  private readonly decided = new Map<string, Set<string>>();
  /** Per cluster key: its gates' connections and when it last scaled (status). */
  private readonly connections = new Map<string, number>();
  private readonly lastScale = new Map<string, string>();

  constructor(private readonly deps: AutoscalerDeps) {}

  /** One autoscaling pass over every ImCluster that is neither paused nor being deleted. */
  async scaleAll(now = Date.now()): Promise<void> {
    for (const c of this.deps.cache.clusters()) {
      if (c.metadata.deletionTimestamp || c.metadata.annotations?.[ANNOTATIONS.paused] === 'true') continue;
      try {
        await this.scaleCluster(c, now);
      } catch (err) {
        this.deps.log.warn({ imcluster: keyOf(c), err: String(err) }, 'autoscaling failed for this cluster');
      }
    }
  }

  /** PlanContext.replicasFor for the cluster in `namespace`. */
  replicasFor(namespace: string, hpaTargets: Set<string>): PlanContext['replicasFor'] {
    return (deployment, fixed, autoscale, fallback) =>
      replicasToApply({
        hpa: hpaTargets.has(deployment),
        fixed,
        autoscale,
        fallback,
        decided: this.decisions.get(`${namespace}/${deployment}`),
        live: this.deps.cache.deployment(namespace, deployment)?.spec?.replicas,
      });
  }

  /** The autoscaler's current decision for a Deployment. */
  decision(namespace: string, deployment: string): number | undefined {
    return this.decisions.get(`${namespace}/${deployment}`);
  }

  connectionsOf(key: string): number | undefined {
    return this.connections.get(key);
  }

  lastScaleTimeOf(key: string): string | undefined {
    return this.lastScale.get(key);
  }

  /** Drops what is kept about a cluster that is gone. */
  forget(key: string): void {
    // By exact Deployment, not by name prefix: a cluster "chat" must not forget "chat-eu"'s Deployments.
    const ids = this.decided.get(key) ?? new Set<string>();
    this.stabilizer.forget(ids);
    for (const id of ids) this.decisions.delete(id);
    this.decided.delete(key);
    this.connections.delete(key);
    this.lastScale.delete(key);
  }

  private async scaleCluster(cluster: Cluster, now: number): Promise<void> {
    const key = keyOf(cluster);
    const secrets = new Map(dependencySecrets(cluster).map((x) => [x.dep, x.secret]));
    const reports = await this.gateReports(cluster, secrets.get('redis'), now);
    const pass: ScalePass = { cluster, now, reports, hpaTargets: this.deps.cache.hpaTargets(cluster.metadata.namespace!), changed: false };
    if (reports) {
      const total = totalConnections(reports);
      if (this.connections.get(key) !== total) {
        this.connections.set(key, total);
        pass.changed = true;
      }
      for (const pool of cluster.spec.gate.pools.filter((p) => p.autoscale)) {
        const deployment = names.gate(cluster.metadata.name, pool.name);
        await this.scale(pass, deployment, poolConnections(reports, deployment));
      }
    }
    await this.scaleByBacklog(pass, secrets.get('rabbitmq'));
    await this.scaleFileByCpu(pass);
    if (pass.changed) this.deps.requeue(key);
  }

  /** The cluster's gate reports from Redis; undefined without a Redis URL or when they cannot be read. */
  private async gateReports(cluster: Cluster, redisSecret: string | undefined, now: number): Promise<GateInfo[] | undefined> {
    const url = redisSecret ? await this.secretUrl(cluster, redisSecret) : undefined;
    if (!url) return undefined;
    try {
      return clusterGateReports(await this.deps.load.gateReports(url), cluster.metadata.name, now, this.deps.config.gateReportMaxAgeMs);
    } catch (err) {
      this.deps.metrics.scaleMetricErrors.inc({ source: 'redis' });
      void this.deps.events.record(cluster, 'Warning', 'ScalingMetricsUnavailable', `cannot read gate load from Redis: ${String(err)}`);
      return undefined;
    }
  }

  private async scaleByBacklog(pass: ScalePass, amqpSecret: string | undefined): Promise<void> {
    const c = pass.cluster;
    const autoscaled = BACKLOG_QUEUES.filter(([role]) => c.spec[role].autoscale);
    if (!autoscaled.length) return;
    const url = amqpSecret ? await this.secretUrl(c, amqpSecret) : undefined;
    if (!url) return;
    for (const [role, queue] of autoscaled) {
      try {
        const depth = await this.deps.load.queueDepth(url, queue);
        await this.scale(pass, names.role(c.metadata.name, role), depth);
      } catch (err) {
        this.deps.metrics.scaleMetricErrors.inc({ source: 'rabbitmq' });
        void this.deps.events.record(
          c,
          'Warning',
          'ScalingMetricsUnavailable',
          `cannot read the depth of ${queue} from RabbitMQ: ${String(err)}`,
        );
      }
    }
  }

  /**
   * The file role by the CPU its pods use (ADR 0108), from the resource metrics API: PodMetrics
   * listed by the file Deployment's pod selector. Not served, or failing: the replicas stay.
   */
  private async scaleFileByCpu(pass: ScalePass): Promise<void> {
    const c = pass.cluster;
    if (!c.spec.file?.autoscale || !fileDeployed(c)) return;
    const deployment = names.role(c.metadata.name, 'file');
    if (!this.deps.cache.deployment(c.metadata.namespace!, deployment) || pass.hpaTargets.has(deployment)) return;
    const selector = Object.entries(selectorLabels(c, 'file', { track: 'stable' }))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let millicores: number;
    try {
      const list = await this.deps.kube.list(R.podmetrics, c.metadata.namespace!, { labelSelector: selector });
      millicores = podsCpuMillicores(list.items as unknown as PodMetrics[]);
    } catch (err) {
      this.deps.metrics.scaleMetricErrors.inc({ source: 'metrics.k8s.io' });
      void this.deps.events.record(
        c,
        'Warning',
        'ScalingMetricsUnavailable',
        `cannot read the CPU of ${deployment}'s pods from the resource metrics API (metrics.k8s.io; is metrics-server installed?): ${String(err)}`,
      );
      return;
    }
    await this.scale(pass, deployment, millicores);
  }

  /** Decides one Deployment's replicas for `load`; leaves alone one without a policy, not there yet, or an HPA's. */
  private async scale(pass: ScalePass, deployment: string, load: number): Promise<void> {
    const c = pass.cluster;
    const ns = c.metadata.namespace!;
    const autoscaled = autoscalePolicyFor(c, deployment);
    const live = this.deps.cache.deployment(ns, deployment);
    if (!autoscaled || !live || pass.hpaTargets.has(deployment)) return;
    const id = `${ns}/${deployment}`;
    const current = this.decisions.get(id) ?? live.spec?.replicas ?? autoscaled.policy.minReplicas;
    const decision = this.stabilizer.decide(id, current, load, autoscaled.policy, pass.now);
    this.decidedFor(keyOf(c)).add(id);
    if (decision.replicas === current) return;
    if (autoscaled.kind === 'gate' && decision.replicas < current && pass.reports)
      await this.setDeletionCosts(ns, deployment, pass.reports);
    this.decisions.set(id, decision.replicas);
    this.lastScale.set(keyOf(c), kubeTime(new Date(pass.now)));
    this.deps.metrics.scaleDecisions.inc({ component: autoscaled.kind, direction: decision.replicas > current ? 'up' : 'down' });
    void this.deps.events.record(c, 'Normal', 'Scaled', `${deployment}: ${current} → ${decision.replicas} pods (${decision.reason})`);
    this.deps.log.info({ imcluster: keyOf(c), deployment, from: current, to: decision.replicas, reason: decision.reason }, 'autoscaling');
    pass.changed = true;
  }

  private decidedFor(key: string): Set<string> {
    let ids = this.decided.get(key);
    if (!ids) this.decided.set(key, (ids = new Set()));
    return ids;
  }

  /** Before a gate pool shrinks: its least-loaded gates are the ones the ReplicaSet controller removes. */
  private async setDeletionCosts(ns: string, deployment: string, reports: GateInfo[]): Promise<void> {
    const live = this.deps.cache.deployment(ns, deployment) as
      | { spec?: { selector?: { matchLabels?: Record<string, string> } } }
      | undefined;
    const matchLabels = live?.spec?.selector?.matchLabels;
    if (!matchLabels) return;
    const pods = await this.deps.kube.list(R.pods, ns, {
      labelSelector: Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    });
    for (const { pod, cost } of deletionCosts(pods.items, reports)) {
      await this.deps.kube
        .patch(R.pods, ns, pod, { metadata: { annotations: { [A.deletionCost]: cost } } }, { fieldManager: FIELD_MANAGER })
        .catch((err: unknown) => this.deps.log.warn({ pod, err: String(err) }, 'could not set pod-deletion-cost'));
    }
  }

  /** The `url` key of a dependency's Secret. */
  private async secretUrl(cluster: Cluster, secret: string): Promise<string | undefined> {
    return secretValue(await this.deps.kube.get<Secret>(R.secrets, cluster.metadata.namespace!, secret), 'url');
  }
}
