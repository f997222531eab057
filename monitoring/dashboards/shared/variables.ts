// The AppId variable. Every per-AppId query matches it as a regex (labels.ts APP), so that the
// same query serves one AppId, several, and All; the links between the dashboards carry it in
// the URL (var-app_id).
import { QueryVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { PROMETHEUS } from './datasource.js';

export const APP_ID_VARIABLE = 'app_id';
/** Every AppId that has sent a message in the dashboard's time range. */
const APP_IDS = 'label_values(imcloud_logic_sends_total, app_id)';

/**
 * `single`: pick one AppId (the tenant dashboard; no All). `multi`: any number, All by default
 * (the dashboards where AppId narrows some panels).
 */
export function appIdVariable(mode: 'single' | 'multi'): QueryVariableBuilder {
  const v = new QueryVariableBuilder(APP_ID_VARIABLE)
    .label('AppId')
    .description('The tenant (AppId) the per-AppId panels show. AppIds are listed once they have sent a message.')
    .datasource(PROMETHEUS)
    .query(APP_IDS)
    .definition(APP_IDS)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc);
  if (mode === 'single') return v.multi(false).includeAll(false);
  return v.multi(true).includeAll(true).allValue('.*').current({ text: 'All', value: '$__all', selected: true });
}
