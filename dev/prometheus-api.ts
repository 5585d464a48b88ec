/**
 * The few calls of Prometheus's HTTP API (/api/v1) that the dashboard's test and its renderer make: evaluate a
 * query at an instant or over a range, parse one, and list series.
 */

/** Prometheus refused a request (a query that does not parse, an unknown function…); the message is its own. */
export class PrometheusQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export type Labels = Record<string, string>;

export interface InstantSample {
  metric: Labels;
  /** [unix seconds, value as Prometheus prints it] */
  value: [number, string];
}

export interface RangeSeries {
  metric: Labels;
  values: Array<[number, string]>;
}

async function call<T>(baseUrl: string, endpoint: string, params: Record<string, string | string[]>): Promise<T> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) for (const v of [value].flat()) body.append(name, v);
  const res = await fetch(`${baseUrl}/api/v1/${endpoint}`, { method: 'POST', body, signal: AbortSignal.timeout(30_000) });
  const answer = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (answer.status !== 'success') throw new PrometheusQueryError(`${endpoint} ${JSON.stringify(params)}: ${answer.errorType}: ${answer.error}`);
  return answer.data;
}

/** `expr` evaluated at `time` (unix seconds): a vector, or a scalar as one sample without labels. */
export async function instantQuery(baseUrl: string, expr: string, time: number): Promise<InstantSample[]> {
  const data = await call<{ resultType: string; result: unknown }>(baseUrl, 'query', { query: expr, time: time.toFixed(3) });
  if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
  if (data.resultType !== 'vector') throw new PrometheusQueryError(`query ${expr}: a ${data.resultType}, not an instant vector`);
  return data.result as InstantSample[];
}

/** `expr` evaluated every `stepSeconds` from `start` to `end` (unix seconds), as Grafana's graphs ask for it. */
export async function rangeQuery(baseUrl: string, expr: string, start: number, end: number, stepSeconds: number): Promise<RangeSeries[]> {
  const data = await call<{ result: RangeSeries[] }>(baseUrl, 'query_range', { query: expr, start: start.toFixed(3), end: end.toFixed(3), step: String(stepSeconds) });
  return data.result;
}

/** The metric names an expression selects, from Prometheus's own parse of it (so a query that does not parse throws). */
export async function selectedMetrics(baseUrl: string, expr: string): Promise<string[]> {
  const ast = await call<unknown>(baseUrl, 'parse_query', { query: expr });
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const { type, name } = node as { type?: unknown; name?: unknown };
    if ((type === 'vectorSelector' || type === 'matrixSelector') && typeof name === 'string' && name) names.add(name);
    Object.values(node).forEach(walk);
  };
  walk(ast);
  return [...names].sort();
}

/** The label sets of the series of `metric` stored between `start` and `end` (unix seconds). */
export async function seriesOf(baseUrl: string, metric: string, start: number, end: number): Promise<Labels[]> {
  return call<Labels[]>(baseUrl, 'series', { 'match[]': metric, start: start.toFixed(3), end: end.toFixed(3) });
}

/** The values of a label on the series matching `match` (what Grafana's `label_values(match, label)` lists). */
export async function labelValues(baseUrl: string, label: string, match: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match })}`, { signal: AbortSignal.timeout(30_000) });
  const answer = (await res.json()) as { status: string; data: string[]; error?: string };
  if (answer.status !== 'success') throw new PrometheusQueryError(`label values of ${label} for ${match}: ${answer.error}`);
  return answer.data;
}
