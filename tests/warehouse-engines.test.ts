/**
 * One body over every engine (as kysely's tests run one body per dialect): the same staged Parquet loaded into
 * DuckDB (DuckDbWarehouse) and into PostgreSQL through the real RedshiftWarehouse, whose Data API calls run on
 * PGlite (tests/support/redshift-on-postgres.ts: only COPY from S3 and Redshift's physical-design clauses are stood
 * in for). The tables must come out identical, and every statement Redshift would receive must parse as Redshift
 * SQL (sqlglot's `redshift` dialect).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { QualityGateError, ReconciliationError, WarehouseLoadError } from '../core/errors';
import { stagedManifestKey } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import type { Lake } from '../activities/lake';
import { SCHEMA_VERSION, STAGED_TABLES, STORED_COLUMNS_SQL, TABLES, columnNames, planMigration, schemaSql, type TableName } from '../core/schema';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import { RedshiftWarehouse, schemaStatements } from '../activities/warehouse/redshift-warehouse';
import type { LoadOutcome, LoadResult, Row, Warehouse } from '../activities/warehouse/warehouse';
import { DEFAULT_QUALITY_GATES, withOverrides, type QualityGates } from '../core/quality';
import { RedshiftOnPostgres, S3_ROOT, s3View, toPostgres } from './support/redshift-on-postgres';
import { loadBookkeeping } from '../core/load-counts';
import { dumpSql, prepareLoad, reference, tempDir, type Reference } from './support/rules-pipeline';
import { redshiftParseProblems } from './support/sqlglot';

const ROLE = 'arn:aws:iam::123456789012:role/orders-etl-copy';
const ENGINES = ['duckdb', 'postgres'] as const;
type EngineName = (typeof ENGINES)[number];

interface Engine {
  warehouse: Warehouse;
  /** The lake as this engine's loads address it. */
  lake: Lake;
  /** Runs fixture SQL directly, outside the warehouse under test (e.g. to build an older layout). */
  exec(sql: string): Promise<void>;
  /** This engine's current DDL, as the warehouse itself would create it. */
  ddl: string;
}

let dir: string;
let cleanup: () => void;
let lake: LocalLake;
let postgres: RedshiftOnPostgres;
let databases = 0;

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('warehouse-engines'));
  lake = new LocalLake(path.join(dir, 'lake'));
  postgres = await RedshiftOnPostgres.start(lake);
}, 120_000);
afterAll(async () => {
  await postgres?.close();
  cleanup?.();
});

/** A fresh, empty warehouse on each engine. */
async function engines(): Promise<Record<EngineName, Engine>> {
  await postgres.reset();
  const file = path.join(dir, `warehouse-${++databases}.duckdb`);
  return {
    duckdb: {
      warehouse: new DuckDbWarehouse(file),
      lake,
      ddl: schemaSql('duckdb'),
      exec: async (sql) => {
        const db = await DuckDBInstance.create(file);
        const c = await db.connect();
        try {
          await c.run(sql);
        } finally {
          c.closeSync();
          db.closeSync();
        }
      },
    },
    postgres: {
      // A database name of its own: the warehouse ensures a target's schema once per process.
      warehouse: new RedshiftWarehouse({ database: `engines_${databases}`, workgroupName: 'pglite', iamRole: ROLE, client: postgres.client, pollIntervalMs: 1, sleep: async () => undefined }),
      lake: s3View(lake),
      ddl: schemaStatements().map((s) => `${toPostgres(s)};`).join('\n'),
      exec: async (sql) => void (await postgres.pg.exec(sql)),
    },
  };
}

const order = (order_id: string, created_at: string, items: unknown[], more: Record<string, unknown> = {}) => ({ order_id, user_id: 'u1', created_at, currency: 'USD', items, ...more });

interface Staged {
  loadId: string;
  prepared: Awaited<ReturnType<typeof prepareLoad>>;
}

/** Extract → transform → stage once: every engine then loads the very same Parquet files. */
async function stage(loadId: string, records: unknown[], ref: Reference = reference()): Promise<Staged> {
  // prepareLoad never touches the warehouse (its options type merely carries one).
  const prepared = await prepareLoad({ lake, warehouse: undefined as never, loadId, records, reference: ref, startedAt: '2025-10-05T08:00:00.000Z' });
  return { loadId, prepared };
}

