import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ordersFileKind } from '../activities/extract/orders-store';
import { baseEnv, cli, noStack, oneJson, type CliOptions } from './support/cli-process';
import { ROOT } from './support/temporal';

/**
 * Bad ground fails before the run starts (issue 10): `node dist/client.js` as users run it, each with its own
 * data dir, and each failure one line on stderr, exit 1. "Before the run starts" is seen on disk, not timed (a
 * busy CI machine takes seconds to start any process): no embedded Temporal server was started (its history file
 * never appears) and the lake was not created.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const SOURCE = path.join(FIXTURE, 'api_orders.json');
const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-preflight-'));
const file = (name: string, content: string | Buffer): string => {
  writeFileSync(path.join(dir, name), content);
  return path.join(dir, name);
};

/** Answers every request, /health included, with 404: a web server that is not an Orders API. */
let notAnApi: http.Server;
let notAnApiUrl: string;
/** A port nothing listens on. */
let closedPortUrl: string;

beforeAll(async () => {
  const listen = async (server: http.Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  notAnApi = http.createServer((_req, res) => res.writeHead(404).end('not found'));
  notAnApiUrl = await listen(notAnApi);
  const closed = http.createServer();
  closedPortUrl = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
});
afterAll(() => new Promise((resolve) => notAnApi?.close(resolve)));

// The AWS SDK's multi-line notice about Node 20 (emitted from December 2026 on, whatever the command) is not ours to test here.
const REDSHIFT_ENV = { REDSHIFT_WORKGROUP: 'analytics', REDSHIFT_DATABASE: 'dev', REDSHIFT_IAM_ROLE: 'arn:aws:iam::123456789012:role/copy', AWS_REGION: 'eu-west-1' };

/** A read-only filesystem: a tmpfs mounted `ro` in a mount namespace of the CLI's own (a real EROFS, even for root). */
const readOnlyMount = path.join(dir, 'read-only');
mkdirSync(readOnlyMount);
const onReadOnlyMount: Partial<CliOptions> = {
  wrapper: ['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', `mount -t tmpfs -o ro tmpfs '${readOnlyMount}' && exec "$@"`, 'sh'],
};

type Case = [what: string, args: string[], line: RegExp, options?: Partial<CliOptions>];
const cases: Case[] = [
  ['a lake under /proc (Node would spin in a recursive mkdir)', ['run', '--lake', '/proc/orders-lake'], /^the lake \/proc\/orders-lake is under \/proc, a pseudo-filesystem of the kernel \(proc\): choose a directory on a disk$/],
  ['a lake under /sys', ['run', '--lake', '/sys/fs/cgroup/orders-lake'], /^the lake \/sys\/fs\/cgroup\/orders-lake is under \/sys\/fs\/cgroup, a pseudo-filesystem of the kernel/],
  ['a lake on a read-only filesystem', ['run', '--lake', path.join(readOnlyMount, 'lake')], new RegExp(`^the lake ${readOnlyMount}/lake is on a read-only filesystem$`), onReadOnlyMount],
  ['a lake below a file', ['run', '--lake', path.join(SOURCE, 'lake')], new RegExp(`^the lake ${SOURCE}/lake cannot be a directory: ${SOURCE} is a file$`)],
  ['a DuckDB file under /proc', ['run', '--warehouse', 'duckdb:/proc/x.duckdb'], /^the warehouse file \/proc\/x\.duckdb is under \/proc, a pseudo-filesystem of the kernel \(proc\)/],
  ['a DuckDB file on a read-only filesystem', ['run', '--warehouse', `duckdb:${readOnlyMount}/w.duckdb`], new RegExp(`^the warehouse file ${readOnlyMount}/w\\.duckdb is on a read-only filesystem$`), onReadOnlyMount],
  ['duckdb: without a path (once the current directory)', ['run', '--warehouse', 'duckdb:'], /^--warehouse duckdb: needs a file path, e\.g\. duckdb:\.\/data\/warehouse\.duckdb$/],
  ['a DuckDB path that is a directory', ['run', '--warehouse', `duckdb:${dir}`], new RegExp(`^the warehouse file ${dir} is a directory: give a file path, e\\.g\\. duckdb:${dir}/warehouse\\.duckdb$`)],
  ['a source that is a directory', ['run', '--source', dir], new RegExp(`^the source ${dir} is a directory, not a JSON or JSONL file of orders$`)],
  [
    'a pretty-printed {"data": [...]} file',
    ['run', '--source', file('pretty.json', JSON.stringify({ data: JSON.parse(readFileSync(SOURCE, 'utf8')).slice(0, 3) }, null, 2))],
    new RegExp(`^the source ${dir}/pretty\\.json is one JSON object over several lines \\(its first key is "data"\\), not a JSON array or JSONL of orders: give the array of orders itself$`),
  ],
  ['a binary (gzipped) file', ['run', '--source', file('orders.json.gz', gzipSync(readFileSync(SOURCE)))], new RegExp(`^the source ${dir}/orders\\.json\\.gz is a binary file \\(a NUL byte at byte \\d+\\), not JSON or JSONL of orders$`)],
  ['a Latin-1 file', ['run', '--source', file('latin1.jsonl', Buffer.from('{"order_id": "café"}\n', 'latin1'))], /is not UTF-8 text \(a binary or compressed file\?\), not JSON or JSONL of orders$/],
  ['a CSV file as the source', ['run', '--source', file('orders.csv', 'order_id,user_id\nA1,U1\n')], /orders\.csv is not JSON or JSONL of orders: no line of its start is JSON \(it begins "order_id,user_id"\)$/],
  ['an HTTP source whose /health is not 200', ['run', '--source', 'NOT_AN_API'], /^the source API answered GET http:\/\/127\.0\.0\.1:\d+\/health with HTTP 404, not 200: is http:\/\/127\.0\.0\.1:\d+ an Orders API\?$/],
  ['an HTTP source that does not answer', ['run', '--source', 'CLOSED_PORT'], /^the source API does not answer GET http:\/\/127\.0\.0\.1:\d+\/health: ECONNREFUSED$/],
  ['Redshift with a local lake', ['run', '--warehouse', 'redshift', '--lake', path.join(dir, 'lake')], new RegExp(`^--warehouse redshift loads with COPY from S3: --lake must be s3://bucket/prefix, got "${dir}/lake"$`), { env: baseEnv(REDSHIFT_ENV) }],
  ['a users file without user_id', ['run', '--source', SOURCE, '--users', file('users.csv', 'id,email\nU1,a@example.com\n')], new RegExp(`^--users ${dir}/users\\.csv: the users file has no "user_id" column$`)],
  ['a products file without sku', ['run', '--source', SOURCE, '--products', file('products.csv', 'code,name\nP1,Pen\n')], new RegExp(`^--products ${dir}/products\\.csv: the products file has no "sku" column$`)],
  ['schedule create onto a lake under /proc', ['schedule', 'create', '--every', '15m', '--lake', '/proc/orders-lake'], /^the lake \/proc\/orders-lake is under \/proc/],
  // The same strict parsers for every instant and number (Number() took these, new Date() took February 30).
  ['--page-size 1e3', ['run', '--page-size', '1e3'], /^--page-size must be an integer from 1 to 1000, got "1e3"$/],
  ['--page-size 0x10', ['run', '--page-size', '0x10'], /^--page-size must be an integer from 1 to 1000, got "0x10"$/],
  ['--page-size " 5"', ['run', '--page-size', ' 5'], /^--page-size must be an integer from 1 to 1000, got " 5"$/],
  ['ORDERS_ETL_PAGE_SIZE=1e3', ['run'], /^environment variable ORDERS_ETL_PAGE_SIZE: must be an integer from 1 to 1000, got "1e3"$/, { env: baseEnv({ ORDERS_ETL_PAGE_SIZE: '1e3' }) }],
  ['--lookback " 1h"', ['run', '--lookback', ' 1h'], /^--lookback must be a number followed by s, m, h or d \(e\.g\. 15m\), got " 1h"$/],
  [
    'schedule backfill --start 2025-02-30T00:00:00Z',
    ['schedule', 'backfill', '--start', '2025-02-30T00:00:00Z', '--end', '2025-03-02T00:00:00Z'],
    /^--start must be an ISO 8601 date-time such as 2025-10-01T00:00:00Z, got "2025-02-30T00:00:00Z"$/,
  ],
  ['api --port 0x10', ['api', '--orders', SOURCE, '--port', '0x10'], /^--port must be an integer from 0 to 65535, got "0x10"$/],
  ['api --fail-rate 1e-1', ['api', '--orders', SOURCE, '--fail-rate', '1e-1'], /^--fail-rate must be a number from 0 to 1, got "1e-1"$/],
];

describe('refused before the run starts: one line, exit 1', () => {
  // Every row as long as the callback's arity: jest would take a missing last argument for a `done` callback.
  test.each(cases.map(([what, args, line, options]) => [what, args, line, options ?? {}] as const))('%s', async (_what, args, line, options) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-etl-preflight-data-'));
    const resolved = args.map((a) => (a === 'NOT_AN_API' ? notAnApiUrl : a === 'CLOSED_PORT' ? closedPortUrl : a));
    const exit = await cli(resolved, { cwd: dataDir, timeoutMs: 30_000, ...options, env: { ...(options.env ?? baseEnv()), ORDERS_ETL_DATA_DIR: dataDir } });
    expect({ code: exit.code, stdout: exit.stdout }).toEqual({ code: 1, stdout: '' });
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0].replace(/^orders-etl: /, '')).toMatch(line);
    noStack(exit.stderr);
    expect(existsSync(path.join(dataDir, 'temporal-embedded.db'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'lake'))).toBe(false);
  });
});

