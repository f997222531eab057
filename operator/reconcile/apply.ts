// Making a cluster's objects what its plan says. Each desired object is applied with server-side
// apply (field manager imcloud-operator, force: the operator owns the fields it declares and a
// `kubectl edit` of them is reverted; every other field is left alone). Then what the cluster
// owns but the plan no longer wants (a removed pool, a finished canary) is deleted. One object
// at a time, each on its own: a failure goes into `errors` and the others still go ahead.
import type { Logger } from 'pino';
import type { ImCluster } from '../api/imcluster.js';
import { type Cluster, type ClusterCache, ownedBy } from '../cluster-cache.js';
import { KubeApiError, type KubeClient, type KubeObject, R, type Resource } from '../kube/client.js';
import { keyOf } from '../kube/informer.js';
import type { OperatorMetrics } from '../metrics.js';
import { FIELD_MANAGER, L, MANAGED_SELECTOR } from '../objects/common.js';
import { type DesiredObject, followsTlsSecret, objectKey } from '../objects/reconcilers.js';

export interface ApplyDeps {
  kube: KubeClient;
  log: Logger;
  metrics: OperatorMetrics;
  cache: ClusterCache;
}

/** An object to leave as it is, neither applied nor deleted. */
export type Kept = (resource: Resource, o: KubeObject) => boolean;

/**
 * What is left as it is this time: while the spec.tls Secret is unusable, what follows it (its
 * new pods could not start, and the running ones keep serving); while a promotion rolls the
 * stable track, the canary Deployments (they keep serving the canary AppIds until it is done).
 */
export function keptAsIs(c: ImCluster, o: { holdTls: boolean; keepCanary: boolean }): Kept {
  return (resource, obj) =>
    (o.holdTls && followsTlsSecret(c, resource, obj)) ||
    (o.keepCanary && resource.plural === R.deployments.plural && obj.metadata.labels?.[L.track] === 'canary');
}

/** Applies each object; returns what the apiserver answered, by objectKey. */
export async function applyDesired(deps: ApplyDeps, desired: DesiredObject[], errors: string[]): Promise<Map<string, KubeObject>> {
  const applied = new Map<string, KubeObject>();
  for (const { resource, object } of desired) {
    try {
      applied.set(objectKey(resource, object), await deps.kube.apply(resource, object, { fieldManager: FIELD_MANAGER, force: true }));
      deps.metrics.applies.inc({ kind: resource.kind, result: 'ok' });
    } catch (err) {
      deps.metrics.applies.inc({ kind: resource.kind, result: 'error' });
      errors.push(`apply ${resource.kind} ${object.metadata.name}: ${err instanceof KubeApiError ? err.message : String(err)}`);
    }
  }
  return applied;
}

/** Deletes, each with a UID precondition, the cached kinds' objects `c` owns that are not `wanted` (objectKeys) or kept; returns the keys it deleted. */
export async function pruneOwned(deps: ApplyDeps, c: Cluster, wanted: Set<string>, kept: Kept, errors: string[]): Promise<Set<string>> {
  const deleted = new Set<string>();
  for (const informer of deps.cache.owned) {
    const r = informer.resource;
    for (const o of deps.cache.ownedIn(informer, c)) {
      if (wanted.has(objectKey(r, o)) || kept(r, o)) continue;
      try {
        await deps.kube.delete(r, c.metadata.namespace!, o.metadata.name, { uid: o.metadata.uid });
        deleted.add(objectKey(r, o));
        deps.metrics.deletes.inc({ kind: r.kind });
        deps.log.info({ imcluster: keyOf(c), kind: r.kind, name: o.metadata.name }, 'deleted an object the spec no longer wants');
      } catch (err) {
        errors.push(`delete ${r.kind} ${o.metadata.name}: ${String(err)}`);
      }
    }
  }
  return deleted;
}

/** The same for ServiceMonitors, which are not cached: listed by the cluster's label (call it only while their API is served). */
export async function pruneServiceMonitors(kube: KubeClient, c: Cluster, wanted: Set<string>, kept: Kept, errors: string[]): Promise<void> {
  const ns = c.metadata.namespace!;
  try {
    const sms = await kube.list(R.servicemonitors, ns, { labelSelector: `${L.cluster}=${c.metadata.name},${MANAGED_SELECTOR}` });
    for (const sm of sms.items) {
      if (ownedBy(sm, c) && !wanted.has(objectKey(R.servicemonitors, sm)) && !kept(R.servicemonitors, sm))
        await kube.delete(R.servicemonitors, ns, sm.metadata.name);
    }
  } catch (err) {
    errors.push(`servicemonitors: ${String(err)}`);
  }
}
