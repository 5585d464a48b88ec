import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ScheduleNotFoundError, type Client, type ScheduleHandle } from '@temporalio/client';
import { DuckDbWarehouse } from '../activities/warehouse';
import { pipelineIdOf } from '../client/pipeline-options';
import type { PipelineResult } from '../workflows/types';
import { startObservedOrdersApi, type ObservedOrdersApi } from './support/ops-api';
import { eventually, runCliInProcess } from './support/ops-cli';
import { startTestWorker, temporalAddress, testClient, type RunningWorker } from './support/temporal';

/**
 * The Temporal Schedule of a pipeline, managed through the CLI's own commands (client.ts `main`) against the
 * suite's dev server: scheduled runs hand each other the watermark, `trigger` keeps it (it obeys the schedule's
 * overlap policy, so the server passes the last completion result), pause/unpause/describe, backfill, delete.
 */

interface Order {
  order_id: string;
  user_id: string;
  created_at: string;
  amount: number;
  items: { sku: string; qty: number; price: string | number }[];
  metadata: { source: string };
}

const order = (i: number, createdAt: string): Order => ({
  order_id: `o-${String(i).padStart(3, '0')}`,
  user_id: `u-${i % 5}`,
  created_at: createdAt,
  amount: 20,
  items: [
    { sku: `sku-${i % 3}`, qty: 1, price: '10.00' },
    { sku: `sku-${(i + 1) % 3}`, qty: 2, price: 5 },
  ],
  metadata: { source: 'web' },
});
const minute = (day: number, m: number) => `2025-01-0${day}T00:${String(m).padStart(2, '0')}:00Z`;

// N = 20 orders before the first run; the last two share the latest created_at (the first watermark).
const N = 20;
const initial = Array.from({ length: N }, (_, i) => order(i, minute(1, Math.min(i, N - 2))));
const W1 = minute(1, N - 2);
const TIES_AT_W1 = 2;
// M = 5 orders added once the first run has read its last page; two share the second watermark.
const M = 5;
const added = [0, 1, 2, 3, 3].map((m, k) => order(N + k, minute(2, m)));
const W2 = minute(2, 3);
const TIES_AT_W2 = 2;

let client: Client;
let closeClient: () => Promise<void>;
let worker: RunningWorker;
let server: ObservedOrdersApi;
const orders: Order[] = [...initial];
let pushedAt: number | undefined;
let scheduleHandle: ScheduleHandle | undefined;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  worker = await startTestWorker();
  // The orders array is served live: the new orders go in right after the first run's full extract read its
  // last page, before that answer reaches it. So the first run sees exactly N, every later run N + M.
  server = await startObservedOrdersApi({ orders }, ({ url, body }) => {
    if (pushedAt === undefined && !url.searchParams.has('since') && body.next_cursor === null) {
      orders.push(...added);
      pushedAt = Date.now();
    }
  });
  process.env.TEMPORAL_ADDRESS = temporalAddress();
  process.env.TEMPORAL_TASK_QUEUE = worker.taskQueue;
});

afterAll(async () => {
  // A test that failed half-way must not leave its schedule firing on the suite's server.
  await scheduleHandle?.delete().catch(() => undefined);
  delete process.env.TEMPORAL_ADDRESS;
  delete process.env.TEMPORAL_TASK_QUEUE;
  await worker?.stop();
  await server?.close();
  await closeClient?.();
});

interface Run {
  workflowId: string;
  runId: string;
}

/**
 * The runs the schedule started, oldest first. Runs are told apart by run id: the server names a scheduled
 * workflow `<id>-<time to the second>`, so a trigger in the same second as a scheduled fire reuses its id.
 */
async function scheduledRuns(handle: ScheduleHandle): Promise<Run[]> {
  const d = await handle.describe();
  return d.info.recentActions.map((a) => ({ workflowId: a.action.workflow.workflowId, runId: a.action.workflow.firstExecutionRunId }));
}

