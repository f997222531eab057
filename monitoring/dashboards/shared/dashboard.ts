// The frame every imcloud dashboard shares: uid and title from the catalogue, the imcloud tag,
// the data source variable, the AppId variable where it applies, links to the other dashboards.
import { DashboardBuilder, DashboardCursorSync } from '@grafana/grafana-foundation-sdk/dashboard';
import type { DashboardRef } from './catalogue.js';
import { datasourceVariable } from './datasource.js';
import { dashboardLinks } from './links.js';
import { appIdVariable } from './variables.js';

export interface DashboardOptions {
  description: string;
  /** The AppId variable: none, one AppId (tenant), or any number with All. */
  appId: 'none' | 'single' | 'multi';
  /** Default time range, e.g. now-3h. */
  from?: string;
}

export function imcloudDashboard(ref: DashboardRef, o: DashboardOptions): DashboardBuilder {
  const d = new DashboardBuilder(ref.title)
    .uid(ref.uid)
    .description(o.description)
    .tags(['imcloud'])
    .editable()
    .timezone('browser')
    .time({ from: o.from ?? 'now-3h', to: 'now' })
    .refresh('30s')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(datasourceVariable())
    .links(dashboardLinks(ref));
  if (o.appId !== 'none') d.withVariable(appIdVariable(o.appId));
  return d;
}
