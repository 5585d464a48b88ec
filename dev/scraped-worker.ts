/**
 * A pipeline worker in this process serving /metrics, and a real Prometheus scraping it: what the dashboard's
 * test and its renderer evaluate the dashboard's queries on.
 */
import { startMetricsServer, type MetricsServer } from '../activities/metrics';
import { createWorker, type PipelineWorker } from '../worker';
import { prometheusConfig, startPrometheus, type PrometheusServer } from './dev-server';
import { instantQuery } from './prometheus-api';

export const SCRAPE_JOB = 'orders-etl';

export interface ScrapedWorkerOptions {
  /** Temporal frontend, host:port. */
  address: string;
  taskQueue: string;
  /** Prometheus keeps its TSDB here. */
  dataDir: string;
  /** Prometheus scrapes /metrics this often (a Prometheus duration). */
  scrapeInterval: string;
  workflowBundlePath?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ScrapedWorker {
  prometheus: PrometheusServer;
  metrics: MetricsServer;
  /**
   * Waits for a scrape that starts after this call and resolves with its timestamp (unix seconds, as Prometheus
   * stores it): every count made before the call is in the samples at that instant.
   */
  nextScrape(): Promise<number>;
  stop(): Promise<void>;
}

const SCRAPE_WAIT_MS = 30_000;

export async function startScrapedWorker(opts: ScrapedWorkerOptions): Promise<ScrapedWorker> {
  const metrics = await startMetricsServer({ port: 0 });
  let pipelineWorker: PipelineWorker | undefined;
  let prometheus: PrometheusServer | undefined;
  let running: Promise<void> | undefined;
  const stop = async () => {
    if (pipelineWorker) {
      pipelineWorker.worker.shutdown();
      await running;
      await pipelineWorker.close();
    }
    await prometheus?.stop();
    await metrics.close();
  };
  try {
    const target = new URL(metrics.url).host;
    prometheus = await startPrometheus({ dataDir: opts.dataDir, config: prometheusConfig(SCRAPE_JOB, [target], opts.scrapeInterval) });
    pipelineWorker = await createWorker({ address: opts.address, taskQueue: opts.taskQueue, workflowBundlePath: opts.workflowBundlePath, env: opts.env });
    running = pipelineWorker.worker.run();
  } catch (err) {
    await stop();
    throw err;
  }
  const url = prometheus.url;
  const nextScrape = async (): Promise<number> => {
    const after = Date.now() / 1000;
    for (const deadline = Date.now() + SCRAPE_WAIT_MS; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      // timestamp() keeps the samples' own timestamps only when given a selector: the scrape's success is a filter.
      const up = `up{job="${SCRAPE_JOB}"}`;
      const [sample] = await instantQuery(url, `timestamp(${up}) and ${up} == 1`, Date.now() / 1000);
      if (sample && Number(sample.value[1]) > after) return Number(sample.value[1]);
    }
    throw new Error(`Prometheus at ${url} did not scrape ${metrics.url} within ${SCRAPE_WAIT_MS / 1000}s`);
  };
  return { prometheus, metrics, nextScrape, stop };
}
