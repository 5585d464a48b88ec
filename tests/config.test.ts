import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { decimal, duration, instant, integer, loadEnvConfig, parseFlag } from '../client/config';
import { pipelineIdOf, pipelineInput } from '../client/pipeline-options';
import { createStagingTableSql } from '../core/schema';
import { ROOT } from './support/temporal';

describe('environment configuration', () => {
  test('defaults', () => {
    expect(loadEnvConfig({})).toEqual({ TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'orders-etl', ORDERS_ETL_DATA_DIR: './data' });
  });

  test.each([
    [{ TEMPORAL_ADDRESS: 'localhost' }, 'environment variable TEMPORAL_ADDRESS: must be host:port'],
    [{ METRICS_PORT: 'ninety' }, 'environment variable METRICS_PORT: '],
    [{ ORDERS_ETL_LOOKBACK: '5 minutes' }, 'environment variable ORDERS_ETL_LOOKBACK: must be a number followed by s, m, h or d (e.g. 15m), got "5 minutes"'],
    [{ ORDERS_ETL_PAGE_SIZE: '5000' }, 'environment variable ORDERS_ETL_PAGE_SIZE: '],
    [{ ORDERS_ETL_PAGE_SIZE: '1e3' }, 'environment variable ORDERS_ETL_PAGE_SIZE: must be an integer from 1 to 1000, got "1e3"'],
    [{ ORDERS_ETL_PAGE_SIZE: '0x10' }, 'environment variable ORDERS_ETL_PAGE_SIZE: must be an integer from 1 to 1000, got "0x10"'],
    [{ METRICS_PORT: '9464.0' }, 'environment variable METRICS_PORT: must be an integer from 0 to 65535, got "9464.0"'],
    [{ S3_ENDPOINT: 'not a url' }, 'environment variable S3_ENDPOINT: '],
  ])('%j is refused with one clear line', (env, message) => {
    expect(() => loadEnvConfig(env)).toThrow(message);
  });

  test('empty variables count as unset', () => {
    expect(loadEnvConfig({ TEMPORAL_ADDRESS: '' }).TEMPORAL_ADDRESS).toBeUndefined();
  });

  test('values are parsed: numbers, and durations in seconds', () => {
    expect(loadEnvConfig({ ORDERS_ETL_PAGE_SIZE: '250', ORDERS_ETL_LOOKBACK: '15m', METRICS_PORT: '9464' })).toMatchObject({ ORDERS_ETL_PAGE_SIZE: 250, ORDERS_ETL_LOOKBACK: 900, METRICS_PORT: 9464 });
  });
});

describe('the shared parsers of flags and variables', () => {
  test('durations', () => {
    expect(['90s', '15m', '2h', '1d'].map(duration)).toEqual([90, 900, 7200, 86400]);
    for (const text of ['15', ' 15m', '15m ', '1.5h', '-1m', '15M']) expect(() => parseFlag('--every', text, duration)).toThrow(`--every must be a number followed by s, m, h or d (e.g. 15m), got "${text}"`);
  });

  test('integers: digits only, within bounds', () => {
    expect(['0', '7', '1000'].map(integer(0, 1000))).toEqual([0, 7, 1000]);
    for (const text of ['1e3', '0x10', ' 5', '5 ', '+5', '-1', '1.0', '', '1001', '0b1']) {
      expect(() => parseFlag('--page-size', text, integer(0, 1000))).toThrow(`--page-size must be an integer from 0 to 1000, got "${text}"`);
    }
  });

  test('decimals', () => {
    expect(['0', '0.25', '1'].map(decimal(0, 1))).toEqual([0, 0.25, 1]);
    for (const text of ['1e-1', '.5', '0x1', ' 0.5', '1.5', 'NaN']) expect(() => parseFlag('--fail-rate', text, decimal(0, 1))).toThrow(`--fail-rate must be a number from 0 to 1, got "${text}"`);
  });

  test('instants: the data rules\' ISO 8601, in microseconds', () => {
    expect(instant('2025-10-01T00:00:00.000001Z')).toBe(Date.UTC(2025, 9, 1) * 1000 + 1);
    expect(instant('2025-10-01T02:00:00+02:00')).toBe(Date.UTC(2025, 9, 1) * 1000);
    for (const text of ['2025-02-30T00:00:00Z', '2025-13-01T00:00:00Z', '2025-10-01', 'Oct 1 2025', ' 2025-10-01T00:00:00Z', '1759276800']) {
      expect(() => parseFlag('--start', text, instant)).toThrow(`--start must be an ISO 8601 date-time such as 2025-10-01T00:00:00Z, got "${text}"`);
    }
  });
});