test('an empty source is a warning, and the run completes with nothing extracted', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-etl-preflight-data-'));
  const empty = file('empty.jsonl', '');
  const exit = await cli(['run', '--source', empty, '--json'], { cwd: dataDir, env: baseEnv({ ORDERS_ETL_DATA_DIR: dataDir }) });
  expect(exit.code).toBe(0);
  expect(exit.stderr.split('\n')).toContain(`orders-etl: warning: the source ${empty} is empty: the run extracts nothing`);
  expect(oneJson(exit)).toMatchObject({ extracted: 0, duplicates: 0, rejected: 0, ordersLoaded: 0, linesLoaded: 0, watermark: null });
});

test('a bad reference row past the rows the client reads fails the run on the worker: one line, exit 1', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'orders-etl-preflight-data-'));
  const users = ['user_id,email', ...Array.from({ length: 50_000 }, (_, i) => `u${i},u${i}@example.com`)];
  users[40_000] = `u39999,${'e'.repeat(300)}@example.com`;
  const usersCsv = file('late-bad-users.csv', `${users.join('\n')}\n`);
  const exit = await cli(['run', '--source', SOURCE, '--users', usersCsv], { cwd: dataDir, env: baseEnv({ ORDERS_ETL_DATA_DIR: dataDir }) });
  expect({ code: exit.code, stdout: exit.stdout }).toEqual({ code: 1, stdout: '' });
  const failure = exit.stderr.trimEnd().split('\n').at(-1);
  expect(failure).toBe(`orders-etl: the run failed: users file ${usersCsv}, line 40001, column email: the value does not fit 256 bytes (UTF-8) (details in ${dataDir}/orders-etl.log)`);
  noStack(exit.stderr);
});

describe('what a file of orders holds, from its first bytes', () => {
  test.each([
    ['a JSON array, pretty-printed', '[\n  {"order_id": "a"},\n  {"order_id": "b"}\n]\n', 'array'],
    ['a JSON array after a byte order mark', '\uFEFF[{"order_id": "a"}]', 'array'],
    ['JSONL', '{"order_id": "a"}\n{"order_id": "b"}\n', 'jsonl'],
    ['JSONL whose first line is broken (quarantined, not refused)', '{"order_id": "a",\n{"order_id": "b"}\n', 'jsonl'],
    ['JSONL with a malformed line among records', 'not json\n{"order_id": "b"}\n', 'jsonl'],
    ['blank lines only', '\n  \n', 'empty'],
    ['nothing', '', 'empty'],
  ])('%s', (_what, text, kind) => {
    expect(ordersFileKind(file('kind.json', text))).toBe(kind);
  });
});
