import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import { fileStore } from '../activities/extract/orders-store';
import { DatabaseInUseError, startDevServer } from '../dev/dev-server';
import { baseEnv, cli, noStack, oneJson, spawnCli, type CliProcess } from './support/cli-process';
import { eventually } from './support/ops-cli';
import { ROOT, startTestWorker, temporalAddress, testClient, type RunningWorker } from './support/temporal';

/**
 * Interrupting `run` (issue 8, #6 and #7), on real processes: `node dist/client.js run` children, each with
 * its own data dir (so its own embedded Temporal history), against the bundled Orders API serving the fixture
 * slowly (10 records a page, 300 ms a page: a full extract lasts over 30 s, long enough to interrupt).
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const REFERENCE = ['--users', path.join(FIXTURE, 'users.csv'), '--products', path.join(FIXTURE, 'products.csv')];
/** The fixture's full extract, as the clean run in cli.test.ts loads it. */
const FULL_LOAD = { since: null, extracted: 1000, duplicates: 199, rejected: 6, ordersLoaded: 795, linesLoaded: 2026, watermark: '2025-12-31T23:03:38Z' };

let api: OrdersApiServer;
beforeAll(async () => {
  api = await startOrdersApi({ orders: fileStore(path.join(FIXTURE, 'api_orders.json')), latencyMs: 300 });
});
afterAll(async () => {
  await api?.close();
});

function newDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'orders-etl-interrupt-'));
}

const embeddedEnv = (dataDir: string) => baseEnv({ ORDERS_ETL_DATA_DIR: dataDir });

function run(env: NodeJS.ProcessEnv, pageSize: number): CliProcess {
  return spawnCli(['run', '--source', api.url, ...REFERENCE, '--page-size', String(pageSize), '--json'], { cwd: newDataDir(), env });
}

/** Waits for the run to be extracting, then signals it; the workflow id and when the signal went. */
async function interruptMidExtract(child: CliProcess, signal: NodeJS.Signals): Promise<{ workflowId: string; at: number }> {
  const [, workflowId] = await child.waitForStderr(/started (orders-etl-\S+) \(pipeline/);
  await child.waitForStderr(/partitions: 0 of 1 done, 1 running, [1-9]\d* pages read/);
  child.child.kill(signal);
  return { workflowId, at: Date.now() };
}

/** What follows the "cancelling" line: the command's last words. */
function linesAfterCancelling(stderr: string, workflowId: string): string[] {
  const lines = stderr.trimEnd().split('\n');
  const cancelling = lines.findIndex((line) => line.startsWith(`orders-etl: cancelling run ${workflowId}: `));
  expect(cancelling).toBeGreaterThan(0); // after the progress lines
  return lines.slice(cancelling + 1);
}

/** Processes whose command line names the data dir: the embedded dev server and its supervisor, while they live. */
function processesUsing(dataDir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(dataDir));
}

const embeddedDb = (dataDir: string) => path.join(dataDir, 'temporal-embedded.db');

/** Opens the embedded history with a dev server of the test's own (once the last session's server is gone). */
async function withEmbeddedHistory<T>(dataDir: string, work: (client: Client) => Promise<T>): Promise<T> {
  const server = await eventually('the embedded history to be free', 30_000, () =>
    startDevServer({ dbFile: embeddedDb(dataDir), headless: true }).catch((err: unknown) => {
      if (err instanceof DatabaseInUseError) return undefined;
      throw err;
    }),
  );
  const connection = await Connection.connect({ address: server.address });
  try {
    return await work(new Client({ connection }));
  } finally {
    await connection.close();
    await server.stop();
  }
}

async function statusesIn(client: Client, query: string): Promise<Record<string, string>> {
  const statuses: Record<string, string> = {};
  for await (const execution of client.workflow.list({ query })) statuses[execution.workflowId] = execution.status.name;
  return statuses;
}