describe('pipeline identity', () => {
  const config = loadEnvConfig({ ORDERS_ETL_DATA_DIR: '/tmp/etl' });

  test('one source into one warehouse; a file by its absolute path', () => {
    const a = pipelineInput({ source: 'tests/fixtures/juju-take-home-a/api_orders.json' }, config);
    const b = pipelineInput({ source: path.join(ROOT, 'tests/fixtures/juju-take-home-a/api_orders.json') }, config);
    const otherWarehouse = pipelineInput({ source: 'tests/fixtures/juju-take-home-a/api_orders.json', warehouse: 'duckdb:/tmp/other.duckdb' }, config);
    const otherSource = pipelineInput({ source: 'tests/fixtures/juju-take-home-b/api_orders.json' }, config);
    expect(a.pipelineId).toBe(b.pipelineId);
    expect(a.pipelineId).toMatch(/^api_orders-[0-9a-f]{10}$/);
    expect(new Set([a.pipelineId, otherWarehouse.pipelineId, otherSource.pipelineId]).size).toBe(3);
    expect(pipelineIdOf('http://127.0.0.1:8080/', 'duckdb:/x')).toMatch(/^127\.0\.0\.1-8080-[0-9a-f]{10}$/);
  });

  test('the bundled reference files go with the bundled orders only', () => {
    const sample = pipelineInput({}, config);
    expect(sample.source).toBe(path.join(ROOT, 'sample_data', 'orders.json'));
    expect(sample.usersCsv).toBe(path.join(ROOT, 'sample_data', 'users.csv'));
    expect(sample.warehouse).toBe('duckdb:/tmp/etl/warehouse.duckdb');
    expect(sample.lake).toBe('/tmp/etl/lake');
    const other = pipelineInput({ source: 'http://shop.example/api' }, config);
    expect([other.usersCsv, other.productsCsv]).toEqual([undefined, undefined]);
  });

  test.each([
    [{ source: '/nonexistent.json' }, 'source file not found: /nonexistent.json'],
    [{ since: 'yesterday' }, '--since must be an ISO 8601 date-time'],
    [{ since: '2025-02-30T00:00:00Z' }, '--since must be an ISO 8601 date-time'],
    [{ since: '2025-10-02T00:00:00Z', until: '2025-10-01T00:00:00Z' }, '--since must be before --until'],
    [{ warehouse: 'postgres:x' }, '--warehouse must be duckdb:PATH or redshift, got "postgres:x"'],
    [{ warehouse: 'redshift' }, '--warehouse redshift is not configured'],
    [{ pageSize: '0' }, '--page-size must be an integer from 1 to 1000'],
    [{ pageSize: '1e3' }, '--page-size must be an integer from 1 to 1000, got "1e3"'],
    [{ pageSize: '0x10' }, '--page-size must be an integer from 1 to 1000, got "0x10"'],
    [{ pageSize: ' 5' }, '--page-size must be an integer from 1 to 1000, got " 5"'],
    [{ warehouse: 'duckdb:' }, '--warehouse duckdb: needs a file path'],
    [{ lookback: '1 hour' }, '--lookback must be a number followed by s, m, h or d'],
    [{ futureTolerance: 'soon' }, '--future-tolerance must be a number followed by s, m, h or d'],
  ])('%j is refused', (flags, message) => {
    expect(() => pipelineInput(flags, config)).toThrow(message);
  });

  test('the future tolerance: unset (the workflow takes 5 minutes), from the flag, or from ORDERS_ETL_FUTURE_TOLERANCE', () => {
    expect(pipelineInput({}, config).futureToleranceSeconds).toBeUndefined();
    expect(pipelineInput({ futureTolerance: '2h' }, config).futureToleranceSeconds).toBe(7200);
    expect(pipelineInput({}, { ...config, ORDERS_ETL_FUTURE_TOLERANCE: 90 }).futureToleranceSeconds).toBe(90);
  });
});

test('run --warehouse redshift --dry-run prints the statements of one load, touching nothing', () => {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDSHIFT_WORKGROUP: 'analytics',
    REDSHIFT_DATABASE: 'dev',
    REDSHIFT_IAM_ROLE: 'arn:aws:iam::123456789012:role/copy',
    AWS_REGION: 'eu-west-1',
  };
  const out = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'client.js'), 'run', '--warehouse', 'redshift', '--lake', 's3://acme-lake/orders', '--dry-run'], { env, encoding: 'utf8' });
  expect(out.status).toBe(0);
  expect(out.stdout).toContain(
    "COPY stg_fact_sales FROM 's3://acme-lake/orders/staged/DRY-RUN/fact_sales.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/copy' FORMAT AS PARQUET MANIFEST;",
  );
  expect(out.stdout).toContain(`${createStagingTableSql('dim_order', 'stg_dim_order')};`);
  expect(out.stdout).toContain('  stream_position BIGINT NOT NULL\n)\nDISTSTYLE KEY\nDISTKEY (order_id)');
  expect(out.stdout).toContain('CREATE TABLE IF NOT EXISTS fact_sales (');
  expect(out.stdout.match(/^COPY /gm)).toHaveLength(5);
});
