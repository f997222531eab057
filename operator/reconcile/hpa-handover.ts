// Never fight a HorizontalPodAutoscaler (ADR 0104): a Deployment an HPA targets is applied
// without spec.replicas. Dropping the field alone would make the apiserver remove it (our field
// manager was its only owner) and so reset the Deployment to 1 replica. As the server-side apply
// documentation prescribes, a second field manager first takes spec.replicas over at its live
// value; our next apply, without the field, then releases it and the value stays.
import type { Logger } from 'pino';
import type { ClusterCache } from '../cluster-cache.js';
import { type KubeClient, type KubeObject, R } from '../kube/client.js';
import { FIELD_MANAGER } from '../objects/common.js';

export const HANDOVER_MANAGER = 'imcloud-operator-hpa-handover';

/** Our field manager owns spec.replicas of `live`, through an apply to the Deployment itself. */
export function ownsReplicas(live: KubeObject): boolean {
  return (live.metadata.managedFields ?? []).some(
    (m) =>
      m.manager === FIELD_MANAGER &&
      m.operation === 'Apply' &&
      !m.subresource &&
      Boolean((m.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined)?.['f:replicas']),
  );
}

/** Hands spec.replicas of each HPA target in `namespace` over while we still own it; failures go into `errors`. */
export async function handOverReplicas(
  deps: { kube: KubeClient; log: Logger; cache: ClusterCache },
  namespace: string,
  targets: Set<string>,
  errors: string[],
): Promise<void> {
  for (const name of targets) {
    const live = deps.cache.deployment(namespace, name);
    const replicas = live?.spec?.replicas;
    if (!live || !ownsReplicas(live) || replicas === undefined) continue;
    try {
      await deps.kube.apply(
        R.deployments,
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { replicas } },
        { fieldManager: HANDOVER_MANAGER, force: true },
      );
      deps.log.info(
        { deployment: `${namespace}/${name}`, replicas },
        'a HorizontalPodAutoscaler targets this Deployment: handing spec.replicas over to it',
      );
    } catch (err) {
      errors.push(`hpa handover ${name}: ${String(err)}`);
    }
  }
}
