import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DuckDbWarehouse } from '../activities/warehouse';
import { warehouseLockId } from '../activities/warehouse/warehouse-lock';
import { pipelineIdOf } from '../client/pipeline-options';
import { generateDataset } from '../sample_data/generate';
import { progressQuery } from '../workflows';
import { lockRequestSignal, lockStateQuery } from '../workflows/warehouse-lock';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { spawnWorkerProcess, type WorkerProcess } from './support/durability-worker';
import { holdDuckDbFile, type DuckDbHolder } from './support/duckdb-holder';
import { eventually } from './support/ops-cli';
import { dumpStar, tempDir } from './support/rules-pipeline';
import { startTestWorker, testClient, type RunningWorker } from './support/temporal';

/**
 * Issue 8, #1: loads into one warehouse never overlap. Two runs of two sources into one DuckDB file started at the
 * same moment used to both report success while the warehouse kept one load. Now every load queues on the
 * warehouse's lock workflow: on one worker, across worker processes, and past a holder terminated mid-load.
 */

const ORDERS = 4_000;

let client: Client;
let closeClient: () => Promise<void>;
let worker: RunningWorker;
let dir: string;
let cleanup: () => void;
const sources: string[] = [];
const processes: WorkerProcess[] = [];
const holders: DuckDbHolder[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  worker = await startTestWorker();
  ({ dir, cleanup } = tempDir('warehouse-lock'));
  // Three sources whose order ids overlap (each generated with its own seed): which load comes last matters.
  for (const seed of [1, 2, 3]) {
    const file = path.join(dir, `orders-${seed}.json`);
    writeFileSync(file, JSON.stringify(generateDataset(ORDERS, seed).orders));
    sources.push(file);
  }
});
afterAll(async () => {
  await Promise.all([...holders.map((h) => h.release()), ...processes.map((p) => p.kill())]);
  await worker?.stop();
  await closeClient?.();
  cleanup?.();
});

function input(source: string, warehouseFile: string): PipelineInput {
  const warehouse = `duckdb:${warehouseFile}`;
  return { pipelineId: pipelineIdOf(source, warehouse), source, warehouse, lake: path.join(dir, 'lake'), pageSize: 500 };
}

const start = (args: PipelineInput, taskQueue = worker.taskQueue) =>
  client.workflow.start('ordersEtl', { taskQueue, workflowId: `lock-test-${randomUUID()}`, args: [args] }) as Promise<WorkflowHandleWithFirstExecutionRunId<(i: PipelineInput) => Promise<PipelineResult>>>;
const run = async (args: PipelineInput, taskQueue?: string) => (await start(args, taskQueue)).result();

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** When the run's load activity started and completed, as the server recorded them, and which worker ran it. */
async function loadActivity(workflowId: string): Promise<{ workflowId: string; started: number; completed: number }> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'load')!;
  const id = Number(scheduled.eventId);
  const started = events.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === id)!;
  const completed = events.find((e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id)!;
  return { workflowId, started: ms(started.eventTime), completed: ms(completed.eventTime) };
}

/** The loads in the order they ran, each started only once the one before had completed. */
async function expectOneAfterTheOther(workflowIds: string[]): Promise<string[]> {
  const loads = (await Promise.all(workflowIds.map(loadActivity))).sort((a, b) => a.started - b.started);
  for (let i = 1; i < loads.length; i++) expect(loads[i].started).toBeGreaterThan(loads[i - 1].completed);
  return loads.map((l) => l.workflowId);
}

/** What a warehouse holds, without what differs between two warehouses by construction (load ids, times). */
async function contents(file: string) {
  const warehouse = new DuckDbWarehouse(file);
  return {
    ...(await dumpStar(warehouse)),
    rejected: await warehouse.query('SELECT order_id, CAST(line_number AS VARCHAR) AS line_number, reason, record FROM rejected_records ORDER BY ALL'),
  };
}

const counts = (r: PipelineResult) => ({
  extracted: r.extracted,
  duplicates: r.duplicates,
  rejected: r.rejected,
  rejectedItems: r.rejectedItems,
  ordersLoaded: r.ordersLoaded,
  ordersKept: r.ordersKept,
  linesLoaded: r.linesLoaded,
  watermark: r.watermark,
});

