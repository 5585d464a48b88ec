/**
 * End to end on real reference inputs (transform → stage → DuckDB load, no Temporal), compared with counts
 * derived independently.
 *
 * The expected numbers in `expected.json` do NOT come from this code base: they are the output of
 * tests/fixtures/independent-counts.py, a separate Python (stdlib only) implementation of the data rules of
 * CONTRACT.md §4 (see its docstring for what each key means and the decisions taken where the contract is
 * silent; its "ambiguities" must be empty, so the numbers do not depend on those decisions). Regenerate with:
 *   python3 tests/fixtures/independent-counts.py ORDERS --users USERS --products PRODUCTS > expected.json
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LocalLake } from '../activities/lake/local-lake';
import { decimalTextToCents } from '../core/money';
import { REJECT_REASONS } from '../activities/transform/rules';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import type { Row } from '../activities/warehouse/warehouse';
import { reference, runLoad, tempDir } from './support/rules-pipeline';

const ROOT = path.join(__dirname, '..');

interface Expected {
  extracted: number;
  rejected: Record<string, number>;
  rejected_orders: number;
  duplicates: number;
  orders_loaded: number;
  fact_lines: number;
  fact_lines_null_price: number;
  invalid_items: number;
  items_value_too_long: number;
  rejected_records_rows: number;
  line_amount_cents_sum: number;
  total_amount_cents_sum: number;
  orders_null_total_amount: number;
  orders_item_count_zero: number;
  orders_with_promo: number;
  orders_by_source: Record<string, number>;
  distinct_users: number;
  users_absent_from_reference: number;
  distinct_skus: number;
  skus_absent_from_reference: number;
  reconciles: boolean;
  ambiguities: Record<string, number>;
}

const DATASETS: [string, { orders: string; users: string; products: string; expected: string }][] = [
  [
    'juju-take-home-a',
    {
      orders: 'tests/fixtures/juju-take-home-a/api_orders.json',
      users: 'tests/fixtures/juju-take-home-a/users.csv',
      products: 'tests/fixtures/juju-take-home-a/products.csv',
      expected: 'tests/fixtures/juju-take-home-a/expected.json',
    },
  ],
  ['sample_data', { orders: 'sample_data/orders.json', users: 'sample_data/users.csv', products: 'sample_data/products.csv', expected: 'sample_data/expected.json' }],
];

const QUERIES = readdirSync(path.join(ROOT, 'sql/queries'))
  .filter((f) => f.endsWith('.sql'))
  .sort();

describe.each(DATASETS)('%s end to end', (_name, files) => {
  const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
  const expected = JSON.parse(read(files.expected)) as Expected;
  let cleanup: () => void;
  let warehouse: DuckDbWarehouse;
  const one = async (sql: string): Promise<unknown> => Object.values((await warehouse.query(sql))[0])[0];
  const count = async (sql: string): Promise<number> => Number(await one(sql));
  /** Cents as text: a bigint in a failing expect cannot cross jest's worker boundary. */
  const cents = async (sql: string): Promise<string> => String(decimalTextToCents(String(await one(sql))));
  let load: Row;

  beforeAll(async () => {
    let dir: string;
    ({ dir, cleanup } = tempDir('reference-data'));
    const lake = new LocalLake(path.join(dir, 'lake'));
    warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
    const records = JSON.parse(read(files.orders)) as unknown[];
    await runLoad({ lake, warehouse, loadId: 'L1', records, reference: reference(read(files.users), read(files.products)) });
    load = (await warehouse.query("SELECT * FROM etl_loads WHERE load_id = 'L1'"))[0];
  });
  afterAll(() => cleanup?.());

  test('the independent counts are unambiguous (they do not depend on decisions the contract leaves open)', () => {
    expect(expected.ambiguities).toEqual({});
    expect(expected.reconciles).toBe(true);
  });

  test('extracted, duplicates, rejected orders, loaded orders and lines (etl_loads) reconcile', () => {
    expect(load).toMatchObject({
      extracted: expected.extracted,
      duplicates: expected.duplicates,
      rejected_orders: expected.rejected_orders,
      rejected_items: expected.invalid_items + expected.items_value_too_long,
      orders_loaded: expected.orders_loaded,
      orders_kept: 0,
      lines_loaded: expected.fact_lines,
    });
    expect(load.extracted).toBe(Number(load.orders_loaded) + Number(load.orders_kept) + Number(load.duplicates) + Number(load.rejected_orders));
  });

  test('rejections per reason, invalid items and rejected_records rows', async () => {
    const rows = await warehouse.query("SELECT reason, COUNT(*) AS n FROM rejected_records WHERE line_number IS NULL AND reason <> 'invalid_item' GROUP BY reason");
    expect(await count("SELECT COUNT(*) FROM rejected_records WHERE line_number IS NOT NULL AND reason = 'value_too_long'")).toBe(expected.items_value_too_long);
    const byReason = Object.fromEntries(REJECT_REASONS.filter((r) => r !== 'invalid_item').map((r) => [r, 0]));
    for (const r of rows) byReason[r.reason as string] = Number(r.n);
    expect(byReason).toEqual(expected.rejected);
    expect(await count("SELECT COUNT(*) FROM rejected_records WHERE reason = 'invalid_item'")).toBe(expected.invalid_items);
    expect(await count('SELECT COUNT(*) FROM rejected_records')).toBe(expected.rejected_records_rows);
  });

  test('orders: count, NULL totals, zero-item orders, promos, sources, users', async () => {
    expect(await count('SELECT COUNT(*) FROM dim_order')).toBe(expected.orders_loaded);
    expect(await count('SELECT COUNT(*) FROM dim_order WHERE total_amount IS NULL')).toBe(expected.orders_null_total_amount);
    expect(await count('SELECT COUNT(*) FROM dim_order WHERE item_count = 0')).toBe(expected.orders_item_count_zero);
    expect(await count('SELECT COUNT(*) FROM dim_order WHERE promo IS NOT NULL')).toBe(expected.orders_with_promo);
    const sources = await warehouse.query('SELECT source, COUNT(*) AS n FROM dim_order GROUP BY source ORDER BY source');
    expect(Object.fromEntries(sources.map((r) => [r.source, Number(r.n)]))).toEqual(expected.orders_by_source);
    expect(await count('SELECT COUNT(DISTINCT user_id) FROM dim_order')).toBe(expected.distinct_users);
    expect(await count('SELECT COUNT(*) FROM dim_order o WHERE item_count <> (SELECT COUNT(*) FROM fact_sales f WHERE f.order_id = o.order_id)')).toBe(0);
  });

  test('facts: lines, NULL prices, distinct skus', async () => {
    expect(await count('SELECT COUNT(*) FROM fact_sales')).toBe(expected.fact_lines);
    expect(await count('SELECT COUNT(*) FROM fact_sales WHERE unit_price IS NULL')).toBe(expected.fact_lines_null_price);
    expect(await count('SELECT COUNT(*) FROM fact_sales WHERE (unit_price IS NULL) <> (line_amount IS NULL)')).toBe(0);
    expect(await count('SELECT COUNT(DISTINCT sku) FROM fact_sales')).toBe(expected.distinct_skus);
  });

  test('money sums are exact, in cents', async () => {
    expect(await cents('SELECT CAST(SUM(line_amount) AS VARCHAR) FROM fact_sales')).toBe(String(expected.line_amount_cents_sum));
    expect(await cents('SELECT CAST(SUM(total_amount) AS VARCHAR) FROM dim_order')).toBe(String(expected.total_amount_cents_sum));
  });

  test('inferred dimension members are exactly the ids absent from the reference files', async () => {
    expect(await count('SELECT COUNT(*) FROM dim_user WHERE is_inferred')).toBe(expected.users_absent_from_reference);
    expect(await count('SELECT COUNT(*) FROM dim_product WHERE is_inferred')).toBe(expected.skus_absent_from_reference);
    const referenceUsers = read(files.users).trim().split(/\r?\n/).length - 1;
    expect(await count('SELECT COUNT(*) FROM dim_user WHERE NOT is_inferred')).toBe(referenceUsers);
    expect(await count('SELECT COUNT(*) FROM fact_sales f LEFT JOIN dim_user u USING (user_id) LEFT JOIN dim_product p USING (sku) WHERE u.user_id IS NULL OR p.sku IS NULL')).toBe(0);
  });

  test.each(QUERIES)('sql/queries/%s runs unchanged and returns rows', async (file) => {
    const rows = await warehouse.query(readFileSync(path.join(ROOT, 'sql/queries', file), 'utf8'));
    expect(rows.length).toBeGreaterThan(0);
  });
});

test('the four example queries are there', () => {
  expect(QUERIES).toEqual(['01_top_users.sql', '02_top_products.sql', '03_revenue_by_country.sql', '04_sales_by_channel.sql']);
});
