import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { baseEnv, cli, CLI, noStack, oneJson, type Exit } from './support/cli-process';
import { eventually } from './support/ops-cli';
import { ROOT, startTestWorker, temporalAddress, testClient, type RunningWorker } from './support/temporal';

/**
 * The command line as users run it: `node dist/client.js` in a child process (`npm test` builds dist/ first).
 * Without TEMPORAL_ADDRESS, `run` and `status` bring their own embedded dev server; with it, `run` is a plain
 * client of that server. User errors are one line on stderr, exit code 1, no stack trace.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const SOURCE = path.join(FIXTURE, 'api_orders.json');
const fixtureFlags = ['--source', SOURCE, '--users', path.join(FIXTURE, 'users.csv'), '--products', path.join(FIXTURE, 'products.csv')];

const cents = (value: unknown) => Math.round(Number(value) * 100);

let client: Client;
let closeClient: () => Promise<void>;
let worker: RunningWorker;

beforeAll(async () => {
  expect(existsSync(CLI)).toBe(true);
  ({ client, close: closeClient } = await testClient());
  worker = await startTestWorker();
});
afterAll(async () => {
  await worker?.stop();
  await closeClient?.();
});

test('run with an embedded server, then report and status, from a clean directory', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'orders-etl-cli-'));
  const dataDir = path.join(cwd, 'state');
  const env = baseEnv({ ORDERS_ETL_DATA_DIR: dataDir });

  const run = await cli(['run', ...fixtureFlags, '--json'], { cwd, env });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  noStack(run.stderr);
  const result = oneJson(run) as Record<string, unknown>;
  expect(result).toMatchObject({
    extracted: 1000,
    duplicates: 199,
    rejected: 6,
    ordersLoaded: 795,
    linesLoaded: 2026,
    since: null,
    watermark: '2025-12-31T23:03:38Z',
  });
  expect(result.loadId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{12}$/);
  expect(existsSync(path.join(dataDir, 'warehouse.duckdb'))).toBe(true);

  const report = await cli(['report', '--json'], { cwd, env });
  expect(report.code).toBe(0);
  const queries = oneJson(report) as { name: string; title: string; rows: Record<string, unknown>[] }[];
  expect(queries.map((q) => q.name)).toEqual(['01_top_users', '02_top_products', '03_revenue_by_country', '04_sales_by_channel']);
  for (const q of queries) expect(q.title.length).toBeGreaterThan(0);
  const [topUsers, topProducts, byCountry, byChannel] = queries.map((q) => q.rows);
  expect(topUsers).toHaveLength(10);
  expect(topProducts).toHaveLength(10);
  // Revenue by country adds up to every line amount; sales by channel to every order and its total.
  expect(byCountry.reduce((sum, r) => sum + cents(r.revenue), 0)).toBe(40279059);
  expect(byChannel.reduce((sum, r) => sum + Number(r.orders), 0)).toBe(795);
  expect(byChannel.reduce((sum, r) => sum + cents(r.total_amount), 0)).toBe(40279059);
  const bySource: Record<string, number> = {};
  for (const r of byChannel) bySource[String(r.source)] = (bySource[String(r.source)] ?? 0) + Number(r.orders);
  expect(bySource).toEqual({ api: 204, mobile: 229, unknown: 157, web: 205 });

  const status = await cli(['status', '--json'], { cwd, env });
  expect(status.code).toBe(0);
  noStack(status.stderr);
  const { pipelines } = oneJson(status) as { pipelines: { pipelineId: string; source: string; watermark: string; runs: Record<string, unknown>[] }[] };
  expect(pipelines).toHaveLength(1);
  expect(pipelines[0]).toMatchObject({ pipelineId: result.pipelineId, source: SOURCE, watermark: '2025-12-31T23:03:38.000Z' });
  expect(pipelines[0].runs).toHaveLength(1);
  expect(pipelines[0].runs[0]).toMatchObject({ status: 'COMPLETED', extracted: 1000, loaded: 795, rejected: 6, watermark: '2025-12-31T23:03:38.000Z' });
});

test('with TEMPORAL_ADDRESS set, run is a plain client of that server and its workers', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'orders-etl-cli-'));
  const env = baseEnv({ TEMPORAL_ADDRESS: temporalAddress(), TEMPORAL_TASK_QUEUE: worker.taskQueue, ORDERS_ETL_DATA_DIR: path.join(cwd, 'state') });
  const run = await cli(['run', ...fixtureFlags, '--page-size', '250', '--json'], { cwd, env });
  expect(run.code).toBe(0);
  expect(run.stderr).not.toContain('embedded');
  const result = oneJson(run) as { pipelineId: string; loadId: string };
  expect(result).toMatchObject({ extracted: 1000, duplicates: 199, rejected: 6, ordersLoaded: 795, linesLoaded: 2026, watermark: '2025-12-31T23:03:38Z' });
  // The run is on the suite's server, done by this process's worker (no server was started in the child).
  expect(existsSync(path.join(cwd, 'state', 'temporal-embedded.db'))).toBe(false);
  const runs = await eventually('the run in visibility', 30_000, async () => {
    const found = [];
    for await (const execution of client.workflow.list({ query: `PipelineId = '${result.pipelineId}'` })) found.push(execution);
    return found.length > 0 && found.every((e) => e.status.name !== 'RUNNING') ? found : undefined;
  });
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatchObject({ taskQueue: worker.taskQueue, status: { name: 'COMPLETED' } });
  expect(runs[0].searchAttributes.LoadId).toEqual([result.loadId]);
});

describe('user errors are one line on stderr, exit code 1, no stack trace', () => {
  const cases: [string, string[], RegExp][] = [
    ['a missing source file', ['run', '--source', '/nonexistent.json'], /nonexistent\.json/],
    ['a --since that is not an instant', ['run', '--since', 'yesterday'], /--since/],
    ['an unknown warehouse', ['run', '--warehouse', 'postgres:x'], /--warehouse/],
    ['a fail rate above 1', ['api', '--orders', 'x', '--fail-rate', '2'], /--fail-rate/],
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown option', ['run', '--bogus'], /unknown option '--bogus'/],
    ['a status --limit that is not a plain integer', ['status', '--limit', '1e3'], /--limit must be an integer from 1 to 1000, got "1e3"/],
  ];
  // Started together: each is a short-lived process, mostly module loading.
  let exits: Promise<Exit[]>;
  beforeAll(() => {
    exits = Promise.all(cases.map(([, args]) => cli(args, { cwd: mkdtempSync(path.join(tmpdir(), 'orders-etl-cli-')), env: baseEnv(), timeoutMs: 90_000 })));
  });
  test.each(cases.map((c, i) => [...c, i] as const))('%s', async (_what, _args, mentions, i) => {
    const exit = (await exits)[i];
    expect(exit.code).toBe(1);
    expect(exit.stdout).toBe('');
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^orders-etl: /);
    expect(lines[0]).toMatch(mentions);
    noStack(exit.stderr);
  });
});

test('--help exits 0 with usage on stdout, for the program and its commands', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'orders-etl-cli-'));
  const [top, run, schedule] = await Promise.all([
    cli(['--help'], { cwd, env: baseEnv() }),
    cli(['run', '--help'], { cwd, env: baseEnv() }),
    cli(['schedule', 'create', '--help'], { cwd, env: baseEnv() }),
  ]);
  for (const exit of [top, run, schedule]) {
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
  }
  expect(top.stdout).toMatch(/^Usage: orders-etl/);
  for (const command of ['run', 'server', 'worker', 'api', 'schedule', 'status', 'report']) expect(top.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  expect(run.stdout).toContain('--source');
  expect(run.stdout).toContain('--json');
  expect(schedule.stdout).toContain('--every');
});
