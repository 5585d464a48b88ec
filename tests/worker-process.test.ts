import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { freePort } from '../dev/dev-server';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { spawnWorkerProcess, type WorkerProcess } from './support/durability-worker';
import { ROOT, testClient } from './support/temporal';

const SOURCE = path.join(ROOT, 'tests/fixtures/juju-take-home-a/api_orders.json');

function pipeline(overrides: Partial<PipelineInput> = {}): PipelineInput {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-metrics-'));
  return { pipelineId: `metrics-${path.basename(dir)}`, source: SOURCE, warehouse: `duckdb:${dir}/w.duckdb`, lake: `${dir}/lake`, ...overrides };
}

async function metricsAnswer(url: string): Promise<string | Error> {
  return fetch(url).then((res) => res.text(), (err: Error) => err);
}

/** Polls until the worker process serves /metrics on 127.0.0.1. */
async function served(port: number, worker: WorkerProcess): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if (typeof (await metricsAnswer(`http://127.0.0.1:${port}/metrics`)) === 'string') return;
  }
  throw new Error(`no /metrics on port ${port}:\n${worker.output()}`);
}

/**
 * `orders-etl worker` serves the SDK's and the pipeline's Prometheus metrics on METRICS_PORT, and runs pipelines.
 * One failed run counts once however often its alert is retried; orders and lines are counted apart.
 */
test('the worker process counts a failed run once and a successful one in orders and in lines, next to the SDK metrics', async () => {
  let alertAttempts = 0;
  const hook = createServer((_req, res) => {
    alertAttempts++;
    res.writeHead(500).end('down');
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const taskQueue = `metrics-${randomUUID()}`;
  const worker = spawnWorkerProcess(taskQueue, { METRICS_PORT: String(port), ALERT_WEBHOOK_URL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook` });
  const { client, close } = await testClient();
  try {
    // A lake under /proc fails the extract at once (LakeAccessError); the alert webhook answers 500 to every try.
    const failing = pipeline({ lake: '/proc/orders-lake' });
    const failed = await client.workflow
      .execute('ordersEtl', { taskQueue, workflowId: failing.pipelineId, args: [failing] })
      .catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(alertAttempts).toBe(5);

    const input = pipeline();
    const result: PipelineResult = await client.workflow.execute('ordersEtl', { taskQueue, workflowId: input.pipelineId, args: [input] });
    expect(result.ordersLoaded).not.toBe(result.linesLoaded); // so the two series below cannot be confused
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const ok = `pipeline="${input.pipelineId}"`;
    expect(text).toContain(`orders_etl_records_extracted_total{${ok}} ${result.extracted}\n`);
    expect(text).toContain(`orders_etl_orders_loaded_total{${ok}} ${result.ordersLoaded}\n`);
    expect(text).toContain(`orders_etl_lines_loaded_total{${ok}} ${result.linesLoaded}\n`);
    expect(text).toContain(`orders_etl_records_rejected_total{${ok}} ${result.rejected}\n`);
    expect(text).not.toContain('orders_etl_records_loaded_total');
    expect(text).toContain(`orders_etl_runs_total{${ok},status="loaded"} 1\n`);
    expect(text).toContain(`orders_etl_runs_total{${ok},status="failed"} 0\n`);
    expect(text).toContain(`orders_etl_runs_total{pipeline="${failing.pipelineId}",status="failed"} 1\n`);
    expect(text).toContain(`orders_etl_runs_total{pipeline="${failing.pipelineId}",status="loaded"} 0\n`);
    // The failed run's plan completed (its extract failed); the good run went through every stage once.
    expect(text).toContain(`orders_etl_stage_duration_seconds_count{pipeline="${failing.pipelineId}",stage="plan"} 1\n`);
    expect(text).toContain(`orders_etl_stage_duration_seconds_count{pipeline="${failing.pipelineId}",stage="extract"} 0\n`);
    for (const stage of ['plan', 'extract', 'transform', 'stage', 'load']) expect(text).toContain(`orders_etl_stage_duration_seconds_count{${ok},stage="${stage}"} 1\n`);
    // The Temporal Runtime's own exporter, merged in: activity execution latency of this worker's task queue.
    expect(text).toMatch(new RegExp(`temporal_activity_execution_latency\\w*\\{[^}]*task_queue="${taskQueue}"`));
  } finally {
    await close();
    await worker.kill();
    hook.close();
  }
});

test('METRICS_PORT listens on 127.0.0.1 only, unless METRICS_HOST opens it', async () => {
  // 127.0.0.2 is another address of this machine: a socket bound to 127.0.0.1 does not answer it, one on 0.0.0.0 does.
  for (const [host, otherAddressAnswers] of [[undefined, false], ['0.0.0.0', true]] as const) {
    const port = await freePort();
    const worker = spawnWorkerProcess(`metrics-${randomUUID()}`, { METRICS_PORT: String(port), ...(host ? { METRICS_HOST: host } : {}) });
    try {
      await served(port, worker);
      const other = await metricsAnswer(`http://127.0.0.2:${port}/metrics`);
      expect(typeof other === 'string' && other.includes('orders_etl_runs_total')).toBe(otherAddressAnswers);
    } finally {
      await worker.kill();
    }
  }
});
