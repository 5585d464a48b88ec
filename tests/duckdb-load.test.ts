/**
 * The full local path without Temporal: raw pages → transformOrders → stageTables → DuckDbWarehouse.load, in
 * temporary directories. Checks the Parquet files Redshift's COPY would read, the manifests, and the merge of
 * CONTRACT.md §4.6. Everything is read back as text (exact decimals, UTC timestamps).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { stagedManifestKey } from '../core/lake-layout';
import { loadBookkeeping } from '../core/load-counts';
import { LocalLake } from '../activities/lake/local-lake';
import { STAGED_TABLES, columnNames, stagedColumns, type ColumnType, type TableName } from '../core/schema';
import { DuckDbWarehouse, withSteadyHeartbeat } from '../activities/warehouse/duckdb-warehouse';
import { ReconciliationError } from '../core/errors';
import type { TransformResult } from '../activities/transform/transform';
import { holdDuckDbFile } from './support/duckdb-holder';
import { dumpSql, dumpStar, loadPrepared, prepareLoad, reference, runLoad, tempDir, type RunOptions } from './support/rules-pipeline';

let dir: string;
let cleanup: () => void;
let lake: LocalLake;
let warehouse: DuckDbWarehouse;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('duckdb-load'));
  lake = new LocalLake(path.join(dir, 'lake'));
  warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
});
afterEach(() => cleanup());

const load = (loadId: string, records: unknown[], extra: Partial<RunOptions> & { since?: string; until?: string; startedAt?: string } = {}) =>
  runLoad({ lake, warehouse, loadId, records, ...extra });

const order = (order_id: string, created_at: string, items: unknown[], more: Record<string, unknown> = {}) => ({
  order_id,
  user_id: 'u1',
  created_at,
  currency: 'USD',
  items,
  ...more,
});

/** Load A: a duplicate, a malformed record, an order whose only item is invalid, and the money edge cases. */
const LOAD_A: unknown[] = [
  order('o1', '2025-10-01T08:00:00Z', [{ sku: 'A', qty: 1, price: 1 }]), // older version: duplicate
  order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 10.005 }, { sku: 'B', qty: 2, price: 1.005 }, { sku: 'C', qty: 1, price: 2.675 }], { amount: 14.715, metadata: { source: 'web', promo: 'P' } }),
  order('o2', '2025-09-30T23:30:00-05:00', [{ sku: 'A', qty: 1, price: '1' }], { user_id: 'u2' }),
  ['junk'],
  order('o9', '2025-10-01T09:00:00Z', [{ sku: 'A', qty: 0, price: 1 }]),
];

const factRows = () => warehouse.query(dumpSql('fact_sales', 'order_id, line_number'));
const sumLineAmount = async () => (await warehouse.query('SELECT CAST(SUM(line_amount) AS VARCHAR) AS s FROM fact_sales'))[0].s;
const etlLoad = async (loadId: string) =>
  (
    await warehouse.query(
      `SELECT ${columnNames('etl_loads').map((c) => `CAST(${c} AS VARCHAR) AS ${c}`).join(', ')}, finished_at >= started_at AS finished_after_start FROM etl_loads WHERE load_id = '${loadId}'`,
    )
  )[0];

/** How each logical type must look in the Parquet file (what Redshift's COPY expects). */
const PARQUET: Record<ColumnType, { type: string; converted_type: string | null; scale: number | null; precision: number | null; logical_type: string | null }> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8', scale: null, precision: null, logical_type: null },
  text: { type: 'BYTE_ARRAY', converted_type: 'UTF8', scale: null, precision: null, logical_type: null },
  int: { type: 'INT32', converted_type: 'INT_32', scale: null, precision: null, logical_type: null },
  bigint: { type: 'INT64', converted_type: 'INT_64', scale: null, precision: null, logical_type: null },
  money: { type: 'INT64', converted_type: 'DECIMAL', scale: 2, precision: 18, logical_type: 'DecimalType(scale=2, precision=18)' },
  double: { type: 'DOUBLE', converted_type: null, scale: null, precision: null, logical_type: null },
  timestamp: {
    type: 'INT64',
    converted_type: 'TIMESTAMP_MICROS',
    scale: null,
    precision: null,
    logical_type: 'TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=<null>, MICROS=MicroSeconds(), NANOS=<null>))',
  },
  date: { type: 'INT32', converted_type: 'DATE', scale: null, precision: null, logical_type: null },
  boolean: { type: 'BOOLEAN', converted_type: null, scale: null, precision: null, logical_type: null },
};

