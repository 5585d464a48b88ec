import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { startOrdersApi, type OrdersApiOptions, type OrdersApiServer } from '../dev/orders-api-server';
import { DuckDbWarehouse } from '../activities/warehouse';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { ALERT_TO, useAlertingWorker } from './support/alerting-worker';
import { ROOT } from './support/temporal';

/**
 * Fault injection through the bundled Orders API against a real worker and dev server: transient answers
 * (503, 429 + Retry-After) are retried per request and change nothing in the warehouse, even when half of them
 * fail; a permanent one (401) fails the run at once, without a retry storm, a source down for good fails after
 * its retry budget, and a real SMTP server receives the alert.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
// 250 orders (2 without created_at, 12 duplicates) in pages of 50: 5 pages, so faults land mid-extract.
const ORDERS = (JSON.parse(readFileSync(path.join(FIXTURE, 'api_orders.json'), 'utf8')) as unknown[]).slice(0, 250);
const PAGE_SIZE = 50;
const PAGES = 5;

const UI = 'http://ui.example';

const suite = useAlertingWorker({ TEMPORAL_UI_URL: UI });
let clean: { result: PipelineResult; tables: Tables };

type Tables = Record<string, Record<string, unknown>[]>;

beforeAll(async () => {
  const run = await runAgainst({});
  clean = { result: run.result, tables: await dump(run.warehouse) };
});

function pipeline(source: string, overrides: Partial<PipelineInput> = {}): PipelineInput {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-faults-'));
  return {
    pipelineId: `faults-${path.basename(dir)}`,
    source,
    usersCsv: path.join(FIXTURE, 'users.csv'),
    productsCsv: path.join(FIXTURE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    pageSize: PAGE_SIZE,
    ...overrides,
  };
}

/** One run against its own API server (closed afterwards) and its own warehouse. */
async function runAgainst(
  faults: Omit<OrdersApiOptions, 'orders'>,
  overrides: Partial<PipelineInput> = {},
): Promise<{ result: PipelineResult; warehouse: string; workflowId: string; api: OrdersApiServer }> {
  const api = await startOrdersApi({ orders: ORDERS, ...faults });
  try {
    const input = pipeline(api.url, overrides);
    const workflowId = `faults-${randomUUID()}`;
    const result: PipelineResult = await suite.client.workflow.execute('ordersEtl', { taskQueue: suite.worker.taskQueue, workflowId, args: [input] });
    return { result, warehouse: input.warehouse.slice('duckdb:'.length), workflowId, api };
  } finally {
    await api.close();
  }
}

/** Every business table in full, in a stable order (rejected_records without its per-load columns). */
async function dump(file: string): Promise<Tables> {
  const warehouse = new DuckDbWarehouse(file);
  return {
    fact_sales: await warehouse.query('SELECT * FROM fact_sales ORDER BY order_id, line_number'),
    dim_order: await warehouse.query('SELECT * FROM dim_order ORDER BY order_id'),
    dim_user: await warehouse.query('SELECT * FROM dim_user ORDER BY user_id'),
    dim_product: await warehouse.query('SELECT * FROM dim_product ORDER BY sku'),
    rejected_records: await warehouse.query('SELECT * EXCLUDE (load_id, rejected_at) FROM rejected_records ORDER BY order_id, line_number, reason, record'),
  };
}

