import {
  ActiveStatementsExceededException,
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
  ValidationException,
  type BatchExecuteStatementInput,
} from '@aws-sdk/client-redshift-data';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidInputError, QualityGateError, ReconciliationError, WarehouseLoadError, WarehouseThrottledError } from '../core/errors';
import { DEFAULT_QUALITY_GATES } from '../core/quality';
import { insertQualityChecks, qualityChecksQuery } from '../activities/warehouse/quality-sql';
import { stagedManifestKey } from '../core/lake-layout';
import type { Lake } from '../activities/lake';
import { SCHEMA_VERSION, STAGED_TABLES, STORED_COLUMNS_SQL, STORED_VERSION_SQL, TABLES, createStagingTableSql } from '../core/schema';
import { mergeStatements } from '../activities/warehouse/merge-sql';
import { schemaDriftStatements } from '../activities/warehouse/schema-drift-sql';
import {
  MAX_BATCH_STATEMENTS,
  RedshiftWarehouse,
  loadClientToken,
  redshiftTargetFromEnv,
  schemaStatements,
  type RedshiftTarget,
} from '../activities/warehouse/redshift-warehouse';
import type { LoadBookkeeping, LoadRequest } from '../activities/warehouse/warehouse';

const ROLE = 'arn:aws:iam::123456789012:role/orders-etl-copy';

/** A lake that only knows its addresses: the Redshift loader never reads files itself, COPY does. */
function s3Lake(root = 's3://lake-bucket/etl'): Lake {
  const unused = () => Promise.reject(new Error('the Redshift loader must not read the lake'));
  return { location: root, put: unused, putFile: unused, get: unused, getStream: unused, localFile: unused, list: unused, uri: (key) => `${root}/${key}`, keyOf: (uri) => uri.slice(root.length + 1) };
}

function bookkeeping(loadId = '20240102T030405Z-abcd1234'): LoadBookkeeping {
  return {
    loadId,
    pipelineId: 'pipe-1',
    source: 'file:/data/orders.json',
    startedAt: '2024-01-02T03:04:05.000Z',
    sinceTs: null,
    untilTs: null,
    watermark: '2024-01-02T00:00:00.000Z',
    extracted: 6,
    rejectedOrders: 2,
    versions: 3,
    versionLines: 4,
    itemRejections: 1,
  };
}

function request(loadId?: string, lake: Lake = s3Lake()): LoadRequest {
  const b = bookkeeping(loadId);
  return { bookkeeping: b, lake, manifests: Object.fromEntries(STAGED_TABLES.map((t) => [t, stagedManifestKey(b.loadId, t)])) };
}

const client = new RedshiftDataClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const mock = mockClient(client);
let sleeps: number[];

beforeEach(() => {
  mock.reset();
  sleeps = [];
});

function warehouse(overrides: Partial<RedshiftTarget> = {}): RedshiftWarehouse {
  return new RedshiftWarehouse({
    database: 'analytics',
    workgroupName: 'orders-wg',
    iamRole: ROLE,
    client,
    pollIntervalMs: 1,
    maxPollIntervalMs: 8,
    ensureSchemaOnLoad: false,
    // Records the backoff and yields without really waiting, so the tests are fast and exact.
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise((resolve) => setImmediate(resolve));
    },
    ...overrides,
  });
}

const batchInputs = (): BatchExecuteStatementInput[] =>
  mock.commandCalls(BatchExecuteStatementCommand).map((call) => call.args[0].input as BatchExecuteStatementInput);

/** The 1-based position of a load's outcome, read through the reconciliation guard. */
const outcomeAt = (statements: string[]): number => statements.findIndex((s) => s.includes(' AS reconciliation_guard ')) + 1;

/** The batch finishes; the outcome sub-statement of `statements` answers `outcome`. */
function finishWith(id: string, statements: string[], outcome: [number, number, number, number, number]): void {
  mock.on(BatchExecuteStatementCommand).resolves({ Id: id });
  mock.on(DescribeStatementCommand).resolvesOnce({ Id: id, Status: 'SUBMITTED' }).resolvesOnce({ Id: id, Status: 'STARTED' }).resolves({ Id: id, Status: 'FINISHED' });
  mock.on(GetStatementResultCommand, { Id: `${id}:${outcomeAt(statements)}` }).resolves({ Records: [[...outcome.map((n) => ({ longValue: n })), { isNull: true }]] });
}

