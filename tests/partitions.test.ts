import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { extractOrders } from '../activities/extract/extract';
import { planPartitions, type Partition } from '../activities/extract/partitions';
import { LocalLake } from '../activities/lake/local-lake';
import { DuckDbWarehouse } from '../activities/warehouse';
import { rawPageKey } from '../core/lake-layout';
import { startOrdersApi } from '../dev/orders-api-server';
import { generateDataset, toCsv } from '../sample_data/generate';
import { progressQuery } from '../workflows';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { cli, baseEnv } from './support/cli-process';
import { spawnWorkerProcess, type WorkerProcess } from './support/durability-worker';
import { ROOT, useTestWorker } from './support/temporal';

/**
 * Issue 9, partitions: a run split into any number of partitions, run by any number of workers in any order,
 * loads the tables of a one-partition run. The file holds what makes a split matter: versions of one order in
 * different partitions, an exact created_at tie between the file's first and last records (the later wins),
 * records without a valid created_at, a line that is not JSON, blank and CRLF lines, a byte order mark and a last
 * line without its newline.
 */
jest.setTimeout(240_000);

const dataset = generateDataset(3000, 11);
const line = (record: unknown) => JSON.stringify(record);
const TIE_FIRST = line({ order_id: 'tie', user_id: 'u_tie', created_at: '2025-10-01T10:00:00Z', amount: 1, items: [{ sku: 'sku_tie', qty: 1, price: '1.00' }] });
const TIE_LAST = line({ order_id: 'tie', user_id: 'u_tie', created_at: '2025-10-01T10:00:00.000+00:00', amount: 2, items: [{ sku: 'sku_tie', qty: 2, price: '1.00' }] });
const MULTI = (at: string, amount: number) => line({ order_id: 'multi', user_id: 'u_multi', created_at: at, amount, items: [{ sku: 'sku_multi', qty: amount, price: '3.00' }] });
const UNDATED = line({ order_id: 'undated', user_id: 'u_1' });
const INVALID = line({ order_id: 'invalid', user_id: 'u_1', created_at: '2025-02-30T00:00:00Z' });
const MALFORMED = '{"order_id": "broken", ';

/** The orders file: the generated orders with the special records spread over it. */
function ordersFile(dir: string): string {
  const body = dataset.orders.map(line);
  const third = Math.floor(body.length / 3);
  body.splice(2 * third, 0, MULTI('2025-11-01T00:00:00Z', 1), '', UNDATED, MALFORMED);
  body.splice(third, 0, MULTI('2025-12-01T00:00:00Z', 2), '   ', INVALID);
  body.splice(10, 0, MULTI('2025-10-15T00:00:00Z', 3));
  const text = '\uFEFF' + [TIE_FIRST, ...body.slice(0, 20).map((l) => `${l}\r`), ...body.slice(20), TIE_LAST].join('\n'); // no newline at the end
  const file = path.join(dir, 'orders.jsonl');
  writeFileSync(file, text);
  return file;
}
const RECORDS = dataset.orders.length + 8;

const worker = useTestWorker();
const cleanups: (() => void)[] = [];
const processes: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
  for (const cleanup of cleanups) cleanup();
});

