// The finalizer imcloud.dev/finalizer: what garbage collection does not do when an ImCluster is
// deleted. Gates go first, so that their clients drain while logic still runs; then the managed
// dependencies' StatefulSets and, once they are gone, their PersistentVolumeClaims (the
// ImCluster does not own those); then the finalizer is released and the garbage collector
// deletes every owned object through its ownerReference.
import type { Logger } from 'pino';
import { API_VERSION, FINALIZER, KIND } from '../api/imcluster.js';
import type { Cluster, ClusterCache } from '../cluster-cache.js';
import type { EventRecorder } from '../events.js';
import { isNotFound, type KubeClient, R } from '../kube/client.js';
import { keyOf } from '../kube/informer.js';
import { dependencySecrets, FIELD_MANAGER, L } from '../objects/common.js';

/** While a deleted cluster's dependency StatefulSets are still going, the finalizer looks again this often. */
export const FINALIZER_RECHECK_MS = 1_000;

export interface FinalizerDeps {
  kube: KubeClient;
  log: Logger;
  events: EventRecorder;
  cache: ClusterCache;
}

/** Adds the finalizer; finalizers is a set, so this merges with other controllers' own. */
export async function addFinalizer(kube: KubeClient, c: Cluster): Promise<void> {
  if (c.metadata.finalizers?.includes(FINALIZER)) return;
  await kube.apply(R.imclusters, withFinalizers(c, [FINALIZER]), { fieldManager: FIELD_MANAGER });
}

/** Runs the finalizer of a cluster being deleted: 'waiting' while StatefulSets are still going, then 'done'. */
export async function runFinalizer(deps: FinalizerDeps, c: Cluster): Promise<'waiting' | 'done'> {
  if (!c.metadata.finalizers?.includes(FINALIZER)) return 'done';
  void deps.events.record(
    c,
    'Normal',
    'Deleting',
    'draining gates, deleting managed dependencies and then their volumes; owned objects follow through garbage collection',
  );
  for (const d of deps.cache.deploymentsOf(c).filter((x) => x.metadata.labels?.[L.component] === 'gate')) {
    await deps.kube.delete(R.deployments, c.metadata.namespace!, d.metadata.name, { propagationPolicy: 'Background' });
  }
  if ((await deleteManagedDependencies(deps.kube, c)) === 'waiting') return 'waiting';
  await releaseFinalizer(deps.kube, c);
  deps.log.info({ imcluster: keyOf(c) }, 'finalizer done: owned objects are left to the garbage collector');
  return 'done';
}

/**
 * A managed dependency's StatefulSet goes before its volumes. While it exists, its controller
 * makes a new claim for a pod whose claim went away, and that claim (made after the list below,
 * not yet owned by the set) would outlive the cluster. Deleted in the foreground, the set stops
 * acting at once and is gone once its pods are; until then this says 'waiting'.
 */
async function deleteManagedDependencies(kube: KubeClient, c: Cluster): Promise<'waiting' | 'done'> {
  const ns = c.metadata.namespace!;
  let setsLeft = false;
  for (const { dep, managed } of dependencySecrets(c)) {
    if (!managed) continue;
    const selector = { labelSelector: `${L.cluster}=${c.metadata.name},${L.component}=${dep}` };
    const sets = await kube.list(R.statefulsets, ns, selector);
    for (const set of sets.items) {
      if (!set.metadata.deletionTimestamp) await kube.delete(R.statefulsets, ns, set.metadata.name, { propagationPolicy: 'Foreground' });
    }
    if (sets.items.length > 0) {
      setsLeft = true;
      continue;
    }
    const pvcs = await kube.list(R.pvcs, ns, selector);
    for (const pvc of pvcs.items) await kube.delete(R.pvcs, ns, pvc.metadata.name);
  }
  return setsLeft ? 'waiting' : 'done';
}

/** An apply configuration of the ImCluster that declares only our finalizers. */
/**
 * Drops our finalizer from the live object. The cache may still show a cluster whose finalizer
 * was released a moment ago and which is gone now: an apply to it would try to create it (and
 * fail validation), so the live object is read first, and a failure is ignored when it is gone.
 */
async function releaseFinalizer(kube: KubeClient, c: Cluster): Promise<void> {
  const live = await kube.get<Cluster>(R.imclusters, c.metadata.namespace, c.metadata.name);
  if (!live?.metadata.finalizers?.includes(FINALIZER)) return;
  await kube.apply(R.imclusters, withFinalizers(c, []), { fieldManager: FIELD_MANAGER, force: true }).catch(async (err: unknown) => {
    if (isNotFound(err) || !(await kube.get(R.imclusters, c.metadata.namespace, c.metadata.name))) return;
    throw err;
  });
}

function withFinalizers(c: Cluster, finalizers: string[]) {
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: c.metadata.name, namespace: c.metadata.namespace, finalizers } };
}
