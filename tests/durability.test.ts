import { randomUUID } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { rawPrefix } from '../core/lake-layout';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import type { ExtractProgress } from '../activities/extract/extract';
import { LocalLake } from '../activities/lake/local-lake';
import { DuckDbWarehouse } from '../activities/warehouse';
import { generateDataset, toCsv } from '../sample_data/generate';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { spawnWorkerProcess, type WorkerProcess } from './support/durability-worker';
import { reference, runLoad, tempDir } from './support/rules-pipeline';
import { testClient } from './support/temporal';

/**
 * Durability: a worker killed with SIGKILL in the middle of the extract. Its activity times out on its heartbeat
 * (20 s), Temporal retries it on a second worker process, and the retry resumes from the last heartbeat instead
 * of fetching every page again. The load that follows is exactly the one of a clean run: no row lost or doubled.
 *
 * The worker heartbeats after every page, but the SDK sends heartbeats to the server at most every 80% of the
 * heartbeat timeout (16 s); the API's latency makes the extract last long enough (≥ 30 s for 200 pages) for the
 * server to have recorded a heartbeat with pages in the middle of it.
 */
const ORDERS = 20_000;
const PAGE_SIZE = 100;
const PAGES = ORDERS / PAGE_SIZE;
const LATENCY_MS = 150;

jest.setTimeout(150_000);