function scratch(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `orders-etl-${label}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function reference(dir: string): { usersCsv: string; productsCsv: string } {
  const usersCsv = path.join(dir, 'users.csv');
  const productsCsv = path.join(dir, 'products.csv');
  writeFileSync(usersCsv, toCsv(dataset.users, ['user_id', 'email', 'country', 'created_at']));
  writeFileSync(productsCsv, toCsv(dataset.products, ['sku', 'name', 'category', 'price']));
  return { usersCsv, productsCsv };
}

function pipeline(source: string, extra: Partial<PipelineInput> = {}): PipelineInput {
  const dir = scratch('partitions-run');
  return {
    pipelineId: `test-partitions-${path.basename(dir)}`,
    source,
    ...reference(dir),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    pageSize: 100,
    ...extra,
  };
}

/** Every table as a user sees it, without what names a load or its time (load ids, rejected_at, timings). */
async function tables(input: PipelineInput): Promise<Record<string, unknown[]>> {
  const warehouse = new DuckDbWarehouse(input.warehouse.slice('duckdb:'.length));
  const q = (sql: string) => warehouse.query(sql);
  return {
    fact_sales: await q('SELECT * FROM fact_sales ORDER BY order_id, line_number'),
    dim_order: await q('SELECT * FROM dim_order ORDER BY order_id'),
    dim_user: await q('SELECT * FROM dim_user ORDER BY user_id'),
    dim_product: await q('SELECT * FROM dim_product ORDER BY sku'),
    rejected_records: await q('SELECT * EXCLUDE (load_id, rejected_at) FROM rejected_records ORDER BY ALL'),
    etl_loads: await q('SELECT * EXCLUDE (load_id, pipeline_id, started_at, finished_at) FROM etl_loads'),
  };
}

/** What a run returns, without what names it or its time. */
const outcome = ({ loadId: _l, pipelineId: _p, startedAt: _s, finishedAt: _f, ...rest }: PipelineResult) => rest;

async function execute(input: PipelineInput, taskQueue = worker.worker.taskQueue): Promise<{ result: PipelineResult; handle: WorkflowHandle }> {
  const handle = await worker.client.workflow.start('ordersEtl', { taskQueue, workflowId: `partitions-${randomUUID()}`, args: [input], workflowExecutionTimeout: '4m' });
  return { result: (await handle.result()) as PipelineResult, handle };
}

describe('the planner', () => {
  test('JSONL partitions start at lines (the first after the byte order mark) and cover the file', () => {
    const file = ordersFile(scratch('plan'));
    const bytes = readFileSync(file);
    const plan = planPartitions({ source: file, partitions: 7 });
    expect(plan.partitions).toHaveLength(7);
    expect(plan.chosen).toBe('7 byte ranges of the JSONL file (asked for 7)');
    expect(plan.undatedFrom).toBe(0);
    expect(plan.partitions[0]).toMatchObject({ kind: 'jsonl', index: 0, start: 3, base: 3 });
    expect((plan.partitions.at(-1) as { end: number }).end).toBe(bytes.length);
    for (const [i, p] of plan.partitions.entries()) {
      expect(p).toMatchObject({ index: i, base: (p as { start: number }).start });
      if (i > 0) {
        const start = (p as { start: number }).start;
        expect(bytes[start - 1]).toBe(0x0a);
        expect(start).toBe((plan.partitions[i - 1] as { end: number }).end);
      }
    }
    expect(planPartitions({ source: file }).chosen).toBe(`1 byte range of the JSONL file (by size: one per 32 MiB of ${bytes.length - 3} bytes)`);
  });

  test('a JSON array splits at elements, never inside a string that holds brackets, commas or newlines', () => {
    const file = path.join(scratch('plan-array'), 'orders.json');
    const elements = Array.from({ length: 40 }, (_, i) => line({ order_id: `o${i}`, note: `],[{"x": "${'}'.repeat(i)}\n` }));
    const text = `[\n  ${elements.join(',\n  ')}\n]\n`;
    writeFileSync(file, text);
    const plan = planPartitions({ source: file, partitions: 4 });
    expect(plan.partitions).toHaveLength(4);
    const [first, ...starts] = plan.partitions.map((p) => (p as { start: number }).start);
    expect(first).toBe(1); // just after the array's bracket, as the store reads it
    for (const start of starts) expect(elements).toContain(text.slice(start, text.indexOf('\n', start)).replace(/,$/, ''));
  });

  test('an API splits a window bounded on both sides into time slices, far apart in stream positions; else one partition', () => {
    const plan = planPartitions({ source: 'http://orders.example', since: '2025-10-01T00:00:00Z', until: '2025-10-01T00:00:03Z', partitions: 3 });
    expect(plan.partitions).toEqual<Partition[]>([
      { kind: 'api', index: 0, since: '2025-10-01T00:00:00Z', until: '2025-10-01T00:00:01Z', base: 0 },
      { kind: 'api', index: 1, since: '2025-10-01T00:00:01Z', until: '2025-10-01T00:00:02Z', base: 2 ** 40 },
      { kind: 'api', index: 2, since: '2025-10-01T00:00:02Z', until: '2025-10-01T00:00:03Z', base: 2 ** 41 },
    ]);
    const open = planPartitions({ source: 'http://orders.example', since: '2025-10-01T00:00:00Z', partitions: 3 });
    expect(open).toEqual({ partitions: [{ kind: 'api', index: 0, base: 0 }], chosen: '1 (an API is split only in a window bounded by both --since and --until, not the 3 asked for)' });
  });
});

