import { logger } from '../core/logger';
import { startMetricsServer } from '../activities/metrics';
import { createWorker } from '../worker';
import type { WorkerConfig } from './config';
import { freePort } from '../dev/dev-server';

/** `orders-etl worker`: polls the task queue until SIGINT/SIGTERM, then drains and exits. */
export async function runWorkerProcess(config: WorkerConfig, concurrency?: number): Promise<void> {
  const address = config.TEMPORAL_ADDRESS ?? 'localhost:7233';
  let metrics: { url: string; close(): Promise<void> } | undefined;
  let sdkMetricsAddress: string | undefined;
  if (config.METRICS_PORT !== undefined) {
    // The SDK's own exporter listens on a private port; /metrics on METRICS_PORT serves both.
    sdkMetricsAddress = `127.0.0.1:${await freePort()}`;
    metrics = await startMetricsServer({ port: config.METRICS_PORT, host: config.METRICS_HOST, sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics` });
    logger.info({ url: metrics.url }, 'metrics served');
  }
  const { worker, close } = await createWorker({
    address,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sdkMetricsAddress,
    config: config.activities,
    concurrency,
  });
  logger.info({ address, taskQueue: config.TEMPORAL_TASK_QUEUE, namespace: config.TEMPORAL_NAMESPACE, concurrency }, 'worker polling');
  await worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
  await close();
  await metrics?.close();
}
