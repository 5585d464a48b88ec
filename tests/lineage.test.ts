import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActivityFailure, WorkflowFailedError } from '@temporalio/client';
import { startOrdersApi } from '../dev/orders-api-server';
import { buildRunEvent, lineageProducer, type RunEvent } from '../activities/lineage/lineage-event';
import { Writable } from 'node:stream';
import { ConfigurationError, loadWorkerConfig, packageVersion } from '../client/config';
import { createLogger } from '../core/logger';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { lineageProblems, startLineageReceiver, type LineageReceiver } from './support/openlineage';
import { ROOT, startTestWorker, testClient, type RunningWorker } from './support/temporal';

/**
 * OpenLineage events of real runs on the Temporal dev server, received by a real HTTP server (as Marquez would)
 * or written by the file transport. The counts are those of sample_data/expected.json.
 */
const SAMPLE = path.join(ROOT, 'sample_data');
const expected = JSON.parse(readFileSync(path.join(SAMPLE, 'expected.json'), 'utf8'));
const PRODUCER = lineageProducer(packageVersion());
const API_KEY = 'ol-test-key-5e1f';

let receiver: LineageReceiver;
let client: Awaited<ReturnType<typeof testClient>>;
let worker: RunningWorker;

beforeAll(async () => {
  receiver = await startLineageReceiver();
  client = await testClient();
  worker = await startTestWorker({ OPENLINEAGE_URL: receiver.url, OPENLINEAGE_API_KEY: API_KEY });
});
afterAll(async () => {
  await worker?.stop();
  await client?.close();
  await receiver?.close();
});

function input(overrides: Partial<PipelineInput> = {}): PipelineInput {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-lineage-'));
  return {
    pipelineId: `lineage-${path.basename(dir)}`,
    source: path.join(SAMPLE, 'orders.json'),
    usersCsv: path.join(SAMPLE, 'users.csv'),
    productsCsv: path.join(SAMPLE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    ...overrides,
  };
}

async function run(args: PipelineInput, taskQueue = worker.taskQueue): Promise<{ result: PipelineResult; runId: string }> {
  const handle = await client.client.workflow.start('ordersEtl', { taskQueue, workflowId: args.pipelineId, args: [args] });
  return { result: await handle.result(), runId: handle.firstExecutionRunId };
}

/** The events the receiver got for one run, in order. */
const eventsOf = (runId: string) => receiver.requests.map((r) => r.body as RunEvent).filter((e) => e.run.runId === runId);

/** The events a run's transitions give, built as the worker builds them. */
function expectedEvents(args: PipelineInput, runId: string, result: PipelineResult): RunEvent[] {
  const common = { runId, pipelineId: args.pipelineId, source: args.source, warehouse: args.warehouse };
  return [
    buildRunEvent({ ...common, eventType: 'START', eventTime: result.startedAt }, PRODUCER),
    buildRunEvent({ ...common, eventType: 'COMPLETE', eventTime: result.finishedAt, result }, PRODUCER),
  ];
}

/** outputStatistics rowCount of each output that has one. */
const rowCounts = (event: RunEvent) =>
  Object.fromEntries(event.outputs.flatMap((o) => (o.outputFacets ? [[o.name, (o.outputFacets.outputStatistics as unknown as { rowCount: number }).rowCount]] : [])));

test('a successful run sends START then COMPLETE, with the exact counts of the sample data, valid OpenLineage', async () => {
  const args = input();
  const { result, runId } = await run(args);
  const events = eventsOf(runId);
  expect(events.map((e) => e.eventType)).toEqual(['START', 'COMPLETE']);
  expect(events).toEqual(expectedEvents(args, runId, result));
  for (const event of events) expect(lineageProblems(event)).toEqual([]);

  const [start, complete] = events;
  expect(start.eventTime).toBe(result.startedAt);
  expect(complete.job).toEqual({ namespace: 'orders-etl', name: args.pipelineId });
  expect(complete.inputs).toEqual([
    {
      namespace: 'file',
      name: path.join(SAMPLE, 'orders.json'),
      inputFacets: { dataQualityMetrics: expect.objectContaining({ rowCount: expected.extracted, columnMetrics: {} }) },
      // The default gates' checks a first load measures, all passed by the sample (volume needs earlier loads).
      facets: {
        dataQualityAssertions: expect.objectContaining({
          assertions: ['rejection_rate', 'null_price_rate', 'inferred_user_rate', 'inferred_product_rate'].map((assertion) => ({ assertion, success: true })),
        }),
      },
    },
  ]);
  expect(rowCounts(complete)).toEqual({
    'main.dim_order': expected.orders_loaded,
    'main.fact_sales': expected.fact_lines,
    'main.rejected_records': expected.rejected_records_rows,
  });
  expect(new Set(complete.outputs.map((o) => o.namespace))).toEqual(new Set([`duckdb://${args.warehouse.slice('duckdb:'.length)}`]));

  const posts = receiver.requests.filter((r) => (r.body as RunEvent).run.runId === runId);
  expect(posts.map((p) => [p.method, p.path, p.headers['content-type'], p.headers.authorization])).toEqual([
    ['POST', '/api/v1/lineage', 'application/json', `Bearer ${API_KEY}`],
    ['POST', '/api/v1/lineage', 'application/json', `Bearer ${API_KEY}`],
  ]);
});

test('a failing run sends START then FAIL with the error message', async () => {
  const missing = path.join(tmpdir(), 'orders-etl-lineage-missing', 'orders.json');
  const args = input({ source: missing });
  const handle = await client.client.workflow.start('ordersEtl', { taskQueue: worker.taskQueue, workflowId: args.pipelineId, args: [args] });
  const failure = await handle.result().catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const activityFailure = (failure as WorkflowFailedError).cause as ActivityFailure;
  const message = (activityFailure.cause as Error).message;
  expect(message).toContain(missing);

  const events = eventsOf(handle.firstExecutionRunId);
  expect(events.map((e) => e.eventType)).toEqual(['START', 'FAIL']);
  for (const event of events) expect(lineageProblems(event)).toEqual([]);
  const fail = events[1];
  expect(fail.run.facets).toEqual({ errorMessage: expect.objectContaining({ message, programmingLanguage: 'TypeScript' }) });
  expect(fail.inputs).toEqual([{ namespace: 'file', name: missing }]);
  expect(fail.outputs.every((o) => o.outputFacets === undefined)).toBe(true);
  expect(Date.parse(fail.eventTime)).toBeGreaterThanOrEqual(Date.parse(events[0].eventTime));
});

test('an endpoint answering 500 is retried three times per event, then the run goes on and completes', async () => {
  receiver.status = 500;
  try {
    const { result, runId } = await run(input());
    expect(result).toMatchObject({ extracted: expected.extracted, ordersLoaded: expected.orders_loaded, linesLoaded: expected.fact_lines });
    expect(eventsOf(runId).map((e) => e.eventType)).toEqual(['START', 'START', 'START', 'COMPLETE', 'COMPLETE', 'COMPLETE']);
  } finally {
    receiver.status = 201;
  }
});

test('the file transport appends the same events, one JSON line each', async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'orders-etl-lineage-file-')), 'lineage.jsonl');
  const fileWorker = await startTestWorker({ OPENLINEAGE_FILE: file });
  try {
    const args = input();
    const { result, runId } = await run(args, fileWorker.taskQueue);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    const events = lines.slice(0, -1).map((line) => JSON.parse(line) as RunEvent);
    expect(events).toEqual(expectedEvents(args, runId, result));
    for (const event of events) expect(lineageProblems(event)).toEqual([]);
    expect(rowCounts(events[1])['main.fact_sales']).toBe(expected.fact_lines);
  } finally {
    await fileWorker.stop();
  }
});

