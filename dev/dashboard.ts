/**
 * The Grafana dashboard of the repository (monitoring/grafana/dashboards/orders-etl.json) as its test and its
 * renderer read it: the panels, their queries, and the variables Grafana fills in before sending a query.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../client/config';

export const DASHBOARD_FILE = path.join('monitoring', 'grafana', 'dashboards', 'orders-etl.json');

export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  /** A stat's or bar gauge's query: one value at the end of the time range. */
  instant?: boolean;
  datasource?: { type: string; uid: string };
}

export interface DashboardPanel {
  id: number;
  type: 'timeseries' | 'stat' | 'bargauge';
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: {
    defaults: { unit?: string; decimals?: number; custom?: { drawStyle?: 'bars' | 'line'; stacking?: { mode: string } } };
    /** Colours by series name (`byName` matchers with a fixed colour). */
    overrides: Array<{ matcher: { id: string; options: string }; properties: Array<{ id: string; value: { mode?: string; fixedColor?: string } }> }>;
  };
  datasource?: { type: string; uid: string };
  targets: DashboardTarget[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; query: { query: string }; datasource?: { uid: string }; allValue?: string }> };
}

export function readDashboard(file = path.join(packageRoot(), DASHBOARD_FILE)): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

export interface QueryVariables {
  /** The pipelines selected in the `pipeline` variable. */
  pipelines: string[];
  /** What Grafana puts for `$__rate_interval` and `$__range`: Prometheus durations such as `1m` or `90500ms`. */
  rateInterval: string;
  range: string;
}

/** What Grafana's Prometheus data source makes of a multi-value variable in a regex matcher: `(a|b)`, each escaped. */
function regexOfValues(values: string[]): string {
  const escaped = values.map((v) => v.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'));
  return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
}

/** A panel's expression as Grafana sends it to Prometheus. */
export function expandExpr(expr: string, vars: QueryVariables): string {
  const regex = regexOfValues(vars.pipelines);
  // In a PromQL string literal a backslash is itself escaped: `\.` is written `\\.`.
  const literal = regex.replace(/\\/g, '\\\\');
  return expr.replace(/\$__rate_interval\b/g, vars.rateInterval).replace(/\$__range\b/g, vars.range).replace(/\$pipeline\b/g, literal);
}

/** A series' legend from the target's legendFormat (`{{pipeline}} orders`), as Grafana writes it. */
export function legendOf(format: string | undefined, labels: Record<string, string>): string {
  if (!format) return `{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, name: string) => labels[name] ?? '');
}