async function resultOf(run: Run): Promise<PipelineResult> {
  return client.workflow.getHandle(run.workflowId, run.runId).result();
}

async function activitiesOf(run: Run): Promise<string[]> {
  const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? ''] : []));
}

async function startedWithLastResult(run: Run): Promise<boolean> {
  const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  return (started?.lastCompletionResult?.payloads?.length ?? 0) > 0;
}

/** Waits until the schedule has no run going (a paused schedule can still have one in flight). */
async function idle(handle: ScheduleHandle): Promise<void> {
  await eventually('the schedule to have no running action', 60_000, async () => ((await handle.describe()).info.runningActions.length === 0 ? true : undefined));
}

test('a schedule created by the CLI runs incrementally, and trigger/pause/unpause/describe/backfill/delete work', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-schedule-'));
  const warehouseFile = path.join(dir, 'warehouse.duckdb');
  const pipelineFlags = ['--source', server.url, '--warehouse', `duckdb:${warehouseFile}`, '--lake', path.join(dir, 'lake'), '--page-size', '10'];
  const pipelineId = pipelineIdOf(server.url, `duckdb:${warehouseFile}`);
  const scheduleId = `orders-etl-${pipelineId}`;

  const created = await runCliInProcess(['schedule', 'create', ...pipelineFlags, '--every', '3s']);
  expect(created.stderr).toContain(`created schedule ${scheduleId}`);
  const handle = (scheduleHandle = client.schedule.getHandle(scheduleId));

  // First fire: a full extract of the N orders.
  const [firstRun] = await eventually('the first scheduled run', 30_000, async () => {
    const ids = await scheduledRuns(handle);
    return ids.length >= 1 ? ids : undefined;
  });
  expect(firstRun.workflowId.startsWith(`orders-etl-${pipelineId}-`)).toBe(true);
  const first = await resultOf(firstRun);
  expect(first).toMatchObject({ pipelineId, since: null, until: null, extracted: N, duplicates: 0, rejected: 0, rejectedItems: 0, ordersLoaded: N, linesLoaded: 2 * N, watermark: W1 });
  expect(pushedAt).toBeDefined();

  // Second fire: continues from the first run's watermark, handed over by the schedule (no visibility lookup).
  const secondRun = await eventually('the second scheduled run', 30_000, async () => (await scheduledRuns(handle))[1]);
  const second = await resultOf(secondRun);
  expect(second.since).toBe(new Date(W1).toISOString());
  // `since` is inclusive: the M new orders plus the ones created exactly at the watermark.
  expect(second).toMatchObject({ pipelineId, until: null, extracted: M + TIES_AT_W1, duplicates: 0, rejected: 0, linesLoaded: 2 * (M + TIES_AT_W1), watermark: W2 });
  expect(await activitiesOf(secondRun)).toEqual(['planPartitions', 'extract', 'transform', 'stage', 'load']);
  expect(await startedWithLastResult(secondRun)).toBe(true);

  // pause, and describe --json on stdout.
  const paused = await runCliInProcess(['schedule', 'pause', ...pipelineFlags, '--note', 'maintenance']);
  expect(paused.stderr).toContain(`paused ${scheduleId}`);
  const described = await runCliInProcess(['schedule', 'describe', ...pipelineFlags, '--json']);
  expect(described.stdout.trim().split('\n')).toHaveLength(1);
  const summary = JSON.parse(described.stdout);
  expect(summary).toMatchObject({ scheduleId, paused: true, note: 'maintenance', overlap: 'SKIP' });
  expect(summary.actions).toBeGreaterThanOrEqual(2);
  await idle(handle);

  // The warehouse holds the N + M orders once (the runs after the second found nothing new).
  const warehouse = new DuckDbWarehouse(warehouseFile);
  const [totals] = await warehouse.query(
    `SELECT (SELECT COUNT(*) FROM dim_order) AS orders, (SELECT COUNT(DISTINCT order_id) FROM dim_order) AS distinct_orders,
            (SELECT COUNT(*) FROM fact_sales) AS lines, (SELECT SUM(line_amount)::VARCHAR FROM fact_sales) AS amount,
            (SELECT COUNT(*) FROM dim_user WHERE is_inferred) AS users, (SELECT COUNT(*) FROM dim_product WHERE is_inferred) AS products,
            (SELECT COUNT(*) FROM rejected_records) AS rejected, (SELECT MAX(order_date)::VARCHAR FROM dim_order) AS last_day`,
  );
  expect(totals).toEqual({ orders: N + M, distinct_orders: N + M, lines: 2 * (N + M), amount: (20 * (N + M)).toFixed(2), users: 5, products: 3, rejected: 0, last_day: '2025-01-02' });

  // trigger (CLI): obeys the SKIP policy, so the server passes the last completion result: the run continues
  // from the watermark without reading it from visibility.
  const before = new Set((await scheduledRuns(handle)).map((r) => r.runId));
  const triggered = await runCliInProcess(['schedule', 'trigger', ...pipelineFlags]);
  expect(triggered.stderr).toContain(`triggered ${scheduleId}`);
  const triggeredRun = await eventually('the triggered run', 30_000, async () => (await scheduledRuns(handle)).find((r) => !before.has(r.runId)));
  const fromTrigger = await resultOf(triggeredRun);
  expect(fromTrigger).toMatchObject({ since: new Date(W2).toISOString(), extracted: TIES_AT_W2, duplicates: 0, rejected: 0, watermark: W2 });
  expect(await activitiesOf(triggeredRun)).toEqual(['planPartitions', 'extract', 'transform', 'stage', 'load']);
  expect(await startedWithLastResult(triggeredRun)).toBe(true);

  // unpause, and describe --json shows it.
  const unpaused = await runCliInProcess(['schedule', 'unpause', ...pipelineFlags]);
  expect(unpaused.stderr).toContain(`unpaused ${scheduleId}`);
  expect(JSON.parse((await runCliInProcess(['schedule', 'describe', ...pipelineFlags, '--json'])).stdout)).toMatchObject({ scheduleId, paused: false });
  await runCliInProcess(['schedule', 'pause', ...pipelineFlags]);
  expect(JSON.parse((await runCliInProcess(['schedule', 'describe', ...pipelineFlags, '--json'])).stdout)).toMatchObject({ scheduleId, paused: true });
  await idle(handle);

  // backfill: a run of the schedule's pipeline with an explicit window [start, end), whatever the watermark.
  const backfill = await runCliInProcess(['schedule', 'backfill', ...pipelineFlags, '--start', '2025-01-01T00:05:00Z', '--end', '2025-01-01T00:10:00Z']);
  const backfillId = /started backfill (\S+) for/.exec(backfill.stderr)?.[1];
  expect(backfillId).toBeDefined();
  const window = await client.workflow.getHandle(backfillId!).result() as PipelineResult;
  expect(window).toMatchObject({
    pipelineId,
    since: '2025-01-01T00:05:00.000Z',
    until: '2025-01-01T00:10:00.000Z',
    extracted: 5,
    duplicates: 0,
    rejected: 0,
    linesLoaded: 10,
    watermark: W2, // an explicit window never moves the watermark backwards
  });
  expect((await warehouse.query('SELECT COUNT(*) AS orders FROM dim_order'))[0]).toEqual({ orders: N + M });

  // delete: the schedule is gone; its runs stay.
  const deleted = await runCliInProcess(['schedule', 'delete', ...pipelineFlags]);
  expect(deleted.stderr).toContain(`deleted ${scheduleId}`);
  await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  await expect(runCliInProcess(['schedule', 'describe', ...pipelineFlags, '--json'])).rejects.toThrow(`no schedule ${scheduleId}`);
  expect((await client.workflow.getHandle(firstRun.workflowId, firstRun.runId).describe()).status.name).toBe('COMPLETED');
});