test('two runs of two sources into one DuckDB file at the same moment both land, one after the other, and each watermark is right', async () => {
  const shared = path.join(dir, 'shared.duckdb');
  const inputs = [input(sources[0], shared), input(sources[1], shared)];
  const handles = await Promise.all(inputs.map((i) => start(i)));
  const results = await Promise.all(handles.map((h) => h.result()));
  for (const r of results) expect(r.extracted).toBe(ORDERS);

  const order = await expectOneAfterTheOther(handles.map((h) => h.workflowId));
  const first = order[0] === handles[0].workflowId ? 0 : 1;
  const sequence = [first, 1 - first];
  const warehouse = new DuckDbWarehouse(shared);
  expect(await warehouse.query('SELECT load_id, pipeline_id FROM etl_loads ORDER BY finished_at')).toEqual(
    sequence.map((i) => ({ load_id: results[i].loadId, pipeline_id: inputs[i].pipelineId })),
  );
  // The lock let them in in that order, and holds nobody now.
  expect(await client.workflow.getHandle(warehouseLockId(`duckdb:${shared}`)).query(lockStateQuery)).toEqual({
    holder: null,
    queue: [],
    served: sequence.map((i) => handles[i].firstExecutionRunId),
  });

  // The same two sources run one after the other, in that order, into another warehouse: the same tables and counts.
  const alone = path.join(dir, 'sequential.duckdb');
  const sequential: PipelineResult[] = [];
  for (const i of sequence) sequential[i] = await run(input(sources[i], alone));
  expect(await contents(shared)).toEqual(await contents(alone));
  expect(results.map(counts)).toEqual(sequential.map(counts));

  // Each pipeline's next run continues from its own watermark and finds nothing new.
  const before = await contents(shared);
  for (const [i, args] of inputs.entries()) {
    const next = await run(args);
    expect(next.since).toBe(new Date(results[i].watermark!).toISOString());
    expect(next.watermark).toBe(results[i].watermark);
  }
  expect(await contents(shared)).toEqual(before);
  expect(await warehouse.query('SELECT COUNT(*) AS n FROM etl_loads')).toEqual([{ n: 4 }]);
});

test('the lock holds across two worker processes on one task queue', async () => {
  const taskQueue = `lock-two-workers-${randomUUID()}`;
  processes.push(spawnWorkerProcess(taskQueue), spawnWorkerProcess(taskQueue));
  const pollers = async () =>
    (
      await client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      })
    ).pollers ?? [];
  await eventually('both worker processes to poll', 60_000, async () => ((await pollers()).length === 2 ? true : undefined), 500);

  const shared = path.join(dir, 'two-workers.duckdb');
  const handles = await Promise.all(sources.map((s) => start(input(s, shared), taskQueue)));
  const results = await Promise.all(handles.map((h) => h.result()));
  await expectOneAfterTheOther(handles.map((h) => h.workflowId));
  const loads = await new DuckDbWarehouse(shared).query('SELECT load_id FROM etl_loads ORDER BY load_id');
  expect(loads).toEqual(results.map((r) => ({ load_id: r.loadId })).sort((a, b) => a.load_id.localeCompare(b.load_id)));

  // Both processes did the runs' work (the activities go to whichever polls first).
  const identities = new Set<string>();
  for (const h of handles) {
    for (const e of (await h.fetchHistory()).events ?? []) if (e.activityTaskStartedEventAttributes?.identity) identities.add(e.activityTaskStartedEventAttributes.identity);
  }
  expect([...identities].sort()).toEqual((await pollers()).map((p) => p.identity).sort());
});

test('a run waiting for the warehouse says who holds it; a holder terminated mid-load does not block the next load', async () => {
  const file = path.join(dir, 'terminated.duckdb');
  // Another process holds the file, so the first run's load waits inside the activity, holding the lock.
  const holder = await holdDuckDbFile(file);
  holders.push(holder);
  const stageOf = async (h: WorkflowHandleWithFirstExecutionRunId) => (await h.query(progressQuery)).stage;
  const [first, second] = [input(sources[0], file), input(sources[1], file)];
  const h1 = await start(first);
  await eventually('the first run to hold the warehouse', 60_000, async () => ((await stageOf(h1)) === 'load' ? true : undefined));
  const h2 = await start(second);
  const waiting = await eventually('the second run to wait', 60_000, async () => {
    const progress = await h2.query(progressQuery);
    return progress.stage === 'waiting' ? progress : undefined;
  });
  expect(waiting.heldBy).toEqual({ workflowId: h1.workflowId, runId: h1.firstExecutionRunId, pipelineId: first.pipelineId, loadId: (await h1.query(progressQuery)).loadId });
  expect((await h2.describe()).searchAttributes.PipelineStage).toEqual(['waiting']);

  await h1.terminate('test: a holder that never releases');
  const terminatedAt = Date.now();
  await eventually('the second run to get the warehouse', 60_000, async () => ((await stageOf(h2)) === 'load' ? true : undefined));
  expect(Date.now() - terminatedAt).toBeLessThan(25_000); // the lock checks its holder every 15 s

  await holder.release();
  const result = await h2.result();
  expect(result.extracted).toBe(ORDERS);
  // The terminated run's activity may still finish its load before Temporal stops it at its next heartbeat.
  const loads = (await new DuckDbWarehouse(file).query('SELECT load_id FROM etl_loads')).map((r) => r.load_id);
  expect(loads).toContain(result.loadId);
  expect(loads.filter((id) => id !== result.loadId).length).toBeLessThanOrEqual(1);
});

