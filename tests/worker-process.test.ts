import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../client/dev-server';
import { spawnWorkerProcess } from './support/durability-worker';
import { ROOT, testClient } from './support/temporal';

/** `orders-etl worker` serves the SDK's and the pipeline's Prometheus metrics on METRICS_PORT, and runs pipelines. */
test('the worker process runs a pipeline and serves both metric families on METRICS_PORT', async () => {
  const port = await freePort();
  const taskQueue = `metrics-${randomUUID()}`;
  const worker = spawnWorkerProcess(taskQueue, { METRICS_PORT: String(port) });
  const { client, close } = await testClient();
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-metrics-'));
    const result = await client.workflow.execute('ordersEtl', {
      taskQueue,
      workflowId: `metrics-${path.basename(dir)}`,
      args: [{ pipelineId: `metrics-${path.basename(dir)}`, source: path.join(ROOT, 'tests/fixtures/juju-take-home-b/api_orders.json'), warehouse: `duckdb:${dir}/w.duckdb`, lake: `${dir}/lake` }],
    });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain(`orders_etl_records_extracted_total ${result.extracted}`);
    expect(text).toContain(`orders_etl_records_loaded_total ${result.linesLoaded}`);
    expect(text).toContain(`orders_etl_runs_total{status="loaded"} 1`);
    // The Temporal Runtime's own exporter, merged in: activity execution latency of this worker's task queue.
    expect(text).toMatch(new RegExp(`temporal_activity_execution_latency\\w*\\{[^}]*task_queue="${taskQueue}"`));
  } finally {
    await close();
    await worker.kill();
  }
});