const T0 = Date.now();
/** Timings of the steps, printed at the end (how long each wait took on this machine). */
const marks: string[] = [];
const mark = (what: string) => marks.push(`${what} +${((Date.now() - T0) / 1000).toFixed(1)}s`);
const dataset = generateDataset(ORDERS, 7);
mark('generated');
let client: Client;
let closeClient: () => Promise<void>;
let api: OrdersApiServer;
const workers: WorkerProcess[] = [];
const dirs: (() => void)[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  api = await startOrdersApi({ orders: dataset.orders, latencyMs: LATENCY_MS });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await api?.close();
  await closeClient?.();
  for (const cleanup of dirs) cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The extract's last heartbeat as the server recorded it (what a retry receives), if it is running. */
async function extractHeartbeat(handle: WorkflowHandle): Promise<{ attempt: number; progress?: ExtractProgress } | undefined> {
  const { raw } = await handle.describe();
  const pending = (raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'extract');
  if (!pending) return undefined;
  const payload = pending.heartbeatDetails?.payloads?.[0];
  return { attempt: pending.attempt ?? 0, progress: payload ? defaultPayloadConverter.fromPayload<ExtractProgress>(payload) : undefined };
}

interface StarCounts {
  fact_sales: number;
  dim_order: number;
  dim_user: number;
  dim_product: number;
  rejected_records: number;
  line_amount: string;
}

async function starCounts(file: string): Promise<StarCounts> {
  const [row] = await new DuckDbWarehouse(file).query(
    `SELECT (SELECT COUNT(*) FROM fact_sales) AS fact_sales, (SELECT COUNT(*) FROM dim_order) AS dim_order,
            (SELECT COUNT(*) FROM dim_user) AS dim_user, (SELECT COUNT(*) FROM dim_product) AS dim_product,
            (SELECT COUNT(*) FROM rejected_records) AS rejected_records,
            (SELECT SUM(line_amount)::VARCHAR FROM fact_sales) AS line_amount`,
  );
  return row as unknown as StarCounts;
}

/** Duplicated keys in the star tables (must be none even after a retried extract). */
async function duplicateKeys(file: string): Promise<number> {
  const [row] = await new DuckDbWarehouse(file).query(
    `SELECT (SELECT COUNT(*) FROM (SELECT order_id, line_number FROM fact_sales GROUP BY ALL HAVING COUNT(*) > 1))
          + (SELECT COUNT(*) FROM (SELECT order_id FROM dim_order GROUP BY ALL HAVING COUNT(*) > 1)) AS n`,
  );
  return Number(row.n);
}

test('a worker killed with SIGKILL mid-extract: another worker resumes the extract from its heartbeat and the load is exact', async () => {
  const { dir, cleanup } = tempDir('durability');
  dirs.push(cleanup);
  const usersCsv = path.join(dir, 'users.csv');
  const productsCsv = path.join(dir, 'products.csv');
  writeFileSync(usersCsv, toCsv(dataset.users, ['user_id', 'email', 'country', 'created_at']));
  writeFileSync(productsCsv, toCsv(dataset.products, ['sku', 'name', 'category', 'price']));

  const taskQueue = `durability-${randomUUID()}`;
  const first = spawnWorkerProcess(taskQueue);
  workers.push(first);

  const workflowId = `durability-${path.basename(dir)}`;
  const warehouseFile = path.join(dir, 'warehouse.duckdb');
  const input: PipelineInput = {
    pipelineId: `test-durability-${path.basename(dir)}`,
    source: api.url,
    usersCsv,
    productsCsv,
    warehouse: `duckdb:${warehouseFile}`,
    lake: path.join(dir, 'lake'),
    pageSize: PAGE_SIZE,
  };
  mark('worker spawned');
  const handle = await client.workflow.start('ordersEtl', { taskQueue, workflowId, args: [input], workflowExecutionTimeout: '5m' });

  // Wait until the server holds a heartbeat of the first attempt with some pages (and the extract is not done).
  let seen: ExtractProgress | undefined;
  const waitDeadline = Date.now() + 60_000;
  for (;;) {
    const hb = await extractHeartbeat(handle);
    if (hb?.progress && hb.progress.pages >= 20) {
      expect(hb.attempt).toBe(1);
      seen = hb.progress;
      break;
    }
    if (first.child.exitCode !== null) throw new Error(`the first worker exited early:\n${first.output()}`);
    if (Date.now() > waitDeadline) throw new Error(`no extract heartbeat with ≥ 20 pages within 60 s (last: ${JSON.stringify(hb)}); worker output:\n${first.output()}`);
    await sleep(250);
  }
  expect(seen.done).toBe(false);
  expect(seen.pages).toBeLessThan(PAGES);

  mark('heartbeat seen');
  process.kill(first.pid, 'SIGKILL');
  const killedAt = Date.now();
  expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
  await sleep(1_000); // a request the worker sent just before dying is counted now, not after the snapshot
  const servedBeforeRetry = api.stats.get(200) ?? 0;

  const second = spawnWorkerProcess(taskQueue);
  workers.push(second);

  // Meanwhile, the reference: the same orders through transform → stage → load in this process, without Temporal.
  const clean = tempDir('durability-clean');
  dirs.push(clean.cleanup);
  const cleanFile = path.join(clean.dir, 'warehouse.duckdb');
  const cleanRun = await runLoad({
    lake: new LocalLake(path.join(clean.dir, 'lake')),
    loadId: 'clean',
    records: dataset.orders,
    pageSize: PAGE_SIZE,
    reference: reference(toCsv(dataset.users, ['user_id', 'email', 'country', 'created_at']), toCsv(dataset.products, ['sku', 'name', 'category', 'price'])),
    warehouse: new DuckDbWarehouse(cleanFile),
  });

  let timer: NodeJS.Timeout | undefined;
  mark('clean run done');
  const result: PipelineResult = await Promise.race([
    handle.result(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the run did not complete within 100 s of the kill; second worker output:\n${second.output()}`)), 100_000 - (Date.now() - killedAt));
    }),
  ]).finally(() => clearTimeout(timer));

  mark('completed');
  // It completed by itself, on the second worker, within 90 s of the kill (server time of the completion).
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const completed = events.find((e) => e.workflowExecutionCompletedEventAttributes);
  expect(completed).toBeDefined();
  const completedAt = Number(completed!.eventTime!.seconds) * 1000 + Math.floor((completed!.eventTime!.nanos ?? 0) / 1e6);
  expect(completedAt - killedAt).toBeLessThan(90_000);

  // The extract ran twice: the second attempt after the first timed out on its heartbeat.
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'extract')!;
  const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled.eventId!.toString())!;
  expect(started.activityTaskStartedEventAttributes!.attempt).toBe(2);
  expect(started.activityTaskStartedEventAttributes!.identity).toBe(`${second.pid}@${hostname()}`);
  expect(started.activityTaskStartedEventAttributes!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
  expect(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'extract')).toHaveLength(1);

  // It resumed from the heartbeat: the second attempt fetched only the pages after it, not all of them again.
  const served = api.stats.get(200) ?? 0;
  expect(served).toBeLessThan(2 * PAGES);
  expect(served - servedBeforeRetry).toBeLessThanOrEqual(PAGES - seen.pages);

  // The raw zone holds each page once: the pages the second attempt fetched again were overwritten, not added.
  expect(readdirSync(path.join(dir, 'lake', rawPrefix(result.loadId))).filter((f) => f.endsWith('.jsonl'))).toHaveLength(PAGES);

  // Same counts as the clean run: nothing lost, nothing doubled.
  const c = cleanRun.counts;
  expect(c.extracted).toBe(ORDERS);
  expect(result).toMatchObject({
    extracted: ORDERS,
    duplicates: c.duplicates,
    rejected: c.rejectedOrders,
    rejectedItems: c.rejectedItems,
    ordersLoaded: cleanRun.outcome.ordersLoaded,
    ordersKept: 0,
    linesLoaded: cleanRun.outcome.linesLoaded,
  });
  mark('history checked');
  const expected = await starCounts(cleanFile);
  expect(expected.fact_sales).toBeGreaterThan(ORDERS);
  expect(expected.rejected_records).toBe(c.rejectedOrders + c.rejectedItems);
  expect(await starCounts(warehouseFile)).toEqual(expected);
  expect(await duplicateKeys(warehouseFile)).toBe(0);
  const [load] = await new DuckDbWarehouse(warehouseFile).query('SELECT COUNT(*) AS loads, MAX(extracted) AS extracted FROM etl_loads');
  expect(load).toEqual({ loads: 1, extracted: ORDERS });

  mark('warehouse checked');
  console.log(
    `durability: killed at page ${seen.pages}/${PAGES} (server heartbeat); ${served} pages served in all, ` +
      `${served - servedBeforeRetry} after the kill; completed ${((completedAt - killedAt) / 1000).toFixed(1)} s after the kill (${marks.join(', ')})`,
  );
});
