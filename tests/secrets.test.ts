import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import { fileStore } from '../activities/extract/orders-store';
import { baseEnv, cli, noStack, oneJson, spawnCli, type CliProcess, type Exit } from './support/cli-process';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from './support/ops-smtp';
import { ROOT, temporalAddress, testClient } from './support/temporal';

/**
 * Secrets never leave the worker's environment. A run is refused with credentials in its source URL; an API
 * behind a token and a header is read with ORDERS_API_TOKEN and ORDERS_API_HEADERS; a failed run alerts over an
 * SMTP server that needs a password. Then every output is searched for the planted secrets: the CLI's stdout and
 * stderr, the worker's logs (at debug), every lake object, the runs' Temporal histories, search attributes and
 * memos, and the alert as the SMTP server received it.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const SECRETS = { urlPassword: 'url-pw-Q7x2', token: 'tok-K9m4', header: 'hdr-Z3p8', smtpPassword: 'smtp-pw-V5d1' };

let client: Client;
let closeClient: () => Promise<void>;
let api: OrdersApiServer;
let otherApi: OrdersApiServer;
let smtp: SmtpSink;

beforeAll(async () => {
  ({ client, close: closeClient } = await testClient());
  const orders = fileStore(path.join(FIXTURE, 'api_orders.json'));
  api = await startOrdersApi({ orders, requireHeaders: { authorization: `Bearer ${SECRETS.token}`, 'x-api-key': SECRETS.header } });
  otherApi = await startOrdersApi({ orders, requireHeaders: { authorization: 'Bearer the-token-of-another-api' } });
  smtp = await startSmtpSink({ auth: { user: 'alerts', pass: SECRETS.smtpPassword } });
});
afterAll(async () => {
  await api?.close();
  await otherApi?.close();
  await smtp?.close();
  await closeClient?.();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(entry.parentPath, entry.name);
    return entry.isDirectory() ? filesUnder(file) : [file];
  });
}

/** A history as text, its payloads (workflow input, results, memo, search attributes, details) decoded from base64. */
function historyText(history: unknown): string {
  return JSON.stringify(history, (key, value: unknown) => (key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value));
}

const startedWorkflow = (exit: Exit) => /started (orders-etl-\S+) \(pipeline/.exec(exit.stderr)?.[1];

test('planted secrets reach no output, log, lake object, history, search attribute, memo or alert', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'orders-etl-secrets-'));
  const lake = path.join(cwd, 'lake');
  const env = baseEnv({
    TEMPORAL_ADDRESS: temporalAddress(),
    TEMPORAL_TASK_QUEUE: `secrets-${randomUUID()}`,
    ORDERS_ETL_DATA_DIR: path.join(cwd, 'state'),
    ORDERS_ETL_LAKE: lake,
    ORDERS_ETL_WAREHOUSE: `duckdb:${path.join(cwd, 'warehouse.duckdb')}`,
    ORDERS_API_TOKEN: SECRETS.token,
    ORDERS_API_HEADERS: JSON.stringify({ 'X-Api-Key': SECRETS.header }),
    ALERT_SMTP_URL: `smtp://alerts:${SECRETS.smtpPassword}@127.0.0.1:${smtp.port}`,
    ALERT_EMAIL_TO: 'ops@example.com',
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json',
  });
  const reference = ['--users', path.join(FIXTURE, 'users.csv'), '--products', path.join(FIXTURE, 'products.csv')];
  const worker: CliProcess = spawnCli(['worker'], { cwd, env, timeoutMs: 240_000 });
  let workerExit: Exit | undefined;
  try {
    await worker.waitForStderr(/worker polling/);

    // Credentials in the URL: refused before anything starts, in one line that names the way to authenticate.
    const refused = await cli(['run', '--source', `http://ann:${SECRETS.urlPassword}@127.0.0.1:${api.port}/`, ...reference], { cwd, env });
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      `orders-etl: the source URL http://127.0.0.1:${api.port}/ holds credentials: remove them and set ORDERS_API_TOKEN (sent as a Bearer token) ` +
        'or ORDERS_API_HEADERS (a JSON object of headers) where the worker runs\n',
    );

    // The worker authenticates from its environment: the API, which answers 401 to anything else, serves it.
    const loaded = await cli(['run', '--source', api.url, ...reference, '--json'], { cwd, env });
    expect(loaded.code).toBe(0);
    expect(oneJson(loaded)).toMatchObject({ extracted: 1000, ordersLoaded: 795, linesLoaded: 2026 });
    expect(api.stats.get(401)).toBeUndefined();
    expect(api.stats.get(200)).toBe(3); // the preflight's GET /health, then 1,000 records in pages of 500

    // An API that wants another token: the run fails at once, and the alert goes out over the password-protected SMTP server.
    const failed = await cli(['run', '--source', otherApi.url, ...reference], { cwd, env });
    expect(failed.code).toBe(1);
    expect(failed.stderr.trimEnd().split('\n').at(-1)).toBe(
      `orders-etl: the run failed: GET ${otherApi.url}/orders?limit=500: HTTP 401 {"error":"missing or wrong credentials"}`,
    );
    noStack(failed.stderr);
    const [mail] = await smtp.waitFor(1, 60_000);
    expect(mail.text).toContain('Error: GET');
    expect(mail.text).toContain('HTTP 401');

    worker.child.kill('SIGTERM');
    workerExit = await worker.exited;
    const runs = [startedWorkflow(loaded), startedWorkflow(failed)];
    expect(runs.every(Boolean)).toBe(true);
    const histories = await Promise.all(runs.map(async (id) => historyText(await client.workflow.getHandle(id!).fetchHistory())));
    const described = await Promise.all(runs.map(async (id) => JSON.stringify(await client.workflow.getHandle(id!).describe(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))));
    const lakeFiles = filesUnder(lake);
    const outputs: [string, string][] = [
      ...[refused, loaded, failed].flatMap((exit, i): [string, string][] => [[`CLI stdout ${i}`, exit.stdout], [`CLI stderr ${i}`, exit.stderr]]),
      ['worker logs', workerExit.stderr],
      ['worker stdout', workerExit.stdout],
      ...lakeFiles.map((file): [string, string] => [file, readFileSync(file).toString('latin1')]),
      ...histories.map((text, i): [string, string] => [`history of ${runs[i]}`, text]),
      ...described.map((text, i): [string, string] => [`search attributes and memo of ${runs[i]}`, text]),
      ...smtp.messages.map((m: ReceivedMail, i): [string, string] => [`alert email ${i}`, m.raw]),
    ];

    // The places searched hold what they should: the grep below would see a secret if one were there.
    expect(workerExit.stderr).toContain(`"msg":"worker polling"`);
    expect(workerExit.stderr).toContain('HTTP 401');
    expect(workerExit.stderr).toContain(`"smtp":"smtp://alerts:***@127.0.0.1:${smtp.port}"`); // logged, redacted
    expect(histories[0].includes(api.url)).toBe(true); // only in its payloads: they were decoded
    expect(histories[1].includes('HTTP 401')).toBe(true);
    expect(lakeFiles.filter((f) => f.includes(`${path.sep}raw${path.sep}`)).length).toBeGreaterThan(0);
    expect(described[0].includes(api.url)).toBe(true); // the memo

    const leaks = outputs.flatMap(([where, text]) => Object.entries(SECRETS).filter(([, secret]) => text.includes(secret)).map(([name]) => `${name} in ${where}`));
    expect(leaks).toEqual([]);
  } finally {
    if (!workerExit) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  }
});