test('a cancelled run ends its lineage run with ABORT', async () => {
  const api = await startOrdersApi({ orders: JSON.parse(readFileSync(path.join(SAMPLE, 'orders.json'), 'utf8')) as unknown[], latencyMs: 200 });
  try {
    const args = input({ source: api.url, pageSize: 10 });
    const handle = await client.client.workflow.start('ordersEtl', { taskQueue: worker.taskQueue, workflowId: args.pipelineId, args: [args] });
    while ((api.stats.get(200) ?? 0) < 2) await new Promise((r) => setTimeout(r, 100));
    await handle.cancel();
    expect(((await handle.result().catch((err: unknown) => err)) as WorkflowFailedError).cause?.name).toBe('CancelledFailure');
    const events = eventsOf(handle.firstExecutionRunId);
    expect(events.map((e) => e.eventType)).toEqual(['START', 'ABORT']);
    for (const event of events) expect(lineageProblems(event)).toEqual([]);
    expect(events[1].inputs).toEqual([{ namespace: api.url.replace(/\/$/, ''), name: '/orders' }]);
  } finally {
    await api.close();
  }
});

test('an endpoint that is down does not fail the run (run last: it closes the receiver)', async () => {
  await receiver.close();
  const { result } = await run(input());
  expect(result).toMatchObject({ extracted: expected.extracted, ordersLoaded: expected.orders_loaded, linesLoaded: expected.fact_lines });
});

test('the worker refuses a lineage URL that is not http(s), and both a URL and a file', () => {
  const problems = (env: NodeJS.ProcessEnv) => {
    try {
      loadWorkerConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigurationError).problems;
    }
  };
  expect(problems({ OPENLINEAGE_URL: 'ftp://marquez:5000' })).toEqual(['environment variable OPENLINEAGE_URL: must be an http:// or https:// URL (the base of /api/v1/lineage)']);
  expect(problems({ OPENLINEAGE_URL: 'http://marquez:5000', OPENLINEAGE_FILE: '/tmp/lineage.jsonl' })).toEqual([
    'environment variables OPENLINEAGE_URL and OPENLINEAGE_FILE: set one of them (where lineage events go)',
  ]);
  expect(loadWorkerConfig({ OPENLINEAGE_URL: 'http://marquez:5000', OPENLINEAGE_API_KEY: 'k' }).activities.lineage).toEqual({
    url: 'http://marquez:5000',
    apiKey: 'k',
    file: undefined,
    version: packageVersion(),
  });
});

test('the lineage API key is redacted should the settings ever be logged', () => {
  let out = '';
  const logger = createLogger(new Writable({ write(chunk, _enc, cb) { out += chunk.toString(); cb(); } }), { LOG_LEVEL: 'info' });
  logger.info({ lineage: loadWorkerConfig({ OPENLINEAGE_URL: 'http://marquez:5000', OPENLINEAGE_API_KEY: API_KEY }).activities.lineage }, 'settings');
  expect(JSON.parse(out).lineage).toMatchObject({ url: 'http://marquez:5000', apiKey: '[redacted]' });
  expect(out).not.toContain(API_KEY);
});