function loadInto(engine: Engine, { loadId, prepared }: Staged, quality?: QualityGates): Promise<LoadResult> {
  const run = { loadId, pipelineId: 'engines', source: '/data/orders.json', startedAt: '2025-10-05T08:00:00.000Z' };
  return engine.warehouse.load(
    { lake: engine.lake, manifests: prepared.stage.manifests, bookkeeping: loadBookkeeping(run, [prepared.transform]), fields: prepared.transform.fields, quality },
    () => undefined,
  );
}

const KEYS: Record<TableName, string> = {
  fact_sales: 'order_id, line_number',
  dim_order: 'order_id',
  dim_user: 'user_id',
  dim_product: 'sku',
  rejected_records: 'load_id, reason, order_id, line_number',
  etl_loads: 'load_id',
  schema_fields: 'load_id, path',
  schema_changes: 'load_id, path',
  quality_checks: 'load_id, "check"',
};

/** Every table as text, in key order; etl_loads without finished_at, schema_changes without detected_at (each engine's own clock). */
async function dump(w: Warehouse): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {};
  for (const table of Object.keys(TABLES) as TableName[]) out[table] = await w.query(dumpSql(table, KEYS[table]));
  for (const row of out.etl_loads) delete row.finished_at;
  for (const row of out.schema_changes) delete row.detected_at;
  out.etl_schema_version = await w.query('SELECT version FROM etl_schema_version');
  return out;
}

