import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { startOrdersApi } from '../dev/orders-api-server';
import { progressQuery } from '../workflows';
import { DuckDbWarehouse } from '../activities/warehouse';
import { parseIsoDateTime } from '../core/time';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { expectedRunCounts } from './support/expected';
import { ROOT, useTestWorker } from './support/temporal';

/**
 * The workflow on a real Temporal dev server, end to end on the reference data of juju-take-home-a. The
 * expected numbers come from tests/fixtures/independent-counts.py, an implementation of the rules in Python.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const expected = JSON.parse(readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8'));

const temporal = useTestWorker();

function input(dir: string, overrides: Partial<PipelineInput> = {}): PipelineInput {
  return {
    pipelineId: `test-${path.basename(dir)}`,
    source: path.join(FIXTURE, 'api_orders.json'),
    usersCsv: path.join(FIXTURE, 'users.csv'),
    productsCsv: path.join(FIXTURE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    pageSize: 100,
    ...overrides,
  };
}

async function run(args: PipelineInput, workflowId: string): Promise<PipelineResult> {
  return temporal.client.workflow.execute('ordersEtl', { taskQueue: temporal.worker.taskQueue, workflowId, args: [args] });
}

test('a run loads the reference data with the independently derived counts, through its activities', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-'));
  const result = await run(input(dir), `pipeline-test-${path.basename(dir)}`);
  expect(result).toMatchObject({
    ...expectedRunCounts(expected),
    ordersKept: 0,
    since: null,
    watermark: '2025-12-31T23:03:38Z',
  });

  const history = await temporal.client.workflow.getHandle(`pipeline-test-${path.basename(dir)}`).fetchHistory();
  const activityTypes = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
  // The reference files are staged beside the partition, the manifests once both are in.
  expect(activityTypes).toEqual(['pipelineState', 'planPartitions', 'stageReference', 'extract', 'transform', 'stage', 'load']);

  const warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
  const [totals] = await warehouse.query(
    `SELECT (SELECT COUNT(*) FROM fact_sales) AS lines, (SELECT SUM(line_amount)::VARCHAR FROM fact_sales) AS amount, (SELECT COUNT(*) FROM dim_order) AS orders`,
  );
  expect(totals).toEqual({ lines: expected.fact_lines, amount: (expected.line_amount_cents_sum / 100).toFixed(2), orders: expected.orders_loaded });
});

test('a second run continues from the watermark, re-reads only the tie at it, and changes nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-'));
  const first = await run(input(dir), `pipeline-first-${path.basename(dir)}`);
  const warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
  const dump = () => warehouse.query('SELECT * FROM fact_sales ORDER BY order_id, line_number');
  const before = await dump();

  const second = await run(input(dir), `pipeline-second-${path.basename(dir)}`);
  // `since` is inclusive: the records created exactly at the watermark are extracted again, and nothing else.
  const orders = JSON.parse(readFileSync(path.join(FIXTURE, 'api_orders.json'), 'utf8')) as { created_at?: string }[];
  const atOrAfter = orders.filter((o) => typeof o.created_at === 'string' && parseIsoDateTime(o.created_at)! >= parseIsoDateTime(first.watermark!)!).length;
  expect(second.since).toBe('2025-12-31T23:03:38.000Z');
  expect(second.extracted).toBe(atOrAfter);
  expect(second.watermark).toBe(first.watermark);
  expect(await dump()).toEqual(before);
  const loads = await warehouse.query('SELECT extracted FROM etl_loads ORDER BY started_at');
  expect(loads).toEqual([{ extracted: 1000 }, { extracted: atOrAfter }]);
});

test('a failed run leaves the watermark where it was; the lookback starts the next run earlier', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-'));
  const first = await run(input(dir), `pipeline-wm-first-${path.basename(dir)}`);

  // Same pipeline, but the API refuses the request: the run fails and records no watermark.
  const refusing = await startOrdersApi({ orders: [], failRate: 1, failStatus: 401 });
  try {
    await expect(run(input(dir, { source: refusing.url }), `pipeline-wm-failed-${path.basename(dir)}`)).rejects.toThrow(WorkflowFailedError);
  } finally {
    await refusing.close();
  }

  const next = await run(input(dir, { lookbackSeconds: 3600 }), `pipeline-wm-next-${path.basename(dir)}`);
  expect(first.watermark).toBe('2025-12-31T23:03:38Z');
  expect(next.since).toBe('2025-12-31T22:03:38.000Z');
  const orders = JSON.parse(readFileSync(path.join(FIXTURE, 'api_orders.json'), 'utf8')) as { created_at?: string }[];
  const inLastHour = orders.filter((o) => typeof o.created_at === 'string' && parseIsoDateTime(o.created_at)! >= parseIsoDateTime(next.since!)!).length;
  expect(next.extracted).toBe(inLastHour);
  expect(next.watermark).toBe(first.watermark);
});

test('the progress query gives the stage and counts (also after the run); search attributes and memo carry the summary', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-'));
  const handle = await temporal.client.workflow.start('ordersEtl', { taskQueue: temporal.worker.taskQueue, workflowId: `pipeline-progress-${path.basename(dir)}`, args: [input(dir)] });
  await handle.result();
  expect(await handle.query(progressQuery)).toEqual({
    stage: 'done',
    loadId: expect.stringMatching(/^\d{8}T\d{6}Z-[0-9a-f]{12}$/),
    since: null,
    pages: 10,
    extracted: 1000,
    orders: expected.orders_loaded,
    lines: expected.fact_lines,
    partitions: { chosen: '1 byte range of the JSON array file (by size: one per 32 MiB of 418096 bytes)', done: 1, parallelism: 4, running: 0, total: 1 },
  });
  const { memo, searchAttributes } = await handle.describe();
  expect(searchAttributes).toMatchObject({ PipelineStage: ['done'], RecordsExtracted: [1000], RecordsLoaded: [expected.orders_loaded] });
  expect((memo?.summary as PipelineResult).linesLoaded).toBe(expected.fact_lines);
});

test('cancelling a run stops its extract at the next heartbeat and sends no alert', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-'));
  const orders = JSON.parse(readFileSync(path.join(FIXTURE, 'api_orders.json'), 'utf8')) as unknown[];
  const api = await startOrdersApi({ orders, latencyMs: 200 });
  try {
    const handle = await temporal.client.workflow.start('ordersEtl', {
      taskQueue: temporal.worker.taskQueue,
      workflowId: `pipeline-cancel-${path.basename(dir)}`,
      args: [input(dir, { source: api.url, pageSize: 10 })],
    });
    while ((api.stats.get(200) ?? 0) < 3) await new Promise((r) => setTimeout(r, 100));
    const cancelledAt = Date.now();
    await handle.cancel();
    const error = await handle.result().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    // Heartbeats reach the server at most every 80% of the 20 s heartbeat timeout: cancellation arrives with one.
    expect(Date.now() - cancelledAt).toBeLessThan(25_000);
    const served = api.stats.get(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(api.stats.get(200)).toBe(served);
    expect(served).toBeLessThan(100); // 1,000 records in pages of 10: it stopped long before the end
    const history = await handle.fetchHistory();
    const scheduled = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
    expect(scheduled).toEqual(['pipelineState', 'planPartitions', 'stageReference', 'extract']);
  } finally {
    await api.close();
  }
});

test('runs started in the same second get distinct load ids, so their lake prefixes never mix', async () => {
  const dirs = [0, 1, 2].map(() => mkdtempSync(path.join(tmpdir(), 'orders-etl-pipeline-')));
  const sharedLake = path.join(dirs[0], 'shared-lake');
  const results = await Promise.all(dirs.map((dir) => run(input(dir, { lake: sharedLake }), `pipeline-same-second-${path.basename(dir)}`)));
  expect(new Set(results.map((r) => r.loadId)).size).toBe(3);
  for (const r of results) expect(r).toMatchObject({ extracted: 1000, ordersLoaded: expected.orders_loaded, linesLoaded: expected.fact_lines });
});
