// Label names and matchers the queries share.

/**
 * The role of a scraped process (gate, logic, consumer, dispatch, admin, file; operator for the
 * operator): the pod label app.kubernetes.io/component, which the operator's ServiceMonitor
 * copies onto every target (podTargetLabels; Prometheus spells it app_kubernetes_io_component).
 * A Prometheus outside Kubernetes sets it as a target label.
 */
export const ROLE = 'app_kubernetes_io_component';

/** The AppId variable, as a matcher: a regex, so that one AppId, several, and All (.*) all work. */
export const APP = 'app_id=~"$app_id"';

/** The rate window of every rate() and increase() over a counter (what the alerts use too). */
export const RATE = '5m';

/** rate(<metric>{<matchers>}[RATE]). */
export function rate(metric: string, matchers = ''): string {
  return `rate(${metric}${matchers ? `{${matchers}}` : ''}[${RATE}])`;
}

/** histogram_quantile(q, sum by (le, ...by) (rate(<histogram>_bucket{...}[RATE]))). */
export function quantile(q: number, histogram: string, opts: { matchers?: string; by?: string[] } = {}): string {
  const by = ['le', ...(opts.by ?? [])].join(', ');
  return `histogram_quantile(${q}, sum by (${by}) (${rate(`${histogram}_bucket`, opts.matchers)}))`;
}