describe('the same staged loads on DuckDB and on PostgreSQL running the Redshift statements', () => {
  test('replace newer/equal versions, keep older ones, promote inferred members, and a reload changes nothing: identical tables', async () => {
    const all = await engines();
    const users = (rows: string) => `user_id,email,country,created_at\n${rows}`;
    const products = (rows: string) => `sku,name,category,price\n${rows}`;
    const loads = [
      await stage('L1', [
        order('o1', '2025-10-01T08:00:00Z', [{ sku: 'A', qty: 1, price: 1 }]), // an older version in the same load: a duplicate
        order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 10.005 }, { sku: 'B', qty: 2, price: 1.005 }, { sku: 'C', qty: 1, price: 2.675 }], { amount: 14.715, metadata: { source: 'web', promo: 'P' } }),
        order('o2', '2025-09-30T23:30:00-05:00', [{ sku: 'A', qty: 1, price: '1' }], { user_id: 'u2' }),
        ['junk'],
        order('o9', '2025-10-01T09:00:00Z', [{ sku: 'A', qty: 0, price: 1 }]),
        // u1 and A repeated: the last line wins.
      ], reference(users('u1,old@example.com,AR,2023-01-01\nu1,one@example.com,PE,2024-01-01\n'), products('A,Old Apple,fruit,9.99\nA,Apple,fruit,1.00\n'), 1)),
      // A newer version of o1 with fewer items, and a new order.
      await stage('L2', [order('o1', '2025-10-01T11:00:00Z', [{ sku: 'D', qty: 4, price: 0.25 }], { amount: 1 }), order('o3', '2025-10-02T10:00:00Z', [{ sku: 'A', qty: 3, price: 2 }], { user_id: 'u3' })]),
      // An older version of o1: kept out.
      await stage('L3', [order('o1', '2025-10-01T10:59:59.999999Z', [{ sku: 'E', qty: 1, price: 9 }], { amount: 9 })]),
      // The same created_at as the stored o3: the latest load wins.
      await stage('L4', [order('o3', '2025-10-02T05:00:00-05:00', [{ sku: 'E', qty: 2, price: '3.333' }], { user_id: 'u3', amount: '6.66', currency: 'PEN' })]),
      // u2 and B were inferred: the reference files now have them.
      await stage('L5', [order('o4', '2025-10-03T10:00:00Z', [{ sku: 'B', qty: 1, price: 5 }], { user_id: 'u2' })], reference(users('u2,two@example.com,CL,2024-02-02T02:02:02Z\n'), products('B,Banana,fruit,0.50\n'))),
    ];
    const reload = await stage('L6', [order('o4', '2025-10-03T10:00:00Z', [{ sku: 'B', qty: 1, price: 5 }], { user_id: 'u2' })], reference(users('u2,two@example.com,CL,2024-02-02T02:02:02Z\n'), products('B,Banana,fruit,0.50\n')));

    const outcomes: Record<EngineName, LoadOutcome[]> = { duckdb: [], postgres: [] };
    const star = (tables: Record<string, Row[]>) => ({ fact_sales: tables.fact_sales, dim_order: tables.dim_order, dim_user: tables.dim_user, dim_product: tables.dim_product });
    for (const staged of loads) {
      for (const name of ENGINES) outcomes[name].push(await loadInto(all[name], staged));
      expect(await dump(all.postgres.warehouse)).toEqual(await dump(all.duckdb.warehouse));
    }
    const before = star(await dump(all.duckdb.warehouse));
    for (const name of ENGINES) {
      outcomes[name].push(await loadInto(all[name], reload));
      expect(star(await dump(all[name].warehouse))).toEqual(before);
    }
    const final = await dump(all.duckdb.warehouse);
    expect(await dump(all.postgres.warehouse)).toEqual(final);

    const outcome = (ordersLoaded: number, ordersKept: number, linesLoaded: number, duplicates = 0, rejectedItems = 0) => ({ ordersLoaded, ordersKept, linesLoaded, duplicates, rejectedItems });
    const expected = [outcome(3, 0, 4, 1, 1), outcome(2, 0, 2), outcome(0, 1, 0), outcome(1, 0, 1), outcome(1, 0, 1), outcome(1, 0, 1)];
    expect(outcomes).toEqual({ duckdb: expected, postgres: expected });
    const fact = (order_id: string, line_number: string, user_id: string, sku: string, created_at: string, quantity: string, unit_price: string, line_amount: string, currency = 'USD') =>
      ({ order_id, line_number, user_id, sku, created_at, order_date: created_at.slice(0, 10), quantity, unit_price, line_amount, currency });
    expect(final.fact_sales).toEqual([
      fact('o1', '1', 'u1', 'D', '2025-10-01 11:00:00', '4', '0.25', '1.00'),
      fact('o2', '1', 'u2', 'A', '2025-10-01 04:30:00', '1', '1.00', '1.00'),
      fact('o3', '1', 'u3', 'E', '2025-10-02 10:00:00', '2', '3.33', '6.66', 'PEN'),
      fact('o4', '1', 'u2', 'B', '2025-10-03 10:00:00', '1', '5.00', '5.00'),
    ]);
    expect(final.dim_order.map((o) => [o.order_id, o.created_at, o.total_amount, o.currency, o.source, o.promo, o.item_count])).toEqual([
      ['o1', '2025-10-01 11:00:00', '1.00', 'USD', 'unknown', null, '1'],
      ['o2', '2025-10-01 04:30:00', null, 'USD', 'unknown', null, '1'],
      ['o3', '2025-10-02 10:00:00', '6.66', 'PEN', 'unknown', null, '1'],
      ['o4', '2025-10-03 10:00:00', null, 'USD', 'unknown', null, '1'],
      ['o9', '2025-10-01 09:00:00', null, 'USD', 'unknown', null, '0'],
    ]);
    expect(final.dim_user).toEqual([
      { user_id: 'u1', email: 'one@example.com', country: 'PE', created_at: '2024-01-01 00:00:00', is_inferred: 'false' },
      { user_id: 'u2', email: 'two@example.com', country: 'CL', created_at: '2024-02-02 02:02:02', is_inferred: 'false' },
      { user_id: 'u3', email: null, country: null, created_at: null, is_inferred: 'true' },
    ]);
    expect(final.dim_product.map((p) => [p.sku, p.name, p.price, p.is_inferred])).toEqual([
      ['A', 'Apple', '1.00', 'false'],
      ['B', 'Banana', '0.50', 'false'],
      ['C', null, null, 'true'],
      ['D', null, null, 'true'],
      ['E', null, null, 'true'],
    ]);
    expect(final.etl_loads.map((l) => [l.load_id, l.extracted, l.duplicates, l.orders_loaded, l.orders_kept, l.lines_loaded])).toEqual([
      ['L1', '5', '1', '3', '0', '4'],
      ['L2', '2', '0', '2', '0', '2'],
      ['L3', '1', '0', '0', '1', '0'],
      ['L4', '1', '0', '1', '0', '1'],
      ['L5', '1', '0', '1', '0', '1'],
      ['L6', '1', '0', '1', '0', '1'],
    ]);
    expect(final.etl_schema_version).toEqual([{ version: SCHEMA_VERSION }]);

    // Every statement the Redshift warehouse submitted, COPY included, parses as Redshift SQL.
    expect(postgres.submitted.filter((s) => s.startsWith('COPY '))).toHaveLength(STAGED_TABLES.length * 6);
    expect(await redshiftParseProblems([...new Set(postgres.submitted)])).toEqual([]);
  });

  test.each(ENGINES)('%s: a load that does not reconcile fails as a ReconciliationError and commits nothing', async (name) => {
    const engine = (await engines())[name];
    await loadInto(engine, await stage('R1', [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 1 }])]));
    const before = await dump(engine.warehouse);
    const tampered = await stage('R2', [order('o2', '2025-10-02T10:00:00Z', [{ sku: 'A', qty: 1, price: 1 }, { sku: 'B', qty: 1, price: 1 }])]);
    tampered.prepared.transform.counts.versionLines += 1;
    const failure = await loadInto(engine, tampered).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ReconciliationError);
    expect((failure as Error).message).toContain("staged lines differ from the transform's 3");
    expect(await dump(engine.warehouse)).toEqual(before);
  });
});