/** Runs SQL in a private in-memory DuckDB pinned to UTC (never the warehouse file). */
async function inMemory(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** The files a load's manifest names for a table, as local paths. */
async function stagedFiles(loadId: string, table: TableName): Promise<string[]> {
  const manifest = JSON.parse(readFileSync(lake.uri(stagedManifestKey(loadId, table)), 'utf8')) as { entries: { url: string }[] };
  return manifest.entries.map((e) => e.url);
}

describe('stage: Parquet files and manifests', () => {
  test('each table is one Parquet file with the physical types COPY needs, in the DDL column order', async () => {
    const { stage } = await load('LA', LOAD_A);
    expect(stage.files).toBe(5);
    // Every version is staged (o1 twice), the dimensions hold the reference rows only (none here: the merge infers members).
    expect(stage.rows).toEqual({ dim_user: 0, dim_product: 0, dim_order: 4, fact_sales: 5, rejected_records: 2 });
    for (const table of STAGED_TABLES) {
      const [file] = await stagedFiles('LA', table);
      const schema = await inMemory(
        `SELECT name, type, converted_type, CAST(scale AS INTEGER) AS scale, CAST(precision AS INTEGER) AS precision, logical_type FROM parquet_schema('${file}') WHERE num_children IS NULL OR num_children = 0`,
      );
      // The table's columns in DDL order, then staging's (the stream position of a version: see merge-sql).
      expect(schema.map((c) => c.name)).toEqual(stagedColumns(table).map((c) => c.name));
      expect(schema).toEqual(stagedColumns(table).map((c) => ({ name: c.name, ...PARQUET[c.type] })));
    }
  });

  test('the Parquet values are the UTC instants and exact decimals, whatever the machine zone', async () => {
    await load('LA', LOAD_A);
    const [file] = await stagedFiles('LA', 'fact_sales');
    expect(
      await inMemory(
        `SELECT order_id, line_number, CAST(epoch_us(created_at) AS VARCHAR) AS micros, CAST(order_date AS VARCHAR) AS order_date, CAST(unit_price AS VARCHAR) AS unit_price, CAST(line_amount AS VARCHAR) AS line_amount FROM read_parquet('${file}') ORDER BY order_id, line_number, created_at`,
      ),
    ).toEqual([
      { order_id: 'o1', line_number: 1, micros: '1759305600000000', order_date: '2025-10-01', unit_price: '1.00', line_amount: '1.00' }, // the older version, staged too
      { order_id: 'o1', line_number: 1, micros: '1759312800000000', order_date: '2025-10-01', unit_price: '10.01', line_amount: '10.01' },
      { order_id: 'o1', line_number: 2, micros: '1759312800000000', order_date: '2025-10-01', unit_price: '1.01', line_amount: '2.02' },
      { order_id: 'o1', line_number: 3, micros: '1759312800000000', order_date: '2025-10-01', unit_price: '2.68', line_amount: '2.68' },
      { order_id: 'o2', line_number: 1, micros: '1759293000000000', order_date: '2025-10-01', unit_price: '1.00', line_amount: '1.00' },
    ]);
    const [rejected] = await stagedFiles('LA', 'rejected_records');
    expect(await inMemory(`SELECT DISTINCT CAST(epoch_us(rejected_at) AS VARCHAR) AS micros FROM read_parquet('${rejected}')`)).toEqual([
      { micros: '1759651200000000' }, // 2025-10-05T08:00:00Z
    ]);
  });

  test("a manifest lists exactly this load's files, with their content lengths", async () => {
    await load('LA', LOAD_A);
    await load('LB', LOAD_A.slice(1, 2));
    for (const loadId of ['LA', 'LB']) {
      for (const table of STAGED_TABLES) {
        const files = (await lake.list(`staged/${loadId}/${table}/`)).map((o) => lake.uri(o.key));
        expect(files.length).toBeGreaterThan(0);
        const manifest = JSON.parse(readFileSync(lake.uri(`staged/${loadId}/${table}.manifest`), 'utf8'));
        expect(manifest).toEqual({ entries: files.map((url) => ({ url, mandatory: true, meta: { content_length: statSync(url).size } })) });
      }
    }
  });
});

describe('load: money, bookkeeping and the merge of §4.6', () => {
  test('prices 10.005, 1.005, 2.675 land as 10.01, 1.01, 2.68; sums are exact decimals', async () => {
    await load('LA', LOAD_A);
    expect(await factRows()).toEqual([
      { order_id: 'o1', line_number: '1', user_id: 'u1', sku: 'A', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', quantity: '1', unit_price: '10.01', line_amount: '10.01', currency: 'USD' },
      { order_id: 'o1', line_number: '2', user_id: 'u1', sku: 'B', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', quantity: '2', unit_price: '1.01', line_amount: '2.02', currency: 'USD' },
      { order_id: 'o1', line_number: '3', user_id: 'u1', sku: 'C', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', quantity: '1', unit_price: '2.68', line_amount: '2.68', currency: 'USD' },
      { order_id: 'o2', line_number: '1', user_id: 'u2', sku: 'A', created_at: '2025-10-01 04:30:00', order_date: '2025-10-01', quantity: '1', unit_price: '1.00', line_amount: '1.00', currency: 'USD' },
    ]);
    expect(await sumLineAmount()).toBe('15.71');
    expect(await warehouse.query(dumpSql('dim_order', 'order_id'))).toEqual([
      { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', total_amount: '14.72', currency: 'USD', source: 'web', promo: 'P', item_count: '3' },
      { order_id: 'o2', user_id: 'u2', created_at: '2025-10-01 04:30:00', order_date: '2025-10-01', total_amount: null, currency: 'USD', source: 'unknown', promo: null, item_count: '1' },
      { order_id: 'o9', user_id: 'u1', created_at: '2025-10-01 09:00:00', order_date: '2025-10-01', total_amount: null, currency: 'USD', source: 'unknown', promo: null, item_count: '0' },
    ]);
    expect(await warehouse.query('SELECT typeof(line_amount) AS t, typeof(SUM(line_amount)) AS s FROM fact_sales GROUP BY 1')).toEqual([
      { t: 'DECIMAL(18,2)', s: 'DECIMAL(38,2)' },
    ]);
  });

  test('etl_loads records the counts, the watermark and the window, UTC', async () => {
    const { outcome } = await load('LA', LOAD_A, { since: '2025-10-01T05:00:00-05:00', until: '2025-10-02T00:00:00Z', startedAt: '2025-10-05T08:00:00.000Z' });
    expect(outcome).toEqual({ ordersLoaded: 3, ordersKept: 0, linesLoaded: 4, duplicates: 1, rejectedItems: 1 });
    expect(await etlLoad('LA')).toEqual({
      load_id: 'LA',
      pipeline_id: 'test-pipeline',
      source: '/data/orders.json',
      started_at: '2025-10-05 08:00:00',
      finished_at: expect.any(String),
      finished_after_start: true,
      since_ts: '2025-10-01 10:00:00',
      until_ts: '2025-10-02 00:00:00',
      watermark: '2025-10-01 10:00:00',
      extracted: '5',
      duplicates: '1',
      rejected_orders: '1',
      rejected_items: '1',
      orders_loaded: '3',
      orders_kept: '0',
      lines_loaded: '4',
    });
    expect(await warehouse.query(`SELECT order_id, CAST(line_number AS VARCHAR) AS line_number, reason, record, CAST(rejected_at AS VARCHAR) AS rejected_at FROM rejected_records WHERE load_id = 'LA' ORDER BY reason`)).toEqual([
      { order_id: 'o9', line_number: '1', reason: 'invalid_item', record: '{"sku":"A","qty":0,"price":1}', rejected_at: '2025-10-05 08:00:00' },
      { order_id: null, line_number: null, reason: 'malformed_record', record: '["junk"]', rejected_at: '2025-10-05 08:00:00' },
    ]);
  });

  test('a newer version replaces its order and all its fact rows, even with fewer items; other orders stay', async () => {
    await load('LA', LOAD_A);
    const before = await dumpStar(warehouse);
    const { outcome } = await load('LB', [order('o1', '2025-10-01T11:00:00Z', [{ sku: 'D', qty: 4, price: 0.25 }], { amount: 1 })]);
    expect(outcome).toEqual({ ordersLoaded: 1, ordersKept: 0, linesLoaded: 1, duplicates: 0, rejectedItems: 0 });
    const after = await dumpStar(warehouse);
    expect(after.fact_sales).toEqual([
      { order_id: 'o1', line_number: '1', user_id: 'u1', sku: 'D', created_at: '2025-10-01 11:00:00', order_date: '2025-10-01', quantity: '4', unit_price: '0.25', line_amount: '1.00', currency: 'USD' },
      before.fact_sales[3],
    ]);
    expect(after.dim_order).toEqual([
      { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01 11:00:00', order_date: '2025-10-01', total_amount: '1.00', currency: 'USD', source: 'unknown', promo: null, item_count: '1' },
      before.dim_order[1],
      before.dim_order[2],
    ]);
    expect(await sumLineAmount()).toBe('2.00');
    expect((await etlLoad('LB')).orders_loaded).toBe('1');
  });

  test('an older version is kept out: orders_kept 1 and the stored rows are unchanged', async () => {
    await load('LA', LOAD_A);
    await load('LB', [order('o1', '2025-10-01T11:00:00Z', [{ sku: 'D', qty: 4, price: 0.25 }], { amount: 1 })]);
    const before = await dumpStar(warehouse);
    const { outcome } = await load('LC', [order('o1', '2025-10-01T10:59:59.999999Z', [{ sku: 'E', qty: 1, price: 9 }, { sku: 'F', qty: 1, price: 9 }], { amount: 18 })]);
    expect(outcome).toEqual({ ordersLoaded: 0, ordersKept: 1, linesLoaded: 0, duplicates: 0, rejectedItems: 0 });
    const after = await dumpStar(warehouse);
    expect(after.fact_sales).toEqual(before.fact_sales);
    expect(after.dim_order).toEqual(before.dim_order);
    expect(after.dim_user).toEqual(before.dim_user);
    const known = new Set(before.dim_product.map((p) => p.sku));
    expect(after.dim_product.filter((p) => known.has(p.sku))).toEqual(before.dim_product);
    expect(await etlLoad('LC')).toMatchObject({ extracted: '1', orders_loaded: '0', orders_kept: '1', lines_loaded: '0' });
  });

  test('an equal created_at replaces the stored version: the latest load wins', async () => {
    await load('LA', LOAD_A);
    const { outcome } = await load('LD', [order('o1', '2025-10-01T05:00:00-05:00', [{ sku: 'E', qty: 2, price: '3.333' }], { amount: '6.66', currency: 'PEN' })]);
    expect(outcome).toEqual({ ordersLoaded: 1, ordersKept: 0, linesLoaded: 1, duplicates: 0, rejectedItems: 0 });
    expect((await factRows()).filter((r) => r.order_id === 'o1')).toEqual([
      { order_id: 'o1', line_number: '1', user_id: 'u1', sku: 'E', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', quantity: '2', unit_price: '3.33', line_amount: '6.66', currency: 'PEN' },
    ]);
    expect((await warehouse.query(dumpSql('dim_order', 'order_id')))[0]).toEqual({
      order_id: 'o1', user_id: 'u1', created_at: '2025-10-01 10:00:00', order_date: '2025-10-01', total_amount: '6.66', currency: 'PEN', source: 'unknown', promo: null, item_count: '1',
    });
  });

  test('a lone surrogate in a string field does not break the stage or the load', async () => {
    const { outcome } = await load('LS', [order('o\ud800', '2025-10-01T10:00:00Z', [{ sku: 'S\udc00', qty: 1, price: 1 }], { user_id: 'u\udbff' }), 'x\ud800']);
    expect(outcome).toEqual({ ordersLoaded: 1, ordersKept: 0, linesLoaded: 1, duplicates: 0, rejectedItems: 0 });
    expect((await factRows()).map((r) => [r.order_id, r.user_id, r.sku])).toEqual([['o\ufffd', 'u\ufffd', 'S\ufffd']]);
    expect(await warehouse.query('SELECT reason, record FROM rejected_records')).toEqual([{ reason: 'malformed_record', record: '"x\\ud800"' }]);
  });

  test('far instants: an exact one loads, one a double would round is rejected; the load never breaks', async () => {
    // The clock is set to the end of time, so that no record here is a future one.
    const { outcome, transform } = await load('LF', [order('o1', '9999-12-31T23:59:59Z', []), order('o2', '9999-12-31T23:59:59.999999Z', [])], { notAfter: '9999-12-31T23:59:59Z' });
    expect(outcome).toEqual({ ordersLoaded: 1, ordersKept: 0, linesLoaded: 0, duplicates: 0, rejectedItems: 0 });
    expect(transform.watermark).toBe('9999-12-31T23:59:59Z');
    expect(await warehouse.query('SELECT order_id, CAST(created_at AS VARCHAR) AS created_at, CAST(order_date AS VARCHAR) AS order_date FROM dim_order')).toEqual([
      { order_id: 'o1', created_at: '9999-12-31 23:59:59', order_date: '9999-12-31' },
    ]);
    expect(await warehouse.query('SELECT order_id, reason FROM rejected_records')).toEqual([{ order_id: 'o2', reason: 'invalid_created_at' }]);
  });

  test('loading the same input twice changes nothing but etl_loads and rejected_records', async () => {
    const ref = reference('user_id,email,country,created_at\nu1,one@example.com,PE,2024-01-01\n', 'sku,name,category,price\nA,Apple,fruit,1.00\n');
    await load('L1', LOAD_A, { reference: ref });
    const first = await dumpStar(warehouse);
    const { outcome } = await load('L2', LOAD_A, { reference: ref, startedAt: '2025-10-06T08:00:00.000Z' });
    expect(outcome).toEqual({ ordersLoaded: 3, ordersKept: 0, linesLoaded: 4, duplicates: 1, rejectedItems: 1 });
    expect(await dumpStar(warehouse)).toEqual(first);
    expect(await warehouse.query('SELECT load_id, COUNT(*) AS n FROM rejected_records GROUP BY load_id ORDER BY load_id')).toEqual([
      { load_id: 'L1', n: 2 },
      { load_id: 'L2', n: 2 },
    ]);
    expect(await warehouse.query('SELECT load_id FROM etl_loads ORDER BY load_id')).toEqual([{ load_id: 'L1' }, { load_id: 'L2' }]);
  });

  test('a retried load (same load id) does not double its bookkeeping', async () => {
    await load('L1', LOAD_A);
    const first = await dumpStar(warehouse);
    await load('L1', LOAD_A);
    expect(await dumpStar(warehouse)).toEqual(first);
    expect(await warehouse.query('SELECT COUNT(*) AS n FROM rejected_records')).toEqual([{ n: 2 }]);
    expect(await warehouse.query('SELECT COUNT(*) AS n FROM etl_loads')).toEqual([{ n: 1 }]);
  });

  test.each([
    ['an extracted record is unaccounted for', (t: TransformResult) => (t.counts.extracted += 1), 'extracted <> orders loaded + kept + duplicates + rejected orders'],
    ['staging lacks a line the transform produced', (t: TransformResult) => (t.counts.versionLines += 1), "staged lines differ from the transform's 6"],
    ['staging lacks an order the transform produced', (t: TransformResult) => (t.counts.versions += 1), "staged orders differ from the transform's 5"],
  ])('a load whose counts do not reconcile fails loudly and commits nothing: %s', async (_what, tamper, problem) => {
    await load('L1', LOAD_A);
    const before = await dumpStar(warehouse);
    const prepared = await prepareLoad({ lake, warehouse, loadId: 'L2', records: LOAD_A });
    tamper(prepared.transform);
    const failure = loadPrepared({ lake, warehouse, loadId: 'L2', records: LOAD_A }, prepared);
    await expect(failure).rejects.toThrow(new ReconciliationError(`load L2 does not reconcile: ${problem}`));
    expect(await dumpStar(warehouse)).toEqual(before);
    expect(await warehouse.query('SELECT load_id FROM etl_loads')).toEqual([{ load_id: 'L1' }]);
    expect(await warehouse.query("SELECT COUNT(*) AS n FROM rejected_records WHERE load_id = 'L2'")).toEqual([{ n: 0 }]);
  });

  test('a reference file that repeats an id: its last line wins, though the stage wrote the lines to different parts', async () => {
    const ref = reference(
      'user_id,email,country,created_at\nu1,first@example.com,AR,2023-01-01\nu2,two@example.com,CL,2024-02-02\nu1,"second\n@example.com",BR,2023-06-01\nu1,last@example.com,PE,2024-01-01\n',
      'sku,name,category,price\nA,Old Apple,fruit,9.99\nA,Apple,fruit,1.00\n',
      1,
    );
    const options = { lake, warehouse, loadId: 'L1', records: [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1 }])], reference: ref };
    const prepared = await prepareLoad(options);
    expect(prepared.stage.rows).toMatchObject({ dim_user: 4, dim_product: 2 });
    const manifest = JSON.parse((await lake.get(prepared.stage.manifests.dim_user)).toString()) as { entries: { url: string }[] };
    expect(manifest.entries.map((e) => path.basename(e.url))).toEqual(['reference-000001.parquet', 'reference-000002.parquet', 'reference-000003.parquet', 'reference-000004.parquet']);
    await loadPrepared(options, prepared);
    expect(await warehouse.query(dumpSql('dim_user', 'user_id'))).toEqual([
      { user_id: 'u1', email: 'last@example.com', country: 'PE', created_at: '2024-01-01 00:00:00', is_inferred: 'false' },
      { user_id: 'u2', email: 'two@example.com', country: 'CL', created_at: '2024-02-02 00:00:00', is_inferred: 'false' },
    ]);
    expect(await warehouse.query(dumpSql('dim_product', 'sku'))).toEqual([{ sku: 'A', name: 'Apple', category: 'fruit', price: '1.00', is_inferred: 'false' }]);
  });

  test('an inferred member becomes real when a later reference file has it; a real one is never downgraded', async () => {
    const user = (ids: string) => reference(`user_id,email,country,created_at\n${ids}`, 'sku,name,category,price\nA,Apple,fruit,1.00\n');
    const users = async () => warehouse.query(dumpSql('dim_user', 'user_id'));
    const products = async () => warehouse.query(dumpSql('dim_product', 'sku'));

    await load('L1', [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1 }, { sku: 'Q', qty: 1 }]), order('o2', '2025-10-01T10:00:00Z', [], { user_id: 'u9' })], {
      reference: user('u1,one@example.com,PE,2024-01-01\n'),
    });
    expect(await users()).toEqual([
      { user_id: 'u1', email: 'one@example.com', country: 'PE', created_at: '2024-01-01 00:00:00', is_inferred: 'false' },
      { user_id: 'u9', email: null, country: null, created_at: null, is_inferred: 'true' },
    ]);
    expect(await products()).toEqual([
      { sku: 'A', name: 'Apple', category: 'fruit', price: '1.00', is_inferred: 'false' },
      { sku: 'Q', name: null, category: null, price: null, is_inferred: 'true' },
    ]);

    await load('L2', [order('o3', '2025-10-02T10:00:00Z', [])], {
      reference: reference('user_id,email,country,created_at\nu1,uno@example.com,PE,2024-01-01\nu9,nine@example.com,CL,2024-09-09T09:09:09Z\n', 'sku,name,category,price\nA,Apple,fruit,1.00\nQ,Quince,fruit,2.50\n'),
    });
    const real = [
      { user_id: 'u1', email: 'uno@example.com', country: 'PE', created_at: '2024-01-01 00:00:00', is_inferred: 'false' },
      { user_id: 'u9', email: 'nine@example.com', country: 'CL', created_at: '2024-09-09 09:09:09', is_inferred: 'false' },
    ];
    expect(await users()).toEqual(real);
    expect(await products()).toEqual([
      { sku: 'A', name: 'Apple', category: 'fruit', price: '1.00', is_inferred: 'false' },
      { sku: 'Q', name: 'Quince', category: 'fruit', price: '2.50', is_inferred: 'false' },
    ]);

    // u9 and Q are absent from this load's reference files but used: they would be inferred, and must stay real.
    await load('L3', [order('o4', '2025-10-03T10:00:00Z', [{ sku: 'Q', qty: 1 }], { user_id: 'u9' })], { reference: user('u1,uno@example.com,PE,2024-01-01\n') });
    expect(await users()).toEqual(real);
    expect((await products())[1]).toEqual({ sku: 'Q', name: 'Quince', category: 'fruit', price: '2.50', is_inferred: 'false' });
  });
});

describe('a long load', () => {
  test('its running statement is heartbeaten meanwhile, and a cancellation interrupts it', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const steps: string[] = [];
      const cancelled = new Error('the activity was cancelled');
      const started = Date.now();
      const work = withSteadyHeartbeat(
        connection,
        (step) => {
          steps.push(step);
          if (steps.length === 4) throw cancelled;
        },
        async (step) => {
          step('counting');
          await connection.run('SELECT SUM(i) FROM range(1000000000000) t(i)'); // minutes, unless interrupted
        },
        50,
      );
      await expect(work).rejects.toBe(cancelled);
      expect(steps).toEqual(['counting', 'counting', 'counting', 'counting']);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

describe('one warehouse file, one writer at a time', () => {
  const LOAD_B: unknown[] = [
    order('o1', '2025-10-01T12:00:00Z', [{ sku: 'Z', qty: 5, price: '0.10' }], { amount: '0.50' }),
    order('o3', '2025-10-02T10:00:00Z', [{ sku: 'A', qty: 3, price: 2 }], { user_id: 'u3' }),
  ];

  test('two loads at once through two objects on one file both land, as if one after the other', async () => {
    const file = path.join(dir, 'warehouse.duckdb');
    const runs = { LA: LOAD_A, LB: LOAD_B };
    const prepared = { LA: await prepareLoad({ lake, warehouse, loadId: 'LA', records: LOAD_A }), LB: await prepareLoad({ lake, warehouse, loadId: 'LB', records: LOAD_B }) };
    const concurrent = await Promise.all(
      (['LA', 'LB'] as const).map((id) => loadPrepared({ lake, warehouse: new DuckDbWarehouse(file), loadId: id, records: runs[id] }, prepared[id])),
    );
    const order = (await warehouse.query('SELECT load_id FROM etl_loads ORDER BY finished_at')).map((r) => r.load_id as 'LA' | 'LB');
    expect([...order].sort()).toEqual(['LA', 'LB']);

    // The same two loads one after the other, in the order they committed, into another file.
    const sequential = new DuckDbWarehouse(path.join(dir, 'sequential.duckdb'));
    const outcomes: Record<string, unknown> = {};
    for (const id of order) outcomes[id] = (await loadPrepared({ lake, warehouse: sequential, loadId: id, records: runs[id] }, prepared[id])).outcome;
    expect({ LA: concurrent[0].outcome, LB: concurrent[1].outcome }).toEqual(outcomes);
    expect(await dumpStar(warehouse)).toEqual(await dumpStar(sequential));
    expect((await dumpStar(warehouse)).fact_sales.map((r) => [r.order_id, r.sku])).toEqual([['o1', 'Z'], ['o2', 'A'], ['o3', 'A']]);
  });

  test('a file another process holds is waited for, and the load lands once it lets go', async () => {
    const file = path.join(dir, 'warehouse.duckdb');
    await load('LA', LOAD_A);
    const prepared = await prepareLoad({ lake, warehouse, loadId: 'LB', records: LOAD_B });
    const holder = await holdDuckDbFile(file);
    const steps: string[] = [];
    const run = { loadId: 'LB', pipelineId: 'test-pipeline', source: '/data/orders.json', startedAt: '2025-10-05T08:00:00.000Z' };
    const loading = warehouse.load({ lake, manifests: prepared.stage.manifests, bookkeeping: loadBookkeeping(run, [prepared.transform]) }, (step) => steps.push(step));
    try {
      await eventually(() => steps.length >= 3);
    } finally {
      await holder.release();
    }
    expect(await loading).toEqual({ ordersLoaded: 2, ordersKept: 0, linesLoaded: 2, duplicates: 0, rejectedItems: 0 });
    expect(steps[0]).toBe(`waiting for another process to let go of ${file}: IO Error: Could not set lock on file "${file}": Conflicting lock is held in ${process.execPath} (PID ${holder.pid}). See also https://duckdb.org/docs/stable/connect/concurrency`);
    expect(await warehouse.query('SELECT load_id FROM etl_loads ORDER BY load_id')).toEqual([{ load_id: 'LA' }, { load_id: 'LB' }]);
  });
});

async function eventually(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
