import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import { formatTable } from '../client/output';
import { planText, progressText } from '../client/run';
import { baseEnv, cli, noStack, oneJson, type Exit } from './support/cli-process';
import { ROOT, startTestWorker, temporalAddress, testClient, type RunningWorker } from './support/temporal';

/**
 * Day-to-day operation from the command line (`node dist/client.js` in a child process): --version,
 * cancel/terminate, status with the last failure, one-line failures, per-stage progress, schedule trigger's
 * run, and report's escaping of control characters.
 */
const packageVersion = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const tmp = () => mkdtempSync(path.join(tmpdir(), 'orders-etl-ops-'));
const lines = (exit: Exit) => exit.stderr.trimEnd().split('\n');

let client: Client;
let closeClient: () => Promise<void>;
let worker: RunningWorker;
let notFound: OrdersApiServer;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  worker = await startTestWorker();
  notFound = await startOrdersApi({ orders: [], failRate: 1, failStatus: 404 });
});
afterAll(async () => {
  await notFound?.close();
  await worker?.stop();
  await closeClient?.();
});

const notFoundError = () => `GET ${notFound.url}/orders?limit=500: HTTP 404 {"error":"injected failure"}`;

test('--version prints the version of package.json', async () => {
  for (const flag of ['--version', '-V']) {
    const exit = await cli([flag], { cwd: tmp(), env: baseEnv() });
    expect(exit).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: '' });
  }
});

test('cancel and terminate a run by its workflow id; an unknown id is one line', async () => {
  const env = baseEnv({ TEMPORAL_ADDRESS: temporalAddress() });
  // On a task queue no worker polls, the run stays open for the commands to act on.
  const start = (id: string) => client.workflow.start('ordersEtl', { taskQueue: `nobody-${randomUUID()}`, workflowId: id, args: [{ pipelineId: 'p', source: 'x', warehouse: 'duckdb:/x', lake: '/x' }] });
  const cancelled = await start(`ops-cancel-${randomUUID()}`);
  const terminated = await start(`ops-terminate-${randomUUID()}`);

  const cancel = await cli(['cancel', cancelled.workflowId], { cwd: tmp(), env });
  expect(cancel).toEqual({ code: 0, stdout: '', stderr: `orders-etl: cancelled ${cancelled.workflowId}\n` });
  const cancelEvents = (await cancelled.fetchHistory()).events!.map((e) => e.eventType);
  expect(cancelEvents.at(-1)).toBe(EventType('WORKFLOW_EXECUTION_CANCEL_REQUESTED'));

  const terminate = await cli(['terminate', terminated.workflowId, '--reason', 'drill: stuck run'], { cwd: tmp(), env });
  expect(terminate).toEqual({ code: 0, stdout: '', stderr: `orders-etl: terminated ${terminated.workflowId}\n` });
  const described = await terminated.describe();
  expect(described.status.name).toBe('TERMINATED');
  const last = (await terminated.fetchHistory()).events!.at(-1)!;
  expect(last.workflowExecutionTerminatedEventAttributes?.reason).toBe('drill: stuck run');
  await cancelled.terminate('test cleanup');

  for (const args of [['cancel', 'no-such-run'], ['terminate', terminated.workflowId]]) {
    const exit = await cli(args, { cwd: tmp(), env });
    expect({ code: exit.code, stdout: exit.stdout, stderr: exit.stderr }).toEqual({ code: 1, stdout: '', stderr: `orders-etl: no running workflow ${args[1]}\n` });
  }
});

/** Temporal's event type as fetchHistory gives it (a number of the proto enum). */
function EventType(name: string): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { temporal } = require('@temporalio/proto') as typeof import('@temporalio/proto');
  return temporal.api.enums.v1.EventType[`EVENT_TYPE_${name}` as keyof typeof temporal.api.enums.v1.EventType] as number;
}