describe('quality gates: the same checks in the same transaction on both engines', () => {
  const gates = withOverrides(DEFAULT_QUALITY_GATES, { rejection_rate: { warn: 0.05, fail: 0.3 }, volume_low: { warn: 0.8, fail: 0.4 }, volume_high: { warn: 1.5, fail: 3 } }, 3);
  const orders = (prefix: string, n: number, more: Record<string, unknown> = {}) =>
    Array.from({ length: n }, (_, i) => order(`${prefix}-${i}`, `2025-10-0${1 + (i % 9)}T10:00:00Z`, [{ sku: i % 2 ? 'A' : 'B', qty: 1, ...(i % 4 ? { price: 1 } : {}) }], more));
  const users = 'user_id,email,country,created_at\nu1,one@example.com,PE,2024-01-01\n';

  test('identical results and quality_checks rows; a failed gate rolls back on both, its results read back from the batch', async () => {
    const all = await engines();
    const history = [await stage('Q1', orders('a', 4), reference(users)), await stage('Q2', orders('b', 8)), await stage('Q3', orders('c', 6, { user_id: 'u2' }), reference(users))];
    const results: Record<EngineName, unknown[]> = { duckdb: [], postgres: [] };
    for (const staged of history) for (const name of ENGINES) results[name].push((await loadInto(all[name], staged, gates)).quality);
    // Q3: a third of its lines without a price, every user inferred (u2 is not in the users file); volume not yet
    // measured (two earlier loads, a window of 3); no products file, so no inferred_product_rate.
    expect(results.duckdb.at(-1)).toEqual([
      { check: 'rejection_rate', observed: 0, threshold: 0.05, outcome: 'pass' },
      { check: 'null_price_rate', observed: 2 / 6, threshold: 0.2, outcome: 'warn' },
      { check: 'inferred_user_rate', observed: 1, threshold: 0.1, outcome: 'warn' },
    ]);
    expect(results.postgres).toEqual(results.duckdb);

    // A third of Q4's records rejected, and its 3 records against the median of 4, 8 and 6.
    const bad = await stage('Q4', [...orders('d', 2), order('d-x', '2025-10-09T10:00:00Z', [], { user_id: '' })]);
    const before = { duckdb: await dump(all.duckdb.warehouse), postgres: await dump(all.postgres.warehouse) };
    expect(before.postgres).toEqual(before.duckdb);
    for (const name of ENGINES) {
      const failure = await loadInto(all[name], bad, gates).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(QualityGateError);
      expect((failure as Error).message).toBe('load Q4 failed its quality gate: rejection_rate 0.3333 (fail: above 0.3); nothing was committed');
      expect((failure as QualityGateError).results).toEqual([
        { check: 'rejection_rate', observed: 1 / 3, threshold: 0.3, outcome: 'fail' },
        { check: 'volume_low', observed: 0.5, threshold: 0.8, outcome: 'warn' },
        { check: 'volume_high', observed: 0.5, threshold: 1.5, outcome: 'pass' },
        { check: 'null_price_rate', observed: 0.5, threshold: 0.2, outcome: 'warn' },
      ]);
      expect(await dump(all[name].warehouse)).toEqual(before[name]);
    }
    expect(before.duckdb.quality_checks.map((r) => [r.load_id, r.check, r.outcome])).toEqual([
      ['Q1', 'inferred_user_rate', 'pass'],
      ['Q1', 'null_price_rate', 'warn'],
      ['Q1', 'rejection_rate', 'pass'],
      ['Q2', 'null_price_rate', 'warn'],
      ['Q2', 'rejection_rate', 'pass'],
      ['Q3', 'inferred_user_rate', 'warn'],
      ['Q3', 'null_price_rate', 'warn'],
      ['Q3', 'rejection_rate', 'pass'],
    ]);
    expect(await redshiftParseProblems([...new Set(postgres.submitted)])).toEqual([]);
  });
});

