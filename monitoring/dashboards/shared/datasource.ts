// The Prometheus data source every panel and query uses: the dashboard's `datasource` variable,
// so that one import works whatever the data source is called in the Grafana it lands in.
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { DatasourceVariableBuilder } from '@grafana/grafana-foundation-sdk/dashboard';

export const DATASOURCE_VARIABLE = 'datasource';

export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };

export function datasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder(DATASOURCE_VARIABLE)
    .label('Data source')
    .description('The Prometheus that scrapes imcloud (and, for the bus and storage dashboard, the exporters).')
    .type('prometheus');
}
