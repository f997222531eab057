// Gray release (ADR 0102): which canary a cluster runs, and whether a promotion or a rollback is
// under way or done. Pure: the caller passes in the cluster's live Deployments and its routing
// table. The operator keeps no promotion state; it is all derived from the objects, so a
// restarted operator carries on with a promotion.
import { parseRoutingTable } from '../services/shared/routing-table.js';
import type { ImCluster } from './api/imcluster.js';
import type { CanaryPlan } from './objects/builders.js';
import { L } from './objects/common.js';
import { rolledOut, type Workload } from './status.js';

export interface CanaryTransition {
  /** The state the Event announces: it is recorded once per marker, not once per reconcile. */
  marker: string;
  reason: 'CanaryActive' | 'PromotionStarted' | 'Promoted' | 'RolledBack';
  message: string;
}

export interface CanaryDecision {
  canary?: CanaryPlan;
  /** The canary Deployments stay as they are, neither applied nor deleted: a promotion is rolling the stable track. */
  keepCanary: boolean;
  transition?: CanaryTransition;
}

export interface CanaryInput {
  cluster: ImCluster;
  /** The cluster's Deployments, both tracks. */
  deployments: Workload[];
  /** The routing table the cluster's ConfigMap holds now (routing.json), if any. */
  routingTable: string | undefined;
}

/** The canary: from spec.gray, kept while a promotion rolls the stable track, or none. */
export function planCanary({ cluster: c, deployments, routingTable }: CanaryInput): CanaryDecision {
  if (c.spec.gray) {
    const g = c.spec.gray;
    const canary = { version: g.version, appIds: g.appIds, percentage: g.percentage, promoting: false };
    return {
      canary,
      keepCanary: false,
      transition: { marker: `active:${g.version}`, reason: 'CanaryActive', message: activeMessage(canary) },
    };
  }
  const existing = deployments.filter((d) => d.metadata.labels?.[L.track] === 'canary');
  if (!existing.length) return { keepCanary: false };
  const canaryVersions = new Set(existing.map((d) => d.metadata.labels?.[L.version]));
  if (canaryVersions.size === 1 && canaryVersions.has(c.spec.version)) return planPromotion(c, deployments, routingTable);
  return {
    keepCanary: false,
    transition: {
      marker: 'RolledBack',
      reason: 'RolledBack',
      message: `gray release of ${[...canaryVersions].join(', ')} rolled back: its AppIds return to ${c.spec.version}, the canary is removed`,
    },
  };
}

/**
 * spec.version now names the canary's version and spec.gray is gone. The canary keeps its AppIds
 * (as the routing table has them) until every stable Deployment runs the new version; then it goes.
 */
function planPromotion(c: ImCluster, deployments: Workload[], routingTable: string | undefined): CanaryDecision {
  const version = c.spec.version;
  const stable = deployments.filter((d) => d.metadata.labels?.[L.track] === 'stable');
  if (stable.length > 0 && stable.every((d) => d.metadata.labels?.[L.version] === version && rolledOut(d))) {
    return {
      keepCanary: false,
      transition: {
        marker: 'Promoted',
        reason: 'Promoted',
        message: `canary ${version} promoted: the stable track runs it; the canary is removed`,
      },
    };
  }
  let appIds: string[] = [];
  let percentage = 0;
  try {
    const table = routingTable ? parseRoutingTable(routingTable) : undefined;
    appIds = table?.canary?.appIds ?? [];
    percentage = table?.canary?.percentage ?? 0;
  } catch {
    // keep empty: the canary then serves nobody new while the stable track rolls out
  }
  return {
    canary: { version, appIds, percentage, promoting: true },
    keepCanary: true,
    transition: {
      marker: `promoting:${version}`,
      reason: 'PromotionStarted',
      message: `promoting canary ${version}: rolling the stable track to it; canary AppIds stay on the canary until that is done`,
    },
  };
}

function activeMessage(canary: CanaryPlan): string {
  const { version, appIds, percentage } = canary;
  return `canary ${version} for ${appIds.length ? `AppIds ${appIds.join(', ')}` : ''}${appIds.length && percentage ? ' and ' : ''}${percentage ? `${percentage}% of AppIds` : ''}`;
}