describe('the Redshift de-duplication guard, on PostgreSQL', () => {
  test('a manifest that lists its file twice doubles every staged row; the guard keeps one of each and the load lands as once', async () => {
    const once = (await engines()).postgres;
    const records = [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 1 }, { sku: 'B', qty: 2, price: 2 }]), order('o2', '2025-10-02T10:00:00Z', [], { user_id: 'u2' })];
    const staged = await stage('D1', records);
    await loadInto(once, staged);
    const expected = await dump(once.warehouse);

    const twice = (await engines()).postgres;
    const manifests = { ...staged.prepared.stage.manifests };
    for (const table of ['dim_user', 'dim_product', 'dim_order', 'fact_sales'] as const) {
      const manifest = JSON.parse((await lake.get(manifests[table])).toString('utf8')) as { entries: unknown[] };
      manifests[table] = `staged/D1/${table}.twice.manifest`;
      await lake.put(manifests[table], JSON.stringify({ entries: [...manifest.entries, ...manifest.entries] }));
    }
    const doubled = { ...staged, prepared: { ...staged.prepared, stage: { ...staged.prepared.stage, manifests } } };
    await expect(loadInto(twice, doubled)).resolves.toEqual({ ordersLoaded: 2, ordersKept: 0, linesLoaded: 2, duplicates: 0, rejectedItems: 0 });
    expect(await dump(twice.warehouse)).toEqual(expected);
  });
});

describe('schema changes: a warehouse an older version created', () => {
  const oldFact = "INSERT INTO fact_sales VALUES ('o0', 1, 'u0', 'A', CAST('2025-09-01 00:00:00' AS TIMESTAMP), CAST('2025-09-01' AS DATE), 1, 1.00, 1.00)";

  test.each(ENGINES)('%s: a table lacking its last (nullable) column gains it, keeps its rows, loads, and records the version', async (name) => {
    const engine = (await engines())[name];
    await engine.exec(`${engine.ddl}\nALTER TABLE fact_sales DROP COLUMN currency;\n${oldFact};`);

    await expect(loadInto(engine, await stage('M1', [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 2, price: 1.5 }])]))).resolves.toEqual({ ordersLoaded: 1, ordersKept: 0, linesLoaded: 1, duplicates: 0, rejectedItems: 0 });

    const columns = await engine.warehouse.query(STORED_COLUMNS_SQL);
    expect(columns.filter((c) => c.table_name === 'fact_sales').map((c) => c.column_name)).toEqual(columnNames('fact_sales'));
    expect((await engine.warehouse.query(dumpSql('fact_sales', 'order_id'))).map((r) => [r.order_id, r.quantity, r.line_amount, r.currency])).toEqual([
      ['o0', '1', '1.00', null],
      ['o1', '2', '3.00', 'USD'],
    ]);
    expect(await engine.warehouse.query('SELECT version FROM etl_schema_version')).toEqual([{ version: SCHEMA_VERSION }]);
    if (name === 'postgres') {
      // The Redshift path: the DDL batch, then the layout read in statements of their own, then only the missing column.
      const alters = postgres.submitted.filter((s) => s.startsWith('ALTER TABLE'));
      expect(alters).toEqual(['ALTER TABLE fact_sales ADD COLUMN currency VARCHAR(256)']);
      expect(postgres.submitted.indexOf(STORED_COLUMNS_SQL)).toBeLessThan(postgres.submitted.indexOf(alters[0]));
    }

    // The next load finds the layout current: nothing more to migrate, the version recorded once.
    await loadInto(engine, await stage('M2', [order('o2', '2025-10-02T10:00:00Z', [])]));
    expect(await engine.warehouse.query('SELECT version FROM etl_schema_version')).toEqual([{ version: SCHEMA_VERSION }]);
  });

  test.each(ENGINES)('%s: a column missing from the middle stops the load with what differs, before anything is loaded', async (name) => {
    const engine = (await engines())[name];
    await engine.exec(`${engine.ddl}\nALTER TABLE dim_order DROP COLUMN promo;`);

    const failure = await loadInto(engine, await stage('M1', [order('o1', '2025-10-01T10:00:00Z', [])])).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WarehouseLoadError);
    expect((failure as Error).message).toBe(
      `${engine.warehouse.name} cannot be brought to schema version ${SCHEMA_VERSION}: dim_order lacks promo before its last column ` +
        '(stored: order_id, user_id, created_at, order_date, total_amount, currency, source, item_count): ADD COLUMN would put it out of order',
    );
    expect(await engine.warehouse.query('SELECT COUNT(*) AS n FROM etl_loads')).toEqual([{ n: 0 }]);
    expect(await engine.warehouse.query('SELECT COUNT(*) AS n FROM etl_schema_version')).toEqual([{ n: 0 }]);
  });

  test.each(ENGINES)('%s: a missing NOT NULL column, or a column this version does not know, stops the load', async (name) => {
    const engine = (await engines())[name];
    await engine.exec(`${engine.ddl}\nALTER TABLE dim_user DROP COLUMN is_inferred;\nALTER TABLE dim_product ADD COLUMN colour VARCHAR(20);`);
    await expect(loadInto(engine, await stage('M1', [order('o1', '2025-10-01T10:00:00Z', [])]))).rejects.toThrow(
      new WarehouseLoadError(
        `${engine.warehouse.name} cannot be brought to schema version ${SCHEMA_VERSION}: dim_user lacks NOT NULL column is_inferred, which cannot be added to stored rows; ` +
          `dim_product has column colour that schema version ${SCHEMA_VERSION} does not define`,
      ),
    );
  });
});