test("a JSONL partition's extract copies its bytes verbatim, in pages cut after a line", async () => {
  const dir = scratch('verbatim');
  const file = ordersFile(dir);
  const bytes = readFileSync(file);
  const lake = new LocalLake(path.join(dir, 'lake'));
  const [, second] = planPartitions({ source: file, partitions: 3 }).partitions as Extract<Partition, { kind: 'jsonl' }>[];
  const result = await extractOrders({ loadId: 'L', source: file, pageSize: 100, requestTimeoutMs: 1_000, partition: second, pageBytes: 4096 }, lake, () => undefined);
  expect(result).toMatchObject({ rawPrefix: 'raw/L/p0001/', verbatim: true, base: second.start, done: true, bytes: second.end - second.start, readTo: second.end });
  const pages = await Promise.all(Array.from({ length: result.pages }, (_, i) => lake.get(rawPageKey(result.rawPrefix, i + 1))));
  expect(result.pages).toBeGreaterThan(10);
  for (const page of pages) expect(page.at(-1)).toBe(0x0a);
  expect(Buffer.concat(pages).equals(bytes.subarray(second.start, second.end))).toBe(true);
});

test('a JSONL file in 1, 3 and 7 partitions loads the same tables and etl_loads counts; ties and versions resolve across partitions', async () => {
  const file = ordersFile(scratch('partitions-file'));
  const runs = [];
  for (const partitions of [1, 3, 7]) {
    const input = pipeline(file, { partitions, parallelism: 3 });
    const { result, handle } = await execute(input);
    expect((await handle.query(progressQuery)).partitions).toMatchObject({ total: partitions, done: partitions, running: 0 });
    runs.push({ input, result, tables: await tables(input) });
  }
  const [one, ...split] = runs;
  expect(one.result).toMatchObject({ extracted: RECORDS, sourceMark: { offset: readFileSync(file).lastIndexOf(0x0a) + 1 } });
  expect(one.tables.dim_order.find((o) => (o as { order_id: string }).order_id === 'tie')).toMatchObject({ total_amount: '2.00' });
  expect(one.tables.fact_sales.filter((l) => ['tie', 'multi'].includes((l as { order_id: string }).order_id))).toMatchObject([
    { order_id: 'multi', line_number: 1, quantity: 2 },
    { order_id: 'tie', line_number: 1, quantity: 2 },
  ]);
  for (const run of split) {
    expect(outcome(run.result)).toEqual(outcome(one.result));
    expect(run.tables).toEqual(one.tables);
  }
  const reasons = (one.tables.rejected_records as { order_id: string | null; reason: string }[]).filter((r) => ['undated', 'invalid', null].includes(r.order_id));
  expect(reasons.map((r) => [r.order_id, r.reason])).toEqual(expect.arrayContaining([['undated', 'missing_created_at'], ['invalid', 'invalid_created_at'], [null, 'malformed_record']]));
});

test('a JSON array in 4 partitions loads what one partition does', async () => {
  const source = path.join(ROOT, 'sample_data', 'orders.json');
  const [one, four] = [pipeline(source, { partitions: 1 }), pipeline(source, { partitions: 4 })];
  const [a, b] = [await execute(one), await execute(four)];
  expect((await b.handle.query(progressQuery)).partitions?.total).toBe(4);
  expect(outcome(b.result)).toEqual(outcome(a.result));
  expect(a.result).toMatchObject({ extracted: 1000, duplicates: 48, rejected: 26, rejectedItems: 14, ordersLoaded: 926, linesLoaded: 2309 });
  expect(await tables(four)).toEqual(await tables(one));
});

