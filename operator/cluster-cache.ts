// The informers' caches of ImClusters, of the objects the operator owns (selected by its
// managed-by label) and of HorizontalPodAutoscalers, and the lookups that the reconcile, the
// status and the autoscaler make over them. Reads only: nothing here writes to the apiserver.
import type { Logger } from 'pino';
import { API_VERSION, type ImCluster, KIND } from './api/imcluster.js';
import { type Kube, type KubeObject, R, type Resource } from './kube/client.js';
import { Informer } from './kube/informer.js';
import type { OperatorMetrics } from './metrics.js';
import { L, MANAGED_SELECTOR } from './objects/common.js';
import type { Workload } from './status.js';

/** An ImCluster as the apiserver returns it on its own (list items lack apiVersion and kind). */
export type Cluster = ImCluster & KubeObject;

export interface Hpa extends KubeObject {
  spec?: { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string } };
}

export type ConfigMap = KubeObject & { data?: Record<string, string> };

/** `o` carries `c`'s controller ownerReference. */
export function ownedBy(o: KubeObject, c: ImCluster): boolean {
  return (o.metadata.ownerReferences ?? []).some((ref) => ref.uid === c.metadata.uid && ref.controller);
}

export class ClusterCache {
  readonly imclusters: Informer<Cluster>;
  readonly deployments: Informer<Workload>;
  readonly statefulsets: Informer<Workload>;
  readonly services: Informer<KubeObject>;
  readonly configmaps: Informer<ConfigMap>;
  readonly pdbs: Informer<KubeObject>;
  readonly hpas: Informer<Hpa>;

  constructor(kube: Kube, o: { namespace: string | undefined; log: Logger; metrics: OperatorMetrics }) {
    const informer = <T extends KubeObject>(r: Resource, labelSelector?: string) => {
      // Every resource's restarts and deletes start at 0 (a dashboard sees 0, not no series).
      for (const reason of ['timeout', 'error', 'gone']) o.metrics.watchRestarts.inc({ resource: r.plural, reason }, 0);
      if (labelSelector === MANAGED_SELECTOR) o.metrics.deletes.inc({ kind: r.kind }, 0);
      return new Informer<T>(kube, r, {
        namespace: o.namespace,
        labelSelector,
        log: o.log,
        onRestart: (reason) => o.metrics.watchRestarts.inc({ resource: r.plural, reason }),
      });
    };
    this.imclusters = informer(R.imclusters);
    this.deployments = informer(R.deployments, MANAGED_SELECTOR);
    this.statefulsets = informer(R.statefulsets, MANAGED_SELECTOR);
    this.services = informer(R.services, MANAGED_SELECTOR);
    this.configmaps = informer(R.configmaps, MANAGED_SELECTOR);
    this.pdbs = informer(R.pdbs, MANAGED_SELECTOR);
    this.hpas = informer(R.hpas);
  }

  /** The informers of the owned kinds (Secrets and ServiceMonitors are not cached: read on demand). */
  get owned(): Array<Informer<KubeObject>> {
    return [this.deployments, this.statefulsets, this.services, this.configmaps, this.pdbs];
  }

  private get all(): Array<Pick<Informer<KubeObject>, 'hasSynced' | 'start' | 'stop'>> {
    return [this.imclusters, ...this.owned, this.hpas];
  }

  get hasSynced(): boolean {
    return this.all.every((i) => i.hasSynced);
  }

  async start(): Promise<void> {
    await Promise.all(this.all.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }

  /** The ImCluster with key `namespace/name`, or undefined once it is gone. */
  cluster(key: string): Cluster | undefined {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.imclusters.get(namespace, name);
    return cached && withTypeMeta(cached);
  }

  clusters(): Cluster[] {
    return this.imclusters.list().map(withTypeMeta);
  }

  /** The objects that `c` owns in one of the `owned` informers. */
  ownedIn<T extends KubeObject>(informer: Informer<T>, c: ImCluster): T[] {
    return informer.list((o) => o.metadata.namespace === c.metadata.namespace && ownedBy(o, c));
  }

  /** The cluster's Deployments, both tracks. */
  deploymentsOf(c: ImCluster): Workload[] {
    return this.deployments.list(
      (d) => d.metadata.namespace === c.metadata.namespace && d.metadata.labels?.[L.cluster] === c.metadata.name && ownedBy(d, c),
    );
  }

  statefulSetsOf(c: ImCluster): Workload[] {
    return this.ownedIn(this.statefulsets, c);
  }

  deployment(namespace: string, name: string): Workload | undefined {
    return this.deployments.get(namespace, name);
  }

  statefulSet(namespace: string, name: string): Workload | undefined {
    return this.statefulsets.get(namespace, name);
  }

  configMap(namespace: string | undefined, name: string): ConfigMap | undefined {
    return this.configmaps.get(namespace, name);
  }

  /** Deployment names targeted by a HorizontalPodAutoscaler in the namespace (ADR 0104). */
  hpaTargets(namespace: string): Set<string> {
    const out = new Set<string>();
    for (const h of this.hpas.list((x) => x.metadata.namespace === namespace)) {
      const ref = h.spec?.scaleTargetRef;
      if (ref?.kind === 'Deployment' && ref.name) out.add(ref.name);
    }
    return out;
  }
}

function withTypeMeta(c: Cluster): Cluster {
  return { ...c, apiVersion: API_VERSION, kind: KIND };
}
