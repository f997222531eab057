// Links between the dashboards. They keep the time range and the variables (the AppId among
// them) in the URL, so that going from the overview to the tenant dashboard stays on the app.
import { DashboardLinkBuilder, DashboardLinkType } from '@grafana/grafana-foundation-sdk/dashboard';
import { CATALOGUE, type DashboardRef, TENANT } from './catalogue.js';
import { DATASOURCE_VARIABLE } from './datasource.js';
import { APP_ID_VARIABLE } from './variables.js';

/** A link to each of the other imcloud dashboards, at the top of `self`. */
export function dashboardLinks(self: DashboardRef): DashboardLinkBuilder[] {
  return CATALOGUE.filter((d) => d.uid !== self.uid).map((d) =>
    new DashboardLinkBuilder(d.title.replace(/^imcloud \/ /, ''))
      .type(DashboardLinkType.Link)
      .url(`/d/${d.uid}`)
      .tooltip(`Open ${d.title} (same time range and AppId)`)
      .icon('dashboard')
      .includeVars(true)
      .keepTime(true)
      .targetBlank(false)
      .asDropdown(false),
  );
}

/** A data link from a series that carries app_id to the tenant dashboard for that AppId. */
export function tenantLink(): DashboardLinkBuilder {
  return new DashboardLinkBuilder(`Open the tenant dashboard for \${__field.labels.app_id}`)
    .type(DashboardLinkType.Link)
    .url(`/d/${TENANT.uid}?var-${APP_ID_VARIABLE}=\${__field.labels.app_id}&\${${DATASOURCE_VARIABLE}:queryparam}&\${__url_time_range}`)
    .targetBlank(false);
}