/** Each call of the activity as the history records it: its ActivityTaskStarted carries the last attempt. */
async function callsOf(workflowId: string, activity: string): Promise<{ attempt: number; failed: boolean }[]> {
  const events = (await suite.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity);
  expect(scheduled.length).toBeGreaterThan(0);
  return scheduled.map((call) => {
    const scheduledId = String(call.eventId);
    const started = events.filter((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === scheduledId);
    expect(started).toHaveLength(1);
    const failed = events.some((e) => String(e.activityTaskFailedEventAttributes?.scheduledEventId ?? '') === scheduledId);
    return { attempt: started[0].activityTaskStartedEventAttributes!.attempt!, failed };
  });
}

/**
 * Every injected failure is retried once, as a failed attempt of a call (none of that call's requests had
 * succeeded yet) or as the end of a call that had made progress (the next call continues from its cursor).
 */
async function expectEachFailureRetriedOnce(workflowId: string, injected: number): Promise<void> {
  const calls = await callsOf(workflowId, 'extract');
  expect(calls.every((c) => !c.failed)).toBe(true);
  const failedAttempts = calls.reduce((sum, c) => sum + c.attempt - 1, 0);
  expect(failedAttempts + (calls.length - 1)).toBe(injected);
}

test('the clean run loads the 250 orders', () => {
  expect(clean.result).toMatchObject({ extracted: 250, duplicates: 12, rejected: 2, ordersLoaded: 236, since: null });
  expect(clean.tables.dim_order).toHaveLength(236);
  expect(clean.tables.rejected_records).toHaveLength(2);
  expect(clean.tables.fact_sales.length).toBeGreaterThan(236);
});

test('30% of answers 503: the extract is retried, resumes, and the tables equal a clean run', async () => {
  const run = await runAgainst({ failRate: 0.3, failStatus: 503, seed: 5 });
  const injected = run.api.stats.get(503) ?? 0;
  expect(injected).toBeGreaterThan(0);
  // Each injected failure is retried once; every retry resumes from the last heartbeat or the last call's
  // cursor, so no page is fetched twice.
  await expectEachFailureRetriedOnce(run.workflowId, injected);
  expect(run.api.stats.get(200)).toBe(PAGES);
  expect(run.result).toMatchObject({ ...withoutRunFields(clean.result), since: null });
  expect(await dump(run.warehouse)).toEqual(clean.tables);
});

test('30% of answers 429 with Retry-After: the run completes with the same tables', async () => {
  const run = await runAgainst({ failRate: 0.3, failStatus: 429, seed: 9 });
  const injected = run.api.stats.get(429) ?? 0;
  expect(injected).toBeGreaterThan(0);
  await expectEachFailureRetriedOnce(run.workflowId, injected);
  expect(run.api.stats.get(200)).toBe(PAGES);
  expect(run.result).toMatchObject(withoutRunFields(clean.result));
  expect(await dump(run.warehouse)).toEqual(clean.tables);
});

test('a 401 fails the run fast, without retries, and a real SMTP server receives the alert', async () => {
  const api = await startOrdersApi({ orders: ORDERS, failRate: 1, failStatus: 401 });
  try {
    const input = pipeline(api.url);
    const workflowId = `faults-401-${randomUUID()}`;
    const began = Date.now();
    const handle = await suite.client.workflow.start('ordersEtl', { taskQueue: suite.worker.taskQueue, workflowId, args: [input] });
    const error = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    const elapsed = Date.now() - began;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(elapsed).toBeLessThan(15_000);
    const activityFailure = (error as WorkflowFailedError).cause;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    expect((activityFailure as ActivityFailure).activityType).toBe('extract');
    const cause = (activityFailure as ActivityFailure).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('PermanentSourceError');
    expect(cause!.message).toContain('HTTP 401');

    // No retry storm: one attempt, one request.
    expect(await callsOf(workflowId, 'extract')).toEqual([{ attempt: 1, failed: true }]);
    expect([...api.stats]).toEqual([[401, 1]]);

    const [mail] = await suite.smtp.waitFor(1, 15_000);
    expect(suite.smtp.messages).toHaveLength(1);
    expect(mail.to).toEqual([ALERT_TO]);
    expect(mail.subject).toBe(`orders-etl run failed: ${input.pipelineId}`);
    expect(mail.text).toContain(`Workflow ID: ${workflowId}`);
    expect(mail.text).toContain(`Run ID: ${handle.firstExecutionRunId}`);
    expect(mail.text).toContain('HTTP 401');
    expect(mail.text).toContain(`Temporal UI: ${UI}/namespaces/default/workflows/${workflowId}/${handle.firstExecutionRunId}/history`);
  } finally {
    await api.close();
  }
});

test('half of all answers 503, over 25 pages: each request is retried until it passes, and the tables equal a clean run', async () => {
  const pages = 25;
  const run = await runAgainst({ failRate: 0.5, failStatus: 503, seed: 3 }, { pageSize: ORDERS.length / pages, sourceRetry: { initialIntervalMs: 50, maximumIntervalMs: 200 } });
  const injected = run.api.stats.get(503) ?? 0;
  expect(injected).toBeGreaterThan(pages / 2);
  expect(run.api.stats.get(200)).toBe(pages);
  await expectEachFailureRetriedOnce(run.workflowId, injected);
  // Far more failures than one call's attempt budget (15): the budget is per request, not per extract.
  expect(injected).toBeGreaterThan(15);
  expect(run.result).toMatchObject(withoutRunFields(clean.result));
  expect(await dump(run.warehouse)).toEqual(clean.tables);
});

test('a source down for good fails the run once its attempts without progress are spent, with one alert', async () => {
  const api = await startOrdersApi({ orders: ORDERS, failRate: 1, failStatus: 503 });
  try {
    const input = pipeline(api.url, { sourceRetry: { initialIntervalMs: 100, maximumIntervalMs: 400, attemptsWithoutProgress: 6 } });
    const workflowId = `faults-down-${randomUUID()}`;
    const alertsBefore = suite.smtp.messages.length;
    const began = Date.now();
    const error = await suite.client.workflow.execute('ordersEtl', { taskQueue: suite.worker.taskQueue, workflowId, args: [input] }).then(
      () => undefined,
      (err: unknown) => err,
    );
    // Backoff 100 + 200 + 400 + 400 + 400 ms between the six attempts.
    expect(Date.now() - began).toBeLessThan(15_000);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = ((error as WorkflowFailedError).cause as ActivityFailure).cause as ApplicationFailure;
    expect(cause.type).toBe('TransientSourceError');
    expect(await callsOf(workflowId, 'extract')).toEqual([{ attempt: 6, failed: true }]);
    expect([...api.stats]).toEqual([[503, 6]]);

    const mails = await suite.smtp.waitFor(alertsBefore + 1, 15_000);
    expect(suite.smtp.messages).toHaveLength(alertsBefore + 1);
    expect(mails[alertsBefore].text).toContain(`Workflow ID: ${workflowId}`);
    expect(mails[alertsBefore].text).toContain('HTTP 503');
  } finally {
    await api.close();
  }
});

/** A result without what differs between any two runs (ids and times). */
function withoutRunFields(result: PipelineResult): Partial<PipelineResult> {
  const { loadId: _l, pipelineId: _p, startedAt: _s, finishedAt: _f, ...rest } = result;
  return rest;
}