test('Ctrl-C cancels an embedded run and exits 130 leaving nothing behind; the next run loads everything', async () => {
  const dataDir = newDataDir();
  const interrupted = run(embeddedEnv(dataDir), 10);
  const { workflowId, at } = await interruptMidExtract(interrupted, 'SIGINT');
  const exit = await interrupted.exited;

  expect({ code: exit.code, stdout: exit.stdout }).toEqual({ code: 130, stdout: '' });
  expect(linesAfterCancelling(exit.stderr, workflowId)).toEqual([`orders-etl: interrupted: run ${workflowId} cancelled`]);
  noStack(exit.stderr);
  expect(Date.now() - at).toBeLessThan(25_000);
  expect(processesUsing(dataDir)).toEqual([]);
  expect(existsSync(`${embeddedDb(dataDir)}.lock`)).toBe(false);

  // The interrupted run loaded nothing and moved no watermark: the next one is a full extract.
  const next = await cli(['run', '--source', api.url, ...REFERENCE, '--page-size', '200', '--json'], { cwd: dataDir, env: embeddedEnv(dataDir) });
  expect(next.code).toBe(0);
  expect(oneJson(next)).toMatchObject(FULL_LOAD);
  expect(next.stderr).not.toContain('terminated'); // nothing was left running
  const [, nextWorkflowId] = /started (orders-etl-\S+) \(pipeline/.exec(next.stderr)!;
  expect(processesUsing(dataDir)).toEqual([]);

  const [statuses, running] = await withEmbeddedHistory(dataDir, (client) =>
    Promise.all([statusesIn(client, `WorkflowType = 'ordersEtl'`), statusesIn(client, `ExecutionStatus = 'Running'`)]),
  );
  expect(statuses).toEqual({ [workflowId]: 'CANCELLED', [nextWorkflowId]: 'COMPLETED' });
  expect(running).toEqual({}); // a session leaves nothing open behind it, not even a warehouse lock
});

test('SIGTERM exits 143; a second signal stops waiting for the cancellation and terminates the run', async () => {
  const dataDir = newDataDir();
  const interrupted = run(embeddedEnv(dataDir), 10);
  const { workflowId } = await interruptMidExtract(interrupted, 'SIGTERM');
  // Apart, so they arrive in this order (two signals pending at once are delivered lowest number first).
  await new Promise((resolve) => setTimeout(resolve, 200));
  interrupted.child.kill('SIGINT');
  const exit = await interrupted.exited;

  expect({ code: exit.code, stdout: exit.stdout }).toEqual({ code: 143, stdout: '' });
  expect(linesAfterCancelling(exit.stderr, workflowId)).toEqual([`orders-etl: interrupted: run ${workflowId} terminated (interrupted again)`]);
  noStack(exit.stderr);
  expect(processesUsing(dataDir)).toEqual([]);

  const statuses = await withEmbeddedHistory(dataDir, (client) => statusesIn(client, `WorkflowType = 'ordersEtl'`));
  expect(statuses).toEqual({ [workflowId]: 'TERMINATED' });
});

test('a killed embedded run leaves workflows running: the next session terminates them, whatever their type, and runs only its own', async () => {
  const dataDir = newDataDir();
  const killed = run(embeddedEnv(dataDir), 10);
  const { workflowId } = await interruptMidExtract(killed, 'SIGKILL');
  expect((await killed.exited).code).toBe(null);

  // Another leftover, of the lock workflow's type, on a task queue nobody polls any more.
  await withEmbeddedHistory(dataDir, async (client) => {
    await client.workflow.start('warehouseLock', { taskQueue: 'orders-etl-gone', workflowId: 'leftover-lock', args: [] });
    const running = await eventually('both leftovers in visibility', 10_000, async () => {
      const found = await statusesIn(client, `ExecutionStatus = 'Running'`);
      return Object.keys(found).length >= 2 ? found : undefined;
    });
    expect(running).toEqual({ [workflowId]: 'RUNNING', 'leftover-lock': 'RUNNING' });
  });

  const next = await cli(['run', '--source', api.url, ...REFERENCE, '--page-size', '200', '--json'], { cwd: dataDir, env: embeddedEnv(dataDir) });
  expect(next.code).toBe(0);
  expect(oneJson(next)).toMatchObject(FULL_LOAD);
  expect(next.stderr).toContain(`orders-etl: terminated ${workflowId} (ordersEtl), left running by an earlier session\n`);
  expect(next.stderr).toContain('orders-etl: terminated leftover-lock (warehouseLock), left running by an earlier session\n');
  noStack(next.stderr);
  const [, nextWorkflowId] = /started (orders-etl-\S+) \(pipeline/.exec(next.stderr)!;

  const statuses = await withEmbeddedHistory(dataDir, (client) => statusesIn(client, `WorkflowId = '${workflowId}' OR WorkflowId = 'leftover-lock' OR WorkflowId = '${nextWorkflowId}'`));
  expect(statuses).toEqual({ [workflowId]: 'TERMINATED', 'leftover-lock': 'TERMINATED', [nextWorkflowId]: 'COMPLETED' });
});

test('a second embedded run while one is active says so in one line and exits 1; the first completes', async () => {
  const dataDir = newDataDir();
  const first = run(embeddedEnv(dataDir), 50);
  await first.waitForStderr(/started orders-etl-\S+ \(pipeline/);

  const second = await cli(['run', '--json'], { cwd: dataDir, env: embeddedEnv(dataDir) });
  expect({ code: second.code, stdout: second.stdout }).toEqual({ code: 1, stdout: '' });
  expect(second.stderr).toBe(
    `orders-etl: another orders-etl command (pid ${first.child.pid}) is using the embedded Temporal server's history ${embeddedDb(dataDir)}: ` +
      'wait for it to finish, or start "orders-etl server" and set TEMPORAL_ADDRESS (e.g. localhost:7233) to run several at once\n',
  );

  const exit = await first.exited;
  expect(exit.code).toBe(0);
  expect(oneJson(exit)).toMatchObject(FULL_LOAD);
  noStack(exit.stderr);
  expect(processesUsing(dataDir)).toEqual([]);
});

describe('with TEMPORAL_ADDRESS set', () => {
  let worker: RunningWorker;
  beforeAll(async () => {
    worker = await startTestWorker();
  });
  afterAll(async () => {
    await worker?.stop();
  });

  test('Ctrl-C cancels the run on the server and exits 130', async () => {
    const env = baseEnv({ TEMPORAL_ADDRESS: temporalAddress(), TEMPORAL_TASK_QUEUE: worker.taskQueue, ORDERS_ETL_DATA_DIR: newDataDir() });
    const interrupted = run(env, 10);
    const { workflowId, at } = await interruptMidExtract(interrupted, 'SIGINT');
    const exit = await interrupted.exited;

    expect({ code: exit.code, stdout: exit.stdout }).toEqual({ code: 130, stdout: '' });
    expect(linesAfterCancelling(exit.stderr, workflowId)).toEqual([`orders-etl: interrupted: run ${workflowId} cancelled`]);
    noStack(exit.stderr);
    // This worker sends heartbeats at most every 16 s (80% of the extract's heartbeat timeout): cancellation comes with one.
    expect(Date.now() - at).toBeLessThan(25_000);
    const { client, close } = await testClient();
    try {
      expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('CANCELLED');
    } finally {
      await close();
    }
  });
});
