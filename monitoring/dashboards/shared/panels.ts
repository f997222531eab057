// Panel builders with the options every imcloud panel shares: the Prometheus data source, a unit
// and a description (required here, so that no panel lacks them), a legend that says what each
// series is, and a threshold where an SLO or an alert applies.
import {
  BigValueColorMode,
  BigValueGraphMode,
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  TooltipDisplayMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import { type DashboardLinkBuilder, RowBuilder, ThresholdsConfigBuilder, ThresholdsMode } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PROMETHEUS } from './datasource.js';

/** One query of a panel: its PromQL and the legend of its series. */
export interface Target {
  expr: string;
  legend: string;
}

export interface PanelOptions {
  title: string;
  /** What the panel shows, where the numbers come from and what to do about them (the panel's ⓘ). */
  description: string;
  /** A Grafana unit id (units of @grafana/grafana-foundation-sdk/units). */
  unit: string;
  targets: Target[];
  /** Grid columns out of 24 (default: 8 for a graph, 6 for a stat). */
  width?: number;
  /** Grid rows (default: 8 for a graph, 4 for a stat). */
  height?: number;
  /** The SLO or alert threshold: drawn as a dashed red line on a graph, turns a stat red. */
  threshold?: number;
  /** Links from a series (e.g. an AppId to the tenant dashboard). */
  links?: DashboardLinkBuilder[];
}

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function queries(targets: Target[]): DataqueryBuilder[] {
  if (targets.length === 0) throw new Error('a panel needs at least one query');
  return targets.map((t, i) =>
    new DataqueryBuilder().refId(REF_IDS[i]!).datasource(PROMETHEUS).expr(t.expr).legendFormat(t.legend).range(),
  );
}

function thresholds(value: number): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
    { value: null, color: 'green' },
    { value, color: 'red' },
  ]);
}

function required(o: PanelOptions): void {
  if (!o.description.trim()) throw new Error(`panel "${o.title}" has no description`);
  if (!o.unit.trim()) throw new Error(`panel "${o.title}" has no unit`);
}

/** A time series graph, legend as a table with the last and the highest value of each series. */
export function timeseries(o: PanelOptions): TimeseriesBuilder {
  required(o);
  const p = new TimeseriesBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(PROMETHEUS)
    .unit(o.unit)
    .min(0)
    .span(o.width ?? 8)
    .height(o.height ?? 8)
    .targets(queries(o.targets))
    .lineWidth(1)
    .fillOpacity(10)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.Table)
        .placement(LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    )
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending));
  if (o.threshold !== undefined) {
    p.thresholds(thresholds(o.threshold)).thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed));
  }
  if (o.links?.length) p.dataLinks(o.links);
  return p;
}

/** One big number (the last value), with a sparkline. */
export function stat(o: PanelOptions): StatBuilder {
  required(o);
  const p = new StatBuilder()
    .title(o.title)
    .description(o.description)
    .datasource(PROMETHEUS)
    .unit(o.unit)
    .span(o.width ?? 6)
    .height(o.height ?? 4)
    .targets(queries(o.targets))
    .graphMode(BigValueGraphMode.Area)
    .colorMode(o.threshold === undefined ? BigValueColorMode.None : BigValueColorMode.Value)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']));
  if (o.threshold !== undefined) p.thresholds(thresholds(o.threshold));
  if (o.links?.length) p.dataLinks(o.links);
  return p;
}

/** A row header (not collapsed: an SRE sees every panel without clicking). */
export function row(title: string): RowBuilder {
  return new RowBuilder(title).collapsed(false);
}