test('a run cancelled while it waits leaves the queue; the runs behind it still load in turn', async () => {
  const file = path.join(dir, 'cancelled.duckdb');
  const holder = await holdDuckDbFile(file);
  holders.push(holder);
  const lock = client.workflow.getHandle(warehouseLockId(`duckdb:${file}`));
  const h1 = await start(input(sources[0], file));
  await eventually('the first run to hold the warehouse', 60_000, async () => ((await h1.query(progressQuery)).stage === 'load' ? true : undefined));
  const h2 = await start(input(sources[1], file));
  await eventually('the second run to queue', 60_000, async () => ((await lock.query(lockStateQuery)).queue.length === 1 ? true : undefined));
  const h3 = await start(input(sources[2], file));
  await eventually('the third run to queue', 60_000, async () => ((await lock.query(lockStateQuery)).queue.length === 2 ? true : undefined));
  expect((await lock.query(lockStateQuery)).queue.map((r) => r.workflowId)).toEqual([h2.workflowId, h3.workflowId]);

  await h2.cancel();
  await expect(h2.result()).rejects.toThrow('Workflow execution cancelled');
  expect(await lock.query(lockStateQuery)).toEqual({
    holder: expect.objectContaining({ runId: h1.firstExecutionRunId }),
    queue: [expect.objectContaining({ runId: h3.firstExecutionRunId })],
    served: [h2.firstExecutionRunId],
  });

  await holder.release();
  const [r1, r3] = [await h1.result(), await h3.result()];
  await expectOneAfterTheOther([h1.workflowId, h3.workflowId]);
  expect(await new DuckDbWarehouse(file).query('SELECT load_id FROM etl_loads ORDER BY finished_at')).toEqual([{ load_id: r1.loadId }, { load_id: r3.loadId }]);
  expect(await lock.query(lockStateQuery)).toEqual({ holder: null, queue: [], served: [h2, h1, h3].map((h) => h.firstExecutionRunId) });
});

test('the lock continues as new when its history grows, carrying its queue in order', async () => {
  const file = path.join(dir, 'long-history.duckdb');
  const holder = await holdDuckDbFile(file);
  holders.push(holder);
  const lock = client.workflow.getHandle(warehouseLockId(`duckdb:${file}`));
  const h1 = await start(input(sources[0], file));
  await eventually('the first run to hold the warehouse', 60_000, async () => ((await h1.query(progressQuery)).stage === 'load' ? true : undefined));
  const { runId: firstLockRun } = await lock.describe();
  // Requests of runs that no longer exist: each costs the lock a failed grant, enough of them a long history.
  const gone = Array.from({ length: 300 }, (_, i) => ({ workflowId: `gone-${i}`, runId: randomUUID(), pipelineId: 'gone', loadId: `gone-${i}` }));
  await Promise.all(gone.map((request) => lock.signal(lockRequestSignal, request)));
  const h2 = await start(input(sources[1], file));
  const queued = await eventually('the second run to queue behind them', 60_000, async () => {
    const { queue } = await lock.query(lockStateQuery);
    return queue.length === gone.length + 1 ? queue.map((r) => r.runId) : undefined;
  });
  expect(queued.at(-1)).toBe(h2.firstExecutionRunId);

  await holder.release();
  const [r1, r2] = [await h1.result(), await h2.result()];
  await expectOneAfterTheOther([h1.workflowId, h2.workflowId]);
  expect(await new DuckDbWarehouse(file).query('SELECT load_id FROM etl_loads ORDER BY finished_at')).toEqual([{ load_id: r1.loadId }, { load_id: r2.loadId }]);
  const { runId: lastLockRun, historyLength } = await lock.describe();
  expect(lastLockRun).not.toBe(firstLockRun);
  expect(historyLength).toBeLessThan(1_000);
  // Every request was served in arrival order, across the runs of the lock (each keeps the latest 100).
  expect((await lock.query(lockStateQuery)).served).toEqual(queued.slice(-100));
});