/** Which worker processes (pid@host identities) started the run's activities of a type. */
async function startedBy(handle: WorkflowHandle, activity: string): Promise<Set<string>> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity).map((e) => String(e.eventId)));
  return new Set(
    events
      .filter((e) => scheduled.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
      .map((e) => e.activityTaskStartedEventAttributes!.identity!.split('@')[0]),
  );
}

test('two worker processes on one task queue both take partitions; the tables are those of one partition', async () => {
  const file = ordersFile(scratch('partitions-two'));
  const taskQueue = `partitions-${randomUUID()}`;
  const two = [spawnWorkerProcess(taskQueue, {}, ['--concurrency', '2']), spawnWorkerProcess(taskQueue, {}, ['--concurrency', '2'])];
  processes.push(...two);
  const one = pipeline(file, { partitions: 1 });
  const split = pipeline(file, { partitions: 8, parallelism: 4 });
  const reference = await execute(one);
  const { result, handle } = await execute(split, taskQueue);
  // Each worker has two slots and four partitions run at once: both workers must have taken some.
  expect([...(await startedBy(handle, 'transform'))].sort()).toEqual(two.map((w) => String(w.pid)).sort());
  expect(outcome(result)).toEqual(outcome(reference.result));
  expect(await tables(split)).toEqual(await tables(one));
});

test('a worker killed (SIGKILL) in the middle of a partition: another worker retries it and the run loads the same tables', async () => {
  const file = ordersFile(scratch('partitions-kill'));
  // An API with latency: each partition (a time slice of the window) takes seconds to page through.
  const api = await startOrdersApi({ orders: (await import('../activities/extract/orders-store')).fileStore(file), latencyMs: 100 });
  try {
    const window = { since: '2025-09-01T00:00:00Z', until: '2026-01-01T00:00:00Z' };
    const one = pipeline(api.url, { ...window, partitions: 1, pageSize: 50 });
    const split = pipeline(api.url, { ...window, partitions: 3, parallelism: 3, pageSize: 50 });
    const reference = await execute(one);

    const taskQueue = `partitions-kill-${randomUUID()}`;
    const first = spawnWorkerProcess(taskQueue);
    processes.push(first);
    const handle = await worker.client.workflow.start('ordersEtl', { taskQueue, workflowId: `partitions-kill-${randomUUID()}`, args: [split], workflowExecutionTimeout: '4m' });
    for (const deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 200))) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      if (pending.filter((a) => a.activityType?.name === 'extract').length === 3 && (api.stats.get(200) ?? 0) >= 6) break;
      if (Date.now() > deadline) throw new Error(`the partitions' extracts did not start within 60 s:\n${first.output()}`);
    }
    await first.kill();
    const second = spawnWorkerProcess(taskQueue);
    processes.push(second);
    const result = (await handle.result()) as PipelineResult;

    const events = (await handle.fetchHistory()).events ?? [];
    const retried = events.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThanOrEqual(1);
    for (const e of retried) {
      expect(e.activityTaskStartedEventAttributes!.identity!.split('@')[0]).toBe(String(second.pid));
      expect(e.activityTaskStartedEventAttributes!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
    }
    expect(outcome(result)).toEqual(outcome(reference.result));
    expect(await tables(split)).toEqual(await tables(one));
  } finally {
    await api.close();
  }
});

test('the partition flags take plain integers, said in one line', async () => {
  const cwd = scratch('partitions-cli');
  for (const [args, message] of [
    [['run', '--partitions', '0'], 'orders-etl: --partitions must be an integer from 1 to 1000, got "0"'],
    [['run', '--parallelism', '2x'], 'orders-etl: --parallelism must be an integer from 1 to 1000, got "2x"'],
    [['worker', '--concurrency', '0'], 'orders-etl: --concurrency must be an integer from 1 to 256, got "0"'],
  ] as const) {
    const exit = await cli([...args], { cwd, env: baseEnv({ ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') }) });
    expect({ code: exit.code, stderr: exit.stderr }).toEqual({ code: 1, stderr: `${message}\n` });
  }
});