describe('SQL of one load', () => {
  test('is the exact statement list: temp staging, COPY by manifest, de-duplication, merge, the outcome through the reconciliation guard', () => {
    const r = request('L1');
    const b = r.bookkeeping;
    const copy = (t: string) =>
      `COPY stg_${t} FROM 's3://lake-bucket/etl/staged/L1/${t}.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/orders-etl-copy' FORMAT AS PARQUET MANIFEST`;
    const expected = [
      ...STAGED_TABLES.map((t) => createStagingTableSql(t, `stg_${t}`)),
      "COPY stg_dim_user FROM 's3://lake-bucket/etl/staged/L1/dim_user.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/orders-etl-copy' FORMAT AS PARQUET MANIFEST",
      copy('dim_product'),
      copy('dim_order'),
      copy('fact_sales'),
      copy('rejected_records'),
      'CREATE TEMP TABLE dup_dim_user AS SELECT user_id, email, country, created_at, is_inferred, source_line FROM (SELECT user_id, email, country, created_at, is_inferred, source_line, ' +
        'ROW_NUMBER() OVER (PARTITION BY user_id, source_line ORDER BY user_id, email, country, created_at, is_inferred, source_line) AS dup_rank, COUNT(*) OVER (PARTITION BY user_id, source_line) AS dup_count ' +
        'FROM stg_dim_user) d WHERE dup_count > 1 AND dup_rank = 1',
      'DELETE FROM stg_dim_user USING dup_dim_user WHERE stg_dim_user.user_id = dup_dim_user.user_id AND stg_dim_user.source_line = dup_dim_user.source_line',
      'INSERT INTO stg_dim_user (user_id, email, country, created_at, is_inferred, source_line) SELECT user_id, email, country, created_at, is_inferred, source_line FROM dup_dim_user',
      'CREATE TEMP TABLE dup_dim_product AS SELECT sku, name, category, price, is_inferred, source_line FROM (SELECT sku, name, category, price, is_inferred, source_line, ' +
        'ROW_NUMBER() OVER (PARTITION BY sku, source_line ORDER BY sku, name, category, price, is_inferred, source_line) AS dup_rank, COUNT(*) OVER (PARTITION BY sku, source_line) AS dup_count ' +
        'FROM stg_dim_product) d WHERE dup_count > 1 AND dup_rank = 1',
      'DELETE FROM stg_dim_product USING dup_dim_product WHERE stg_dim_product.sku = dup_dim_product.sku AND stg_dim_product.source_line = dup_dim_product.source_line',
      'INSERT INTO stg_dim_product (sku, name, category, price, is_inferred, source_line) SELECT sku, name, category, price, is_inferred, source_line FROM dup_dim_product',
      'CREATE TEMP TABLE dup_dim_order AS SELECT order_id, user_id, created_at, order_date, total_amount, currency, source, promo, item_count, stream_position FROM ' +
        '(SELECT order_id, user_id, created_at, order_date, total_amount, currency, source, promo, item_count, stream_position, ' +
        'ROW_NUMBER() OVER (PARTITION BY order_id, stream_position ORDER BY order_id, user_id, created_at, order_date, total_amount, currency, source, promo, item_count, stream_position) AS dup_rank, ' +
        'COUNT(*) OVER (PARTITION BY order_id, stream_position) AS dup_count FROM stg_dim_order) d WHERE dup_count > 1 AND dup_rank = 1',
      'DELETE FROM stg_dim_order USING dup_dim_order WHERE stg_dim_order.order_id = dup_dim_order.order_id AND stg_dim_order.stream_position = dup_dim_order.stream_position',
      'INSERT INTO stg_dim_order (order_id, user_id, created_at, order_date, total_amount, currency, source, promo, item_count, stream_position) ' +
        'SELECT order_id, user_id, created_at, order_date, total_amount, currency, source, promo, item_count, stream_position FROM dup_dim_order',
      'CREATE TEMP TABLE dup_fact_sales AS SELECT order_id, line_number, user_id, sku, created_at, order_date, quantity, unit_price, line_amount, currency, stream_position FROM ' +
        '(SELECT order_id, line_number, user_id, sku, created_at, order_date, quantity, unit_price, line_amount, currency, stream_position, ' +
        'ROW_NUMBER() OVER (PARTITION BY order_id, line_number, stream_position ORDER BY order_id, line_number, user_id, sku, created_at, order_date, quantity, unit_price, line_amount, currency, stream_position) AS dup_rank, ' +
        'COUNT(*) OVER (PARTITION BY order_id, line_number, stream_position) AS dup_count FROM stg_fact_sales) d WHERE dup_count > 1 AND dup_rank = 1',
      'DELETE FROM stg_fact_sales USING dup_fact_sales WHERE stg_fact_sales.order_id = dup_fact_sales.order_id AND stg_fact_sales.line_number = dup_fact_sales.line_number ' +
        'AND stg_fact_sales.stream_position = dup_fact_sales.stream_position',
      'INSERT INTO stg_fact_sales (order_id, line_number, user_id, sku, created_at, order_date, quantity, unit_price, line_amount, currency, stream_position) ' +
        'SELECT order_id, line_number, user_id, sku, created_at, order_date, quantity, unit_price, line_amount, currency, stream_position FROM dup_fact_sales',
      // The shared merge, its finished_at stamped by the database clock.
      ...mergeStatements(b, 'GETDATE()'),
      `SELECT o.*, CAST('reconciliation failed: ' || r.problem AS INTEGER) AS reconciliation_guard FROM (SELECT orders_loaded, orders_kept, lines_loaded, duplicates, rejected_items FROM etl_loads WHERE load_id = 'L1') o CROSS JOIN (SELECT CASE
  WHEN (SELECT COUNT(*) FROM (SELECT order_id FROM dim_order WHERE order_id IN (SELECT order_id FROM stg_latest WHERE wins) GROUP BY order_id HAVING COUNT(*) > 1) d) <> 0 THEN 'dim_order has a duplicate order_id'
  WHEN (SELECT COUNT(*) FROM (SELECT order_id, line_number FROM fact_sales WHERE order_id IN (SELECT order_id FROM stg_latest WHERE wins) GROUP BY order_id, line_number HAVING COUNT(*) > 1) d) <> 0 THEN 'fact_sales has a duplicate (order_id, line_number)'
  WHEN (SELECT COUNT(*) FROM stg_dim_order) <> 3 THEN 'staged orders differ from the transform''s 3'
  WHEN (SELECT COUNT(*) FROM stg_fact_sales) <> 4 THEN 'staged lines differ from the transform''s 4'
  WHEN (SELECT COUNT(*) FROM stg_rejected_records) <> 3 THEN 'staged rejections differ from the transform''s 3'
  WHEN (SELECT extracted - orders_loaded - orders_kept - duplicates - rejected_orders FROM etl_loads WHERE load_id = 'L1') <> 0
    THEN 'extracted <> orders loaded + kept + duplicates + rejected orders'
  END AS problem) r`,
    ];
    expect(warehouse().loadStatements(r)).toEqual(expected);
  });

  test('the merge runs after every COPY and de-duplication, and the guard, which reads the outcome, last', () => {
    const statements = warehouse().loadStatements(request('L1'));
    const firstMerge = statements.findIndex((s) => s.startsWith('CREATE TEMP TABLE stg_latest'));
    const lastCopy = statements.map((s) => s.startsWith('COPY ')).lastIndexOf(true);
    const lastDedupe = statements.map((s) => s.includes('dup_')).lastIndexOf(true);
    expect(lastCopy).toBeLessThan(lastDedupe);
    expect(lastDedupe).toBeLessThan(firstMerge);
    expect(statements.at(-1)).toMatch(/^SELECT o\.\*, CAST\('reconciliation failed: ' \|\| r\.problem AS INTEGER\)/);
    expect(statements.indexOf(statements.find((s) => s.startsWith('INSERT INTO etl_loads'))!)).toBeLessThan(statements.length - 1);
  });

  test('fits in one BatchExecuteStatement and never carries DDL of permanent tables (that is ensureSchema)', () => {
    const statements = warehouse().loadStatements(request());
    expect(statements.length).toBeLessThanOrEqual(MAX_BATCH_STATEMENTS);
    expect(statements.filter((s) => /CREATE TABLE|DROP|TRUNCATE/i.test(s))).toEqual([]);
  });

  test('is deterministic for a load (no clock in the text), so resubmissions are the same request', async () => {
    const a = warehouse().loadStatements(request('L1'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(warehouse().loadStatements(request('L1'))).toEqual(a);
  });

  test('IAM_ROLE default is passed unquoted', () => {
    const copy = warehouse({ iamRole: 'default' }).loadStatements(request('L1'))[5];
    expect(copy).toBe("COPY stg_dim_user FROM 's3://lake-bucket/etl/staged/L1/dim_user.manifest' IAM_ROLE default FORMAT AS PARQUET MANIFEST");
  });

  test('quotes are escaped in literals', () => {
    const statements = warehouse().loadStatements(request("it's"));
    expect(statements.at(-1)).toContain("(SELECT orders_loaded, orders_kept, lines_loaded, duplicates, rejected_items FROM etl_loads WHERE load_id = 'it''s') o");
  });

  test('a local lake is refused: COPY reads S3 only', () => {
    const local: Lake = { ...s3Lake(), location: '/data/lake', uri: (key) => `/data/lake/${key}` };
    expect(() => warehouse().loadStatements(request('L1', local))).toThrow(InvalidInputError);
    expect(() => warehouse().loadStatements(request('L1', local))).toThrow(/S3 lake/);
  });

  test('dryRun lists the schema batch, the layout queries, then the load batch, without calling AWS', () => {
    const w = warehouse({ ensureSchemaOnLoad: true });
    expect(w.dryRun(request('L1'))).toEqual([...schemaStatements(), STORED_COLUMNS_SQL, STORED_VERSION_SQL, ...w.loadStatements(request('L1'))]);
    expect(warehouse().dryRun(request('L1'))).toEqual(warehouse().loadStatements(request('L1')));
    expect(mock.calls()).toHaveLength(0);
  });

  test('schemaStatements are the Redshift DDL, one table per statement', () => {
    const ddl = schemaStatements();
    expect(ddl).toHaveLength(10);
    expect(ddl[9]).toBe('CREATE TABLE IF NOT EXISTS etl_schema_version (\n  version         INTEGER NOT NULL,\n  applied_at      TIMESTAMP NOT NULL\n)');
    expect(ddl).toHaveLength(Object.keys(TABLES).length + 1);
    expect(ddl.at(-1)).toBe('CREATE TABLE IF NOT EXISTS etl_schema_version (\n  version         INTEGER NOT NULL,\n  applied_at      TIMESTAMP NOT NULL\n)');
    expect(ddl[0]).toMatch(/^CREATE TABLE IF NOT EXISTS fact_sales \(/);
    expect(ddl[0]).toMatch(/DISTSTYLE KEY\nDISTKEY \(order_id\)\nSORTKEY \(order_date, order_id\)$/);
    for (const statement of ddl) expect(statement).not.toMatch(/;/);
  });
});

describe('load', () => {
  test('submits one batch, polls SUBMITTED -> STARTED -> FINISHED and reads the outcome from the guard, the last sub-statement', async () => {
    const w = warehouse();
    const statements = w.loadStatements(request());
    finishWith('batch-1', statements, [3, 1, 4, 0, 1]);
    const heartbeat = jest.fn();

    await expect(w.load(request(), heartbeat)).resolves.toEqual({ ordersLoaded: 3, ordersKept: 1, linesLoaded: 4, duplicates: 0, rejectedItems: 1 });

    expect(batchInputs()).toHaveLength(1);
    const input = batchInputs()[0];
    expect(input.Sqls).toEqual(statements);
    expect(input).toMatchObject({ Database: 'analytics', WorkgroupName: 'orders-wg' });
    expect(input.ClusterIdentifier).toBeUndefined();
    expect(input.DbUser).toBeUndefined();
    expect(mock.commandCalls(DescribeStatementCommand).map((c) => c.args[0].input.Id)).toEqual(['batch-1', 'batch-1', 'batch-1']);
    expect(mock.commandCalls(GetStatementResultCommand).map((c) => c.args[0].input.Id)).toEqual([`batch-1:${statements.length}`]);
    expect(heartbeat.mock.calls).toEqual([['SUBMITTED'], ['STARTED'], ['FINISHED']]);
  });

  test('provisioned clusters send ClusterIdentifier and DbUser or SecretArn', async () => {
    const w = warehouse({ workgroupName: undefined, clusterIdentifier: 'orders-cluster', dbUser: 'etl' });
    expect(w.name).toBe('redshift:orders-cluster/analytics');
    finishWith('batch-c', w.loadStatements(request()), [3, 0, 4, 0, 1]);
    await w.load(request(), () => {});
    expect(batchInputs()[0]).toMatchObject({ ClusterIdentifier: 'orders-cluster', DbUser: 'etl', Database: 'analytics' });
    expect(batchInputs()[0].WorkgroupName).toBeUndefined();
  });

  test('polling backs off exponentially up to maxPollIntervalMs, heartbeating every poll', async () => {
    const w = warehouse();
    const id = 'batch-slow';
    mock.on(BatchExecuteStatementCommand).resolves({ Id: id });
    let describe = mock.on(DescribeStatementCommand).resolvesOnce({ Id: id, Status: 'SUBMITTED' });
    for (let i = 0; i < 5; i++) describe = describe.resolvesOnce({ Id: id, Status: 'STARTED' });
    describe.resolves({ Id: id, Status: 'FINISHED' });
    mock.on(GetStatementResultCommand).resolves({ Records: [[{ longValue: 1 }, { longValue: 0 }, { longValue: 1 }, { longValue: 0 }, { longValue: 0 }]] });
    const heartbeat = jest.fn();

    await w.load(request(), heartbeat);

    expect(sleeps).toEqual([1, 2, 4, 8, 8, 8, 8]);
    expect(heartbeat).toHaveBeenCalledTimes(7);
    expect(heartbeat.mock.calls.map((c) => c[0])).toEqual(['SUBMITTED', 'STARTED', 'STARTED', 'STARTED', 'STARTED', 'STARTED', 'FINISHED']);
  });

  test('the ClientToken is derived from the load: the same across submissions, different for another load, at most 64 chars', async () => {
    const w = warehouse();
    finishWith('batch-1', w.loadStatements(request()), [3, 1, 4, 0, 1]);
    await w.load(request('L1'), () => {});
    await warehouse().load(request('L1'), () => {}); // a retried activity builds a new warehouse
    await w.load(request('L2'), () => {});
    const [first, second, other] = batchInputs().map((i) => i.ClientToken);
    expect(first).toBeDefined();
    expect(second).toBe(first);
    expect(other).not.toBe(first);
    expect(first!.length).toBeLessThanOrEqual(64);
    expect(first).toBe(loadClientToken(w.name, 'L1'));
    expect(batchInputs()[0].Sqls).toEqual(batchInputs()[1].Sqls);
  });

  test('FAILED throws WarehouseLoadError with Redshift\'s error text and where COPY errors are', async () => {
    const w = warehouse();
    const statements = w.loadStatements(request('L1'));
    const error = 'ERROR: Spectrum Scan Error. File s3://lake-bucket/etl/staged/L1/fact_sales/part-000001.parquet has an incompatible Parquet schema';
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-f' });
    mock.on(DescribeStatementCommand).resolvesOnce({ Id: 'batch-f', Status: 'STARTED' }).resolves({
      Id: 'batch-f',
      Status: 'FAILED',
      Error: error,
      // The 9th statement (COPY stg_fact_sales) failed: those before it finished, those after never ran.
      SubStatements: statements.map((sql, i) => ({
        Id: `batch-f:${i + 1}`,
        Status: i < 8 ? ('FINISHED' as const) : i === 8 ? ('FAILED' as const) : ('SUBMITTED' as const),
        QueryString: sql,
        ...(i === 8 ? { Error: error } : {}),
      })),
    });

    const failure = await w.load(request('L1'), () => {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WarehouseLoadError);
    expect((failure as Error).name).toBe('WarehouseLoadError');
    expect((failure as Error).message).toContain(error);
    expect((failure as Error).message).toContain('see SYS_LOAD_ERROR_DETAIL / STL_LOAD_ERRORS for COPY errors');
    expect((failure as Error).message).toContain(`statement 9/${statements.length} (COPY stg_fact_sales FROM 's3://lake-bucket/etl/staged/L1/fact_sales.manifest'`);
    expect(mock.commandCalls(GetStatementResultCommand)).toHaveLength(0);
  });

  test('a failure of the reconciliation guard is a ReconciliationError', async () => {
    const w = warehouse();
    const n = w.loadStatements(request('L1')).length;
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-r' });
    mock.on(DescribeStatementCommand).resolves({
      Id: 'batch-r',
      Status: 'FAILED',
      Error: "ERROR: Invalid digit, Value 'r', Pos 0, Type: Integer",
      SubStatements: [{ Id: `batch-r:${n}`, Status: 'FAILED', Error: "ERROR: Invalid digit, Value 'r', Pos 0, Type: Integer" }],
    });
    const failure = await w.load(request('L1'), () => {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ReconciliationError);
    expect((failure as Error).message).toMatch(/does not reconcile.*staged orders = 3, staged lines = 4/);
  });

  test('with quality gates: the checks and their INSERT follow the reconciliation guard, and with schema drift too the batch fits', () => {
    const r = { ...request('L1'), quality: DEFAULT_QUALITY_GATES };
    const statements = warehouse().loadStatements(r);
    const fields = { fields: [{ path: 'order.id', types: ['string' as const], records: 3 }], truncated: false };
    const withDrift = warehouse().loadStatements({ ...r, fields });
    expect(withDrift.length).toBe(statements.length + 2);
    expect(withDrift.length).toBe(MAX_BATCH_STATEMENTS); // as the README says: exactly the limit
    expect(withDrift.slice(-5, -3)).toEqual(schemaDriftStatements(r.bookkeeping, fields));
    expect(statements.slice(-3)).toEqual([
      warehouse().loadStatements(request('L1')).at(-1),
      qualityChecksQuery(r.bookkeeping, DEFAULT_QUALITY_GATES),
      insertQualityChecks(r.bookkeeping, DEFAULT_QUALITY_GATES),
    ]);
  });

  test('with quality gates: a finished load returns the checks read from their sub-statement', async () => {
    const r = { ...request(), quality: DEFAULT_QUALITY_GATES };
    const statements = warehouse().loadStatements(r);
    const n = statements.length;
    finishWith('batch-q', statements, [3, 1, 4, 0, 1]);
    const row = (check: string, observed: number, threshold: number, outcome: string) =>
      [{ stringValue: 'L' }, { stringValue: check }, { doubleValue: observed }, { doubleValue: threshold }, { stringValue: outcome }];
    mock.on(GetStatementResultCommand, { Id: `batch-q:${n - 1}` }).resolves({ Records: [row('null_price_rate', 0.25, 0.2, 'warn'), row('rejection_rate', 0, 0.05, 'pass')] });
    await expect(warehouse().load(r, () => {})).resolves.toEqual({
      ordersLoaded: 3,
      ordersKept: 1,
      linesLoaded: 4,
      duplicates: 0,
      rejectedItems: 1,
      quality: [
        { check: 'rejection_rate', observed: 0, threshold: 0.05, outcome: 'pass' },
        { check: 'null_price_rate', observed: 0.25, threshold: 0.2, outcome: 'warn' },
      ],
    });
  });

  test('a failed quality INSERT whose checks cannot be read back is still a QualityGateError, saying so', async () => {
    const r = { ...request('L1'), quality: DEFAULT_QUALITY_GATES };
    const n = warehouse().loadStatements(r).length;
    const error = "ERROR: Invalid digit, Value 'q', Pos 0, Type: Integer";
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-g' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'batch-g', Status: 'FAILED', Error: error, SubStatements: [{ Id: `batch-g:${n}`, Status: 'FAILED', Error: error }] });
    mock.on(GetStatementResultCommand).rejects(Object.assign(new Error('Query does not have result'), { name: 'ResourceNotFoundException' }));
    const failure = await warehouse().load(r, () => {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(QualityGateError);
    expect((failure as Error).message).toBe('load L1 failed its quality gate (its checks could not be read back: Query does not have result); nothing was committed');
  });

  test('ABORTED throws WarehouseLoadError', async () => {
    const w = warehouse();
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-a' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'batch-a', Status: 'ABORTED' });
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(WarehouseLoadError);
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(/aborted/);
  });

  test('ThrottlingException on BatchExecuteStatement is a retryable WarehouseThrottledError', async () => {
    const w = warehouse();
    mock.on(BatchExecuteStatementCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const failure = await w.load(request('L1'), () => {}).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WarehouseThrottledError);
    expect((failure as Error).name).toBe('WarehouseThrottledError');
    expect((failure as Error).message).toContain('Rate exceeded');
    expect(mock.commandCalls(DescribeStatementCommand)).toHaveLength(0);
  });

  test('ActiveStatementsExceededException is throttling too, also while polling', async () => {
    const w = warehouse();
    mock.on(BatchExecuteStatementCommand).rejectsOnce(new ActiveStatementsExceededException({ message: 'too many active statements', $metadata: {} }));
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(WarehouseThrottledError);

    mock.reset();
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-t' });
    mock.on(DescribeStatementCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(WarehouseThrottledError);
  });

  test('an invalid request (ValidationException) is a non-retryable WarehouseLoadError', async () => {
    const w = warehouse();
    mock.on(BatchExecuteStatementCommand).rejects(new ValidationException({ message: 'Workgroup orders-wg not found', $metadata: {} }));
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(/Redshift rejected the request: Workgroup orders-wg not found/);
  });

  /** The Data API answering the layout queries of ensureSchema with `layout` (table → columns) and `version`. */
  function storedLayout(layout: Record<string, string[]>, version: number | null): void {
    mock.on(ExecuteStatementCommand, { Sql: STORED_COLUMNS_SQL }).resolves({ Id: 'q-columns' }).on(ExecuteStatementCommand, { Sql: STORED_VERSION_SQL }).resolves({ Id: 'q-version' });
    mock.on(DescribeStatementCommand, { Id: 'q-columns' }).resolves({ Id: 'q-columns', Status: 'FINISHED', HasResultSet: true });
    mock.on(DescribeStatementCommand, { Id: 'q-version' }).resolves({ Id: 'q-version', Status: 'FINISHED', HasResultSet: true });
    mock.on(GetStatementResultCommand, { Id: 'q-columns' }).resolves(layoutResult(layout));
    mock.on(GetStatementResultCommand, { Id: 'q-version' }).resolves(versionResult(version));
  }
  const layoutResult = (layout: Record<string, string[]>) => ({
    ColumnMetadata: [{ name: 'table_name' }, { name: 'column_name' }],
    Records: Object.entries(layout).flatMap(([table, columns]) => columns.map((c) => [{ stringValue: table }, { stringValue: c }])),
  });
  const versionResult = (version: number | null) => ({ ColumnMetadata: [{ name: 'version' }], Records: [[version === null ? { isNull: true } : { longValue: version }]] });
  const currentLayout = () => Object.fromEntries(Object.values(TABLES).map((t) => [t.name, t.columns.map((c) => c.name)]));

  test('ensureSchemaOnLoad runs the DDL as its own batch once per target, reads the layout, then loads', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_${Date.now()}` });
    const n = w.loadStatements(request()).length;
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-s' });
    mock.on(DescribeStatementCommand, { Id: 'batch-s' }).resolves({ Id: 'batch-s', Status: 'FINISHED' });
    mock.on(GetStatementResultCommand, { Id: `batch-s:${n}` }).resolves({ Records: [[{ longValue: 3 }, { longValue: 0 }, { longValue: 4 }, { longValue: 0 }, { longValue: 1 }]] });
    storedLayout(currentLayout(), SCHEMA_VERSION);

    await w.load(request('L1'), () => {});
    await w.load(request('L2'), () => {});

    const inputs = batchInputs();
    expect(inputs.map((i) => i.Sqls!.length)).toEqual([schemaStatements().length, n, n]);
    expect(inputs[0].Sqls).toEqual(schemaStatements());
    expect(inputs[0].ClientToken).toBeUndefined();
    expect(mock.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.Sql)).toEqual([STORED_COLUMNS_SQL, STORED_VERSION_SQL]);
  });

  test('a table an older version created gains the columns it lacks in a batch of their own, before the load, and the version is recorded', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_old_${Date.now()}` });
    const n = w.loadStatements(request()).length;
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-m' });
    mock.on(DescribeStatementCommand, { Id: 'batch-m' }).resolves({ Id: 'batch-m', Status: 'FINISHED' });
    mock.on(GetStatementResultCommand, { Id: `batch-m:${n}` }).resolves({ Records: [[{ longValue: 3 }, { longValue: 0 }, { longValue: 4 }, { longValue: 0 }, { longValue: 1 }]] });
    storedLayout({ ...currentLayout(), fact_sales: currentLayout().fact_sales.filter((c) => c !== 'currency') }, null);

    await w.load(request('L1'), () => {});

    const [ddl, migration, load] = batchInputs().map((i) => i.Sqls!);
    expect(ddl).toEqual(schemaStatements());
    expect(migration).toHaveLength(2);
    expect(migration[0]).toBe('ALTER TABLE fact_sales ADD COLUMN currency VARCHAR(256)');
    expect(migration[1]).toMatch(new RegExp(`^INSERT INTO etl_schema_version \\(version, applied_at\\) VALUES \\(${SCHEMA_VERSION}, CAST\\('\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}' AS TIMESTAMP\\)\\)$`));
    expect(load).toEqual(w.loadStatements(request('L1')));
  });

  test('a migration another worker ran first (our ALTER fails: the column exists) lets the load go on when nothing is left to do', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_race_${Date.now()}` });
    const n = w.loadStatements(request()).length;
    mock.on(BatchExecuteStatementCommand).resolvesOnce({ Id: 'batch-ddl' }).resolvesOnce({ Id: 'batch-alter' }).resolves({ Id: 'batch-load' });
    mock.on(DescribeStatementCommand, { Id: 'batch-ddl' }).resolves({ Id: 'batch-ddl', Status: 'FINISHED' });
    mock.on(DescribeStatementCommand, { Id: 'batch-alter' }).resolves({ Id: 'batch-alter', Status: 'FAILED', Error: 'ERROR: column "currency" of relation "fact_sales" already exists' });
    mock.on(DescribeStatementCommand, { Id: 'batch-load' }).resolves({ Id: 'batch-load', Status: 'FINISHED' });
    mock.on(GetStatementResultCommand, { Id: `batch-load:${n}` }).resolves({ Records: [[{ longValue: 3 }, { longValue: 0 }, { longValue: 4 }, { longValue: 0 }, { longValue: 1 }]] });
    storedLayout({ ...currentLayout(), fact_sales: currentLayout().fact_sales.filter((c) => c !== 'currency') }, null);
    // The second read of the layout finds the other worker's migration.
    mock.on(GetStatementResultCommand, { Id: 'q-columns' }).resolvesOnce(layoutResult({ ...currentLayout(), fact_sales: currentLayout().fact_sales.filter((c) => c !== 'currency') })).resolves(layoutResult(currentLayout()));
    mock.on(GetStatementResultCommand, { Id: 'q-version' }).resolvesOnce(versionResult(null)).resolves(versionResult(SCHEMA_VERSION));

    await expect(w.load(request('L1'), () => {})).resolves.toEqual({ ordersLoaded: 3, ordersKept: 0, linesLoaded: 4, duplicates: 0, rejectedItems: 1 });
    expect(batchInputs().map((i) => i.Sqls![0])).toEqual([schemaStatements()[0], 'ALTER TABLE fact_sales ADD COLUMN currency VARCHAR(256)', w.loadStatements(request('L1'))[0]]);
  });

  test('a layout that cannot be migrated in place stops before the load, saying what differs', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_gap_${Date.now()}` });
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-g' });
    mock.on(DescribeStatementCommand, { Id: 'batch-g' }).resolves({ Id: 'batch-g', Status: 'FINISHED' });
    storedLayout({ ...currentLayout(), dim_user: ['user_id', 'country', 'created_at', 'is_inferred'] }, 1);

    await expect(w.load(request('L1'), () => {})).rejects.toThrow(
      new WarehouseLoadError(
        `${w.name} cannot be brought to schema version ${SCHEMA_VERSION}: dim_user lacks email before its last column (stored: user_id, country, created_at, is_inferred): ADD COLUMN would put it out of order`,
      ),
    );
    expect(batchInputs().map((i) => i.Sqls)).toEqual([schemaStatements()]);
  });

  test('a warehouse a newer version migrated is refused', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_new_${Date.now()}` });
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-n' });
    mock.on(DescribeStatementCommand, { Id: 'batch-n' }).resolves({ Id: 'batch-n', Status: 'FINISHED' });
    storedLayout(currentLayout(), SCHEMA_VERSION + 1);
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(
      `${w.name} cannot be brought to schema version ${SCHEMA_VERSION}: the warehouse is at schema version ${SCHEMA_VERSION + 1}, newer than this orders-etl's ${SCHEMA_VERSION}: upgrade orders-etl`,
    );
  });

  test('a failed schema batch fails the load with Redshift\'s text', async () => {
    const w = warehouse({ ensureSchemaOnLoad: true, database: `db_fail_${Date.now()}` });
    mock.on(BatchExecuteStatementCommand).resolves({ Id: 'batch-x' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'batch-x', Status: 'FAILED', Error: 'ERROR: permission denied for schema public' });
    await expect(w.load(request('L1'), () => {})).rejects.toThrow(/creating the schema failed: ERROR: permission denied for schema public/);
    expect(batchInputs()).toHaveLength(1);
  });
});

