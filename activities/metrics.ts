import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { logger } from '../core/logger';

/** A registry of our own (not prom-client's global one), so embedding code or tests cannot collide with it. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'orders_etl_' });

const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
  new Counter<L>({ name, help, labelNames, registers: [metricsRegistry] });

export const metrics = {
  recordsExtracted: counter('orders_etl_records_extracted_total', 'Order records read from the source'),
  ordersLoaded: counter('orders_etl_orders_loaded_total', 'Orders whose version of a load became the stored one (dim_order rows)'),
  linesLoaded: counter('orders_etl_lines_loaded_total', 'Order lines loaded into fact_sales'),
  recordsRejected: counter('orders_etl_records_rejected_total', 'Records and items quarantined in rejected_records'),
  bytesStaged: counter('orders_etl_bytes_staged_total', 'Bytes of Parquet written to the lake staging area'),
  runs: counter('orders_etl_runs_total', 'Pipeline runs by outcome: loaded, or failed (counted once per run)', ['status'] as const),
  qualityChecks: counter('orders_etl_quality_checks_total', 'Quality checks of loads, by outcome', ['pipeline', 'check', 'outcome'] as const),
};

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