test("status shows the last failure's reason and filters by --lake", async () => {
  const cwd = tmp();
  const lake = path.join(cwd, 'lake');
  const env = baseEnv({ TEMPORAL_ADDRESS: temporalAddress(), TEMPORAL_TASK_QUEUE: worker.taskQueue, ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') });
  const failed = await cli(['run', '--source', notFound.url, '--lake', lake], { cwd, env });
  expect(failed.code).toBe(1);
  const workflowId = /started (\S+) \(pipeline/.exec(failed.stderr)![1];

  const status = await cli(['status', '--source', notFound.url, '--lake', lake, '--json'], { cwd, env });
  expect(status.code).toBe(0);
  const { pipelines } = oneJson(status) as { pipelines: { lastFailure: unknown; runs: { workflowId: string; status: string }[] }[] };
  expect(pipelines).toHaveLength(1);
  expect(pipelines[0].lastFailure).toEqual({ workflowId, closedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), reason: notFoundError() });
  expect(pipelines[0].runs.map((r) => [r.workflowId, r.status])).toEqual([[workflowId, 'FAILED']]);

  const text = await cli(['status', '--source', notFound.url, '--lake', lake], { cwd, env });
  expect(text.stdout).toMatch(new RegExp(`^  last failure  \\S+ ${workflowId}: ${notFoundError().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));

  const elsewhere = await cli(['status', '--source', notFound.url, '--lake', path.join(cwd, 'other-lake'), '--json'], { cwd, env });
  expect(oneJson(elsewhere)).toEqual({ pipelines: [] });
});

test("a failed embedded run prints one line, its worker's logs go to the data dir's log file", async () => {
  const cwd = tmp();
  const state = path.join(cwd, 'state');
  const exit = await cli(['run', '--source', notFound.url], { cwd, env: baseEnv({ ORDERS_ETL_DATA_DIR: state }) });
  expect(exit.code).toBe(1);
  expect(exit.stdout).toBe('');
  const log = path.join(state, 'orders-etl.log');
  // Progress lines, then the outcome: no log line (JSON, task tokens, stacks) of the in-process worker.
  for (const line of lines(exit)) expect(line).toMatch(/^orders-etl: (started |starting$|plan$|partitions|failed$|the run failed: )/);
  expect(lines(exit).at(-1)).toBe(`orders-etl: the run failed: ${notFoundError()} (details in ${log})`);
  noStack(exit.stderr);
  expect(existsSync(log)).toBe(true);
  expect(readFileSync(log, 'utf8')).toContain('HTTP 404');
});

test('progress lines speak in each stage’s units, and name the load a waiting run waits for', () => {
  const base = { loadId: 'L2', since: null, pages: 4 };
  const at = (detail: unknown, attempt = 1, lastFailure?: string) => ({ detail, attempt, lastFailure });
  const partitions = { total: 7, done: 2, running: 3, chosen: '7 byte ranges of the JSONL file (asked for 7)', parallelism: 3 };
  expect(progressText({ ...base, stage: 'partitions', partitions }, at({ pages: 3, records: 1500, bytes: 9, cursor: 'c', done: false }))).toBe('partitions: 2 of 7 done, 3 running, 4 pages read');
  // The pages of finished extracts (the query's) plus those the running extracts heartbeated.
  expect(progressText({ ...base, stage: 'partitions', partitions }, { ...at(undefined), extractPages: 5 })).toBe('partitions: 2 of 7 done, 3 running, 9 pages read');
  expect(progressText({ ...base, stage: 'partitions', partitions }, at({ pages: 1, records: 500 }, 3, 'GET …: HTTP 503'))).toBe('partitions: 2 of 7 done, 3 running, 4 pages read (attempt 3: GET …: HTTP 503)');
  expect(planText(partitions)).toBe('partitions: 7 byte ranges of the JSONL file (asked for 7); 3 at a time');
  expect(progressText({ ...base, stage: 'stage' }, at('fact_sales'))).toBe('stage: writing fact_sales (table 4 of 5)');
  expect(progressText({ ...base, stage: 'load' }, at('merging'))).toBe('load: merging');
  expect(progressText({ ...base, stage: 'load' }, at(undefined))).toBe('load');
  const heldBy = { workflowId: 'orders-etl-a-1', runId: 'r1', pipelineId: 'a', loadId: 'L1' };
  expect(progressText({ ...base, stage: 'waiting', heldBy })).toBe('waiting for orders-etl-a-1 (pipeline a, load L1) to finish loading');
  expect(progressText({ ...base, stage: 'done' })).toBe('done');
});

test('a real run reports every stage in its own units, never "N records extracted" again', async () => {
  const cwd = tmp();
  const fixture = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
  const orders = JSON.parse(readFileSync(path.join(fixture, 'api_orders.json'), 'utf8')) as { order_id: string }[];
  // 30 copies under new ids: enough pages that the stages after the extract are seen while they run.
  const source = path.join(cwd, 'orders.jsonl');
  writeFileSync(source, Array.from({ length: 30 }, (_, k) => orders.map((o) => JSON.stringify({ ...o, order_id: `${o.order_id}-${k}` })).join('\n')).join('\n') + '\n');
  const exit = await cli(['run', '--source', source, '--users', path.join(fixture, 'users.csv'), '--products', path.join(fixture, 'products.csv')], {
    cwd,
    env: baseEnv({ ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') }),
  });
  // A failed run shows why.
  expect([exit.code, exit.code === 0 ? '' : exit.stderr]).toEqual([0, '']);
  const progress = lines(exit).slice(2); // after "started an embedded …" and "started <workflowId> …"
  const forms = [/^starting$/, /^plan$/, /^partitions: 1 byte range of the JSONL file \(by size: one per 32 MiB of \d+ bytes\); 1 at a time$/, /^partitions(: [01] of 1 done, [01] running, \d+ pages read)?$/, /^stage(: writing \w+ \(table [1-5] of 5\))?$/, /^load(: .+)?$/, /^done$/];
  expect(progress.filter((line) => !forms.some((form) => form.test(line.replace(/^orders-etl: /, ''))))).toEqual([]);
  expect(progress.filter((line) => /^orders-etl: (partitions|stage|load)/.test(line))).not.toEqual([]);
});

test('schedule trigger prints the run it started', async () => {
  const cwd = tmp();
  const env = baseEnv({ TEMPORAL_ADDRESS: temporalAddress(), TEMPORAL_TASK_QUEUE: worker.taskQueue, ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') });
  const source = path.join(cwd, 'orders.jsonl');
  writeFileSync(source, '{"order_id":"o-1","user_id":"u-1","created_at":"2025-01-01T00:00:00Z","items":[]}\n');
  const flags = ['--source', source, '--lake', path.join(cwd, 'lake'), '--id', `ops-trigger-${randomUUID()}`];
  expect((await cli(['schedule', 'create', '--every', '1h', '--paused', ...flags], { cwd, env })).code).toBe(0);
  try {
    const trigger = await cli(['schedule', 'trigger', ...flags], { cwd, env });
    expect(trigger.code).toBe(0);
    const [, workflowId, runId] = /^orders-etl: triggered \S+: started (\S+) \(run ([0-9a-f-]{36})\)$/.exec(trigger.stderr.trimEnd())!;
    const run = client.workflow.getHandle(workflowId, runId);
    expect((await run.describe()).runId).toBe(runId);
    await run.result();
  } finally {
    await cli(['schedule', 'delete', ...flags], { cwd, env });
  }
});

test('report escapes control characters: a newline or an ANSI escape never breaks the table or reaches the terminal', async () => {
  expect(formatTable([{ sku: 'a\nb', name: '\u001b[31mred\u001b[0m', n: 1 }, { sku: 'tab\there', name: 'ok', n: 22 }])).toBe(
    [
      'sku        name                     n',
      '---------  ----------------------  --',
      'a\\nb       \\u001b[31mred\\u001b[0m   1',
      'tab\\there  ok                      22',
      '',
    ].join('\n'),
  );

  const cwd = tmp();
  const env = baseEnv({ ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') });
  const source = path.join(cwd, 'orders.jsonl');
  const order = { order_id: 'o-1', user_id: 'u\n1', created_at: '2025-01-01T00:00:00Z', items: [{ sku: 'sku\u001b[2J', qty: 1, price: '2.50' }] };
  writeFileSync(source, `${JSON.stringify(order)}\n`);
  expect((await cli(['run', '--source', source], { cwd, env })).code).toBe(0);
  const report = await cli(['report'], { cwd, env });
  expect(report.code).toBe(0);
  expect(report.stdout).not.toContain('\u001b');
  expect(report.stdout).toMatch(/^u\\n1 +\s/m); // top users: the user id, escaped, on its own row
  expect(report.stdout).toMatch(/^sku\\u001b\[2J +\s/m); // top products: the sku
});