describe("Redshift's SQL parses as Redshift SQL (sqlglot's redshift dialect)", () => {
  const request = () => ({
    lake: s3View(lake),
    manifests: Object.fromEntries(STAGED_TABLES.map((t) => [t, stagedManifestKey('DRY-RUN', t)])),
    bookkeeping: { loadId: "it's-1", pipelineId: 'p', source: 's', startedAt: '2025-10-05T08:00:00.000Z', sinceTs: '2025-10-01T00:00:00Z', untilTs: null, watermark: null, extracted: 0, rejectedOrders: 0, versions: 0, versionLines: 0, itemRejections: 0 },
  });

  test('every statement of `run --warehouse redshift --dry-run` (schema batch, layout queries, load batch), and the migrations', async () => {
    const statements = [ROLE, 'default'].flatMap((iamRole) =>
      new RedshiftWarehouse({ database: 'd', workgroupName: 'w', iamRole, client: postgres.client }).dryRun(request()),
    );
    expect(statements.filter((s) => s.startsWith(`COPY stg_dim_user FROM '${S3_ROOT}/staged/DRY-RUN/dim_user.manifest'`))).toHaveLength(2);
    const oldLayout = Object.fromEntries(Object.values(TABLES).map((t) => [t.name, t.columns.map((c) => c.name).filter((c) => c !== 'currency' || t.name !== 'fact_sales')]));
    const migration = planMigration('redshift', oldLayout, null, '2025-10-05T08:00:00.000Z').statements;
    expect(migration).toEqual(['ALTER TABLE fact_sales ADD COLUMN currency VARCHAR(256)', `INSERT INTO etl_schema_version (version, applied_at) VALUES (${SCHEMA_VERSION}, CAST('2025-10-05 08:00:00.000' AS TIMESTAMP))`]);
    expect(await redshiftParseProblems([...statements, ...migration])).toEqual([]);
  });

  test('the script `run --warehouse redshift --dry-run` prints parses as a whole', async () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, REDSHIFT_WORKGROUP: 'wg', REDSHIFT_DATABASE: 'dev', REDSHIFT_IAM_ROLE: ROLE, AWS_REGION: 'eu-west-1' };
    const out = spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'client.js'), 'run', '--warehouse', 'redshift', '--lake', 's3://acme-lake/orders', '--dry-run'], { env, encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toContain(`${STORED_COLUMNS_SQL};`);
    expect(await redshiftParseProblems([out.stdout])).toEqual([]);
  });

  test('the check can fail: what is not SQL is reported, by position', async () => {
    const problems = await redshiftParseProblems(['SELECT 1', 'SELECT FROM WHERE (', 'CREATE TEMP TABLE stg_x (LIKE x)', 'VACUUM fact_sales']);
    expect(problems.map((p) => [p.statement, p.sql])).toEqual([[2, 'SELECT FROM WHERE ('], [4, 'VACUUM fact_sales']]);
    expect(problems[1].error).toBe('not understood, only kept as a command: VACUUM fact_sales');
  });
});