describe('query', () => {
  test('ExecuteStatement, poll, then every page of GetStatementResult as plain rows', async () => {
    const w = warehouse();
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-1' });
    mock.on(DescribeStatementCommand).resolvesOnce({ Id: 'q-1', Status: 'STARTED' }).resolves({ Id: 'q-1', Status: 'FINISHED', HasResultSet: true });
    const ColumnMetadata = [{ name: 'category' }, { name: 'revenue' }, { name: 'orders' }, { name: 'is_inferred' }, { name: 'share' }];
    mock
      .on(GetStatementResultCommand, { Id: 'q-1', NextToken: undefined })
      .resolves({
        ColumnMetadata,
        Records: [[{ stringValue: 'books' }, { stringValue: '12.50' }, { longValue: 2 }, { booleanValue: false }, { doubleValue: 0.25 }]],
        NextToken: 'page-2',
      })
      .on(GetStatementResultCommand, { Id: 'q-1', NextToken: 'page-2' })
      .resolves({ ColumnMetadata, Records: [[{ isNull: true }, { stringValue: '3.00' }, { longValue: 1 }, { booleanValue: true }, { isNull: true }]] });

    await expect(w.query('SELECT category, revenue FROM x')).resolves.toEqual([
      { category: 'books', revenue: '12.50', orders: 2, is_inferred: false, share: 0.25 },
      { category: null, revenue: '3.00', orders: 1, is_inferred: true, share: null },
    ]);
    expect(mock.commandCalls(ExecuteStatementCommand)[0].args[0].input).toMatchObject({ Sql: 'SELECT category, revenue FROM x', Database: 'analytics', WorkgroupName: 'orders-wg' });
    expect(mock.commandCalls(GetStatementResultCommand)).toHaveLength(2);
  });

  test('a statement without a result set returns no rows', async () => {
    const w = warehouse();
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-2' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'q-2', Status: 'FINISHED', HasResultSet: false });
    await expect(w.query('SELECT 1 WHERE FALSE')).resolves.toEqual([]);
    expect(mock.commandCalls(GetStatementResultCommand)).toHaveLength(0);
  });

  test('a failed query throws with Redshift\'s text', async () => {
    const w = warehouse();
    mock.on(ExecuteStatementCommand).resolves({ Id: 'q-3' });
    mock.on(DescribeStatementCommand).resolves({ Id: 'q-3', Status: 'FAILED', Error: 'ERROR: relation "nope" does not exist' });
    await expect(w.query('SELECT * FROM nope')).rejects.toThrow(/relation "nope" does not exist/);
  });
});

