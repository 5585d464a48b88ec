import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { logger } from '../core/logger';
import { QUALITY_CHECK_NAMES, QUALITY_OUTCOMES } from '../core/quality';

/** A registry of our own (not prom-client's global one), so embedding code or tests cannot collide with it. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'orders_etl_' });

const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
  new Counter<L>({ name, help, labelNames, registers: [metricsRegistry] });

/** The stages of a run whose activities are timed, by the names the dashboard shows. */
export const STAGES = ['plan', 'reference', 'extract', 'transform', 'stage', 'load'] as const;
export type Stage = (typeof STAGES)[number];

/** From a file plan's milliseconds to a two-hour load (the activities' start-to-close timeout). */
const STAGE_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

export const metrics = {
  recordsExtracted: counter('orders_etl_records_extracted_total', 'Order records read from the source', ['pipeline'] as const),
  ordersLoaded: counter('orders_etl_orders_loaded_total', 'Orders whose version of a load became the stored one (dim_order rows)', ['pipeline'] as const),
  linesLoaded: counter('orders_etl_lines_loaded_total', 'Order lines loaded into fact_sales', ['pipeline'] as const),
  recordsRejected: counter('orders_etl_records_rejected_total', 'Order records quarantined in rejected_records (not the items rejected from kept orders)', ['pipeline'] as const),
  bytesStaged: counter('orders_etl_bytes_staged_total', 'Bytes of Parquet written to the lake staging area', ['pipeline'] as const),
  runs: counter('orders_etl_runs_total', 'Pipeline runs by outcome: loaded, or failed (counted once per run)', ['pipeline', 'status'] as const),
  stageDuration: new Histogram<'pipeline' | 'stage'>({
    name: 'orders_etl_stage_duration_seconds',
    help: 'Seconds a stage activity of a run took (plan, reference, extract, transform, stage, load), per completed call',
    labelNames: ['pipeline', 'stage'],
    buckets: STAGE_SECONDS_BUCKETS,
    registers: [metricsRegistry],
  }),
  qualityChecks: counter('orders_etl_quality_checks_total', 'Quality checks of loads, by outcome', ['pipeline', 'check', 'outcome'] as const),
};

const RUN_STATUSES = ['loaded', 'failed'] as const;
const seriesStarted = new Set<string>();

/**
 * Creates a pipeline's series at 0 the first time this process works for it. A series that appears with its
 * first count already in it is invisible to rate() and increase() (they need a sample before the count), and a
 * run that never failed should show 0 failed runs, not "no data".
 */
export function startPipelineSeries(pipeline: string): void {
  if (seriesStarted.has(pipeline)) return;
  seriesStarted.add(pipeline);
  for (const c of [metrics.recordsExtracted, metrics.ordersLoaded, metrics.linesLoaded, metrics.recordsRejected, metrics.bytesStaged]) c.inc({ pipeline }, 0);
  for (const status of RUN_STATUSES) metrics.runs.inc({ pipeline, status }, 0);
  for (const check of QUALITY_CHECK_NAMES) for (const outcome of QUALITY_OUTCOMES) metrics.qualityChecks.inc({ pipeline, check, outcome }, 0);
  for (const stage of STAGES) metrics.stageDuration.zero({ pipeline, stage }); // zero() resets: hence once per pipeline
}

/**
 * A stage activity, timed into orders_etl_stage_duration_seconds{pipeline, stage}. Only completed calls are
 * observed: a failed attempt's time is in the Temporal SDK's activity metrics, and would blur the stage's own.
 */
export function timedStage<I extends { pipelineId: string }, R>(stage: Stage, activity: (input: I) => Promise<R>): (input: I) => Promise<R> {
  return async (input) => {
    startPipelineSeries(input.pipelineId);
    const observe = metrics.stageDuration.startTimer({ pipeline: input.pipelineId, stage });
    const result = await activity(input);
    observe();
    return result;
  };
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics for Prometheus. The Temporal Runtime exports its own metrics on a separate port;
 * appending them here gives Prometheus one scrape target per worker. Their names start with `temporal_`,
 * ours with `orders_etl_`, so the concatenation stays a valid exposition.
 */
export async function startMetricsServer(options: { port: number; host?: string; sdkMetricsUrl?: string }): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404).end('not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    scrape(options.sdkMetricsUrl).then(
      (body) => res.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        logger.error({ err }, 'metrics scrape failed');
        res.writeHead(500).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections(); // Prometheus keeps connections alive; without this close() waits for them
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function scrape(sdkMetricsUrl: string | undefined): Promise<string> {
  const own = await metricsRegistry.metrics();
  if (!sdkMetricsUrl) return own;
  try {
    const res = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const sdk = await res.text();
    return `${own.endsWith('\n') ? own : `${own}\n`}${sdk}`;
  } catch (err) {
    // The SDK exporter being down must not hide the pipeline's own metrics.
    logger.warn({ err, sdkMetricsUrl }, 'Temporal SDK metrics unavailable; serving orders-etl metrics only');
    return own;
  }
}