describe('target', () => {
  const base = { REDSHIFT_DATABASE: 'analytics', REDSHIFT_IAM_ROLE: ROLE };

  test('provisioned cluster with a database user, or Serverless workgroup', () => {
    expect(redshiftTargetFromEnv({ ...base, REDSHIFT_CLUSTER_ID: 'c1', REDSHIFT_DB_USER: 'etl', AWS_REGION: 'eu-west-1' })).toEqual({
      database: 'analytics',
      clusterIdentifier: 'c1',
      dbUser: 'etl',
      iamRole: ROLE,
      region: 'eu-west-1',
    });
    expect(redshiftTargetFromEnv({ ...base, REDSHIFT_WORKGROUP: 'wg', REDSHIFT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:x' })).toEqual({
      database: 'analytics',
      workgroupName: 'wg',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:x',
      iamRole: ROLE,
    });
  });

  test('names the target by cluster or workgroup and database', () => {
    expect(new RedshiftWarehouse({ ...redshiftTargetFromEnv({ ...base, REDSHIFT_WORKGROUP: 'wg' }), client }).name).toBe('redshift:wg/analytics');
  });

  test('one clear line per missing value', () => {
    const failure = (() => {
      try {
        redshiftTargetFromEnv({});
      } catch (err) {
        return err as Error;
      }
    })();
    expect(failure).toBeInstanceOf(InvalidInputError);
    expect(failure!.message).not.toContain('\n'); // one line on the command line
    const prefix = '--warehouse redshift is not configured: ';
    expect(failure!.message.startsWith(prefix)).toBe(true);
    expect(failure!.message.slice(prefix.length).split('; ')).toEqual([
      'REDSHIFT_DATABASE is required: the Redshift database to load into',
      'REDSHIFT_CLUSTER_ID (provisioned) or REDSHIFT_WORKGROUP (Serverless) is required',
      'REDSHIFT_IAM_ROLE is required: the IAM role ARN COPY uses to read the staged Parquet from S3',
    ]);
  });

  test.each([
    [{ REDSHIFT_CLUSTER_ID: 'c1', REDSHIFT_WORKGROUP: 'wg' }, /REDSHIFT_CLUSTER_ID and REDSHIFT_WORKGROUP conflict/],
    [{ REDSHIFT_CLUSTER_ID: 'c1' }, /REDSHIFT_CLUSTER_ID needs REDSHIFT_DB_USER .* or REDSHIFT_SECRET_ARN/],
    [{ REDSHIFT_CLUSTER_ID: 'c1', REDSHIFT_DB_USER: 'u', REDSHIFT_SECRET_ARN: 's' }, /REDSHIFT_DB_USER and REDSHIFT_SECRET_ARN conflict/],
    [{ REDSHIFT_WORKGROUP: 'wg', REDSHIFT_DB_USER: 'u' }, /REDSHIFT_DB_USER applies to provisioned clusters only/],
    [{ REDSHIFT_WORKGROUP: 'wg', REDSHIFT_IAM_ROLE: 'copy-role' }, /REDSHIFT_IAM_ROLE must be an IAM role ARN/],
  ])('conflicting or invalid values are refused: %j', (env, message) => {
    expect(() => redshiftTargetFromEnv({ ...base, ...env })).toThrow(message);
    expect(() => redshiftTargetFromEnv({ ...base, ...env })).toThrow(InvalidInputError);
  });

  test('the constructor validates a programmatic target too', () => {
    expect(() => new RedshiftWarehouse({ database: 'd', iamRole: ROLE, client })).toThrow(/clusterIdentifier \(provisioned\) or workgroupName/);
  });
});
