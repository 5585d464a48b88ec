/**
 * The transform of §4 on a LocalLake, through the stage and a DuckDB load (which keeps each order's latest
 * version): raw pages in, exact rows of every table out.
 */
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { rawPrefix, stagedPartKey } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import { STAGED_TABLES, stagedColumns } from '../core/schema';
import { sqlLiteral } from '../core/sql';
import { transformOrders, type TransformProgress } from '../activities/transform/transform';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import type { Row } from '../activities/warehouse/warehouse';
import { readTable, reference, runLoad, tempDir, TEST_NOT_AFTER, writeRawPages, type LoadOptions } from './support/rules-pipeline';

const LOAD = 'L-transform';
const REJECTED_AT = '2025-10-05T08:00:00.000Z';

const USERS = 'user_id,email,country,created_at\nu1,one@example.com,PE,2024-01-01T00:00:00Z\nu2,two@example.com,US,\nu3,three@example.com,AR,2024-03-01\n';
const PRODUCTS = 'sku,name,category,price\nA,Apple,fruit,1.00\nB,Banana,fruit,0.50\nC,Cherry,fruit,abc\nD,Date,fruit,3.005\n';

/** Twelve records over three pages of four (so duplicates cross pages); the comments give the expected fate. */
const RECORDS: unknown[] = [
  // page 1
  /* 0 */ { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T10:00:00Z', amount: 30, currency: 'USD', metadata: { source: 'web', promo: 'P10' }, items: [{ sku: 'A', qty: 1, price: 10 }, { sku: 'B', qty: 2, price: 10 }] }, // o1 v1: duplicate (older)
  /* 1 */ { order_id: 'o2', user_id: 'u2', created_at: '2025-10-01T11:00:00Z', items: [{ sku: 'A', qty: 1, price: 5 }] }, // o2 tie: earlier in stream → duplicate
  /* 2 */ 'not an object', // malformed_record
  /* 3 */ { order_id: 'o3', user_id: 'u9', created_at: '2025-10-02T12:00:00+02:00', amount: '12.50', extra: { ignored: true }, items: [{ sku: 'A', qty: 'x', price: 1 }, { sku: 'Z', qty: '2', price: '3.25' }, { qty: 1 }, { sku: 'B', qty: 1 }] }, // winner; lines 2 and 4 only
  // page 2
  /* 4 */ { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T12:00:00Z', amount: 4.5, currency: 'EUR', metadata: { source: 'api', promo: '' }, items: [{ sku: 'C', qty: 3, price: 1.5 }] }, // o1 winner (latest)
  /* 5 */ { order_id: 'o2', user_id: 'u2', created_at: '2025-10-01T11:00:00Z', metadata: { source: 'mobile' }, items: [{ sku: 'B', qty: 1, price: 2 }] }, // o2 tie: later in stream → winner
  /* 6 */ { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T09:00:00Z', items: [{ sku: 'D', qty: 1, price: 1 }] }, // o1 older: duplicate
  /* 7 */ { order_id: 'o1', created_at: '2025-12-31T00:00:00Z', items: [{ sku: 'D', qty: 9, price: 9 }] }, // invalid (missing_user_id) even though newest: never wins
  // page 3
  /* 8 */ { order_id: 'o4', user_id: 'u1', created_at: '2025-10-02T23:30:00-05:00', items: [] }, // item_count 0, next UTC day
  /* 9 */ { user_id: 'u1', created_at: '2025-10-01T10:00:00Z' }, // missing_order_id
  /* 10 */ { order_id: 'o5', user_id: 'u2', created_at: '2025-02-30T10:00:00Z' }, // invalid_created_at
  /* 11 */ { order_id: 'o6', user_id: 'u2' }, // missing_created_at
];

const raw = (i: number): string => JSON.stringify(RECORDS[i]);

const EXPECTED_ORDERS = [
  { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01 12:00:00.000000', order_date: '2025-10-01', total_amount: '4.50', currency: 'EUR', source: 'api', promo: null, item_count: 1 },
  { order_id: 'o2', user_id: 'u2', created_at: '2025-10-01 11:00:00.000000', order_date: '2025-10-01', total_amount: null, currency: null, source: 'mobile', promo: null, item_count: 1 },
  { order_id: 'o3', user_id: 'u9', created_at: '2025-10-02 10:00:00.000000', order_date: '2025-10-02', total_amount: '12.50', currency: null, source: 'unknown', promo: null, item_count: 2 },
  { order_id: 'o4', user_id: 'u1', created_at: '2025-10-03 04:30:00.000000', order_date: '2025-10-03', total_amount: null, currency: null, source: 'unknown', promo: null, item_count: 0 },
];

const EXPECTED_LINES = [
  { order_id: 'o1', line_number: 1, user_id: 'u1', sku: 'C', created_at: '2025-10-01 12:00:00.000000', order_date: '2025-10-01', quantity: 3, unit_price: '1.50', line_amount: '4.50', currency: 'EUR' },
  { order_id: 'o2', line_number: 1, user_id: 'u2', sku: 'B', created_at: '2025-10-01 11:00:00.000000', order_date: '2025-10-01', quantity: 1, unit_price: '2.00', line_amount: '2.00', currency: null },
  { order_id: 'o3', line_number: 2, user_id: 'u9', sku: 'Z', created_at: '2025-10-02 10:00:00.000000', order_date: '2025-10-02', quantity: 2, unit_price: '3.25', line_amount: '6.50', currency: null },
  { order_id: 'o3', line_number: 4, user_id: 'u9', sku: 'B', created_at: '2025-10-02 10:00:00.000000', order_date: '2025-10-02', quantity: 1, unit_price: null, line_amount: null, currency: null },
];

const rejection = (order_id: string | null, line_number: number | null, reason: string, record: string) => ({
  load_id: LOAD,
  order_id,
  line_number,
  reason,
  record,
  rejected_at: '2025-10-05 08:00:00.000000', // REJECTED_AT, as the warehouse holds it
});

/** In stream order: a record's own rejection, or its items' in line order. */
const EXPECTED_REJECTIONS = [
  rejection(null, null, 'malformed_record', '"not an object"'),
  rejection('o3', 1, 'invalid_item', '{"sku":"A","qty":"x","price":1}'),
  rejection('o3', 3, 'invalid_item', '{"qty":1}'),
  rejection('o1', null, 'missing_user_id', raw(7)),
  rejection(null, null, 'missing_order_id', raw(9)),
  rejection('o5', null, 'invalid_created_at', raw(10)),
  rejection('o6', null, 'missing_created_at', raw(11)),
];

const EXPECTED_USERS = [
  { user_id: 'u1', email: 'one@example.com', country: 'PE', created_at: '2024-01-01 00:00:00.000000', is_inferred: false },
  { user_id: 'u2', email: 'two@example.com', country: 'US', created_at: null, is_inferred: false },
  { user_id: 'u3', email: 'three@example.com', country: 'AR', created_at: '2024-03-01 00:00:00.000000', is_inferred: false },
  { user_id: 'u9', email: null, country: null, created_at: null, is_inferred: true },
];

const EXPECTED_PRODUCTS = [
  { sku: 'A', name: 'Apple', category: 'fruit', price: '1.00', is_inferred: false },
  { sku: 'B', name: 'Banana', category: 'fruit', price: '0.50', is_inferred: false },
  { sku: 'C', name: 'Cherry', category: 'fruit', price: null, is_inferred: false },
  { sku: 'D', name: 'Date', category: 'fruit', price: '3.01', is_inferred: false },
  { sku: 'Z', name: null, category: null, price: null, is_inferred: true },
];

let dir: string;
let cleanup: () => void;
let lake: LocalLake;
let warehouse: DuckDbWarehouse;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('transform'));
  lake = new LocalLake(path.join(dir, 'lake'));
  warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
});
afterEach(() => cleanup());

const load = (records: unknown[], extra: Partial<LoadOptions> = {}) => runLoad({ lake, warehouse, loadId: LOAD, records, rejectedAt: REJECTED_AT, ...extra });

/** The rows of a staged Parquet part, staging columns included. */
async function readPart(key: string): Promise<Row[]> {
  const connection = await (await DuckDBInstance.create(':memory:')).connect();
  return (await connection.runAndReadAll(`SELECT * FROM read_parquet(${sqlLiteral(lake.uri(key))})`)).getRowObjectsJson() as Row[];
}

describe('transform', () => {
  test('stages every valid version; the load keeps the latest, their valid items, the rejections, the dimensions and the counts', async () => {
    const pages = await writeRawPages(lake, LOAD, RECORDS, 4);
    expect(pages).toBe(3);
    const beats: TransformProgress[] = [];
    const result = await transformOrders(
      { loadId: LOAD, partition: 0, raw: { prefix: rawPrefix(LOAD), pages, verbatim: false, base: 0 }, rejectedAt: REJECTED_AT, chunkRows: 50_000, notAfter: TEST_NOT_AFTER },
      lake,
      (d) => beats.push(structuredClone(d)),
    );
    expect(result.watermark).toBe('2025-10-03T04:30:00Z'); // o4, the latest valid created_at; the invalid record 7 (Dec 31) does not count
    // Seven valid versions (o1 ×3, o2 ×2, o3, o4) with eight valid items; five records and two items rejected.
    expect(result.counts).toEqual({ extracted: 12, rejectedOrders: 5, versions: 7, versionLines: 8, itemRejections: 2 });
    // One chunk: a part per table, heartbeated once with where to resume.
    expect(result.parts.map((p) => [p.table, p.key, p.rows])).toEqual([
      ['dim_order', stagedPartKey(LOAD, 'dim_order', 0, 1), 7],
      ['fact_sales', stagedPartKey(LOAD, 'fact_sales', 0, 2), 8],
      ['rejected_records', stagedPartKey(LOAD, 'rejected_records', 0, 3), 7],
    ]);
    expect(beats).toEqual([{ nextPage: 4, nextOffset: 12, result }]);
    for (const part of result.parts) expect(Object.keys((await readPart(part.key))[0])).toEqual(stagedColumns(part.table).map((c) => c.name));

    const run = await load(RECORDS, { reference: reference(USERS, PRODUCTS), pageSize: 4 });
    expect(run.counts).toEqual({
      extracted: 12,
      duplicates: 3,
      rejectedOrders: 5,
      rejectedItems: 2,
      orders: 4,
      lines: 4,
      rejectedByReason: { malformed_record: 1, invalid_item: 2, missing_user_id: 1, missing_order_id: 1, invalid_created_at: 1, missing_created_at: 1 },
    });
    expect(run.counts.extracted).toBe(run.counts.orders + run.counts.duplicates + run.counts.rejectedOrders);
    expect(await readTable(warehouse, 'dim_order')).toEqual(EXPECTED_ORDERS);
    expect(await readTable(warehouse, 'fact_sales')).toEqual(EXPECTED_LINES);
    expect(sortRows(await readTable(warehouse, 'rejected_records'))).toEqual(sortRows(EXPECTED_REJECTIONS));
    expect(await readTable(warehouse, 'dim_user')).toEqual(EXPECTED_USERS);
    expect(await readTable(warehouse, 'dim_product')).toEqual(EXPECTED_PRODUCTS);
  });

  test('resumed from a heartbeat, it reads only the pages after it and ends with the same result', async () => {
    const pages = await writeRawPages(lake, LOAD, RECORDS, 4);
    const input = { loadId: LOAD, partition: 0, raw: { prefix: rawPrefix(LOAD), pages, verbatim: false, base: 0 }, rejectedAt: REJECTED_AT, chunkRows: 2, notAfter: TEST_NOT_AFTER };
    const beats: TransformProgress[] = [];
    const whole = await transformOrders(input, lake, (d) => beats.push(structuredClone(d)));
    expect(beats.map((b) => [b.nextPage, b.nextOffset, b.result.counts.extracted])).toEqual([[2, 4, 4], [3, 8, 8], [4, 12, 12]]);

    // A retry after the first chunk: page 1 is neither read nor counted again.
    const read: string[] = [];
    const watched = Object.assign(Object.create(lake), { get: (key: string) => (read.push(key), lake.get(key)) });
    const resumed = await transformOrders(input, watched, () => undefined, beats[0]);
    expect(read).toEqual([2, 3].map((page) => `${rawPrefix(LOAD)}page-00000${page}.jsonl`));
    expect(resumed).toEqual(whole);
  });

  test('without reference files every used user and sku is an inferred member', async () => {
    const run = await load(RECORDS);
    expect(run.counts.orders).toBe(4);
    expect(await readTable(warehouse, 'dim_user')).toEqual(
      ['u1', 'u2', 'u9'].map((user_id) => ({ user_id, email: null, country: null, created_at: null, is_inferred: true })),
    );
    expect(await readTable(warehouse, 'dim_product')).toEqual(
      ['B', 'C', 'Z'].map((sku) => ({ sku, name: null, category: null, price: null, is_inferred: true })),
    );
  });

  test('a tie between two versions in one page goes to the later one; losers never leak facts', async () => {
    const records = [
      { order_id: 7, user_id: 'u1', created_at: '2025-10-01T10:00:00Z', items: [{ sku: 'A', qty: 1, price: 1 }, { sku: 'A', qty: 1, price: 1 }] },
      { order_id: '7', user_id: 'u2', created_at: '2025-10-01T05:00:00-05:00', items: [{ sku: 'B', qty: 5, price: '0.10' }] },
    ];
    const run = await load(records);
    expect(run.counts).toEqual({ extracted: 2, duplicates: 1, rejectedOrders: 0, rejectedItems: 0, orders: 1, lines: 1, rejectedByReason: {} });
    expect(await readTable(warehouse, 'dim_order')).toEqual([
      { order_id: '7', user_id: 'u2', created_at: '2025-10-01 10:00:00.000000', order_date: '2025-10-01', total_amount: null, currency: null, source: 'unknown', promo: null, item_count: 1 },
    ]);
    expect(await readTable(warehouse, 'fact_sales')).toEqual([
      { order_id: '7', line_number: 1, user_id: 'u2', sku: 'B', created_at: '2025-10-01 10:00:00.000000', order_date: '2025-10-01', quantity: 5, unit_price: '0.10', line_amount: '0.50', currency: null },
    ]);
    // The loser's user and skus are no members: only the latest version's are.
    expect((await readTable(warehouse, 'dim_user')).map((r) => r.user_id)).toEqual(['u2']);
    expect((await readTable(warehouse, 'dim_product')).map((r) => r.sku)).toEqual(['B']);
    expect(await readTable(warehouse, 'rejected_records')).toEqual([]);
  });

  test("a losing version's invalid items are not rejections: only the latest version's are", async () => {
    const records = [
      { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T10:00:00Z', items: [{ sku: 'A', qty: 0, price: 1 }] },
      { order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T11:00:00Z', items: [{ sku: 'A', qty: 1, price: 1 }, { sku: 'B' }] },
    ];
    const run = await load(records);
    expect(run.transform.counts).toEqual({ extracted: 2, rejectedOrders: 0, versions: 2, versionLines: 1, itemRejections: 2 });
    expect(run.counts).toEqual({ extracted: 2, duplicates: 1, rejectedOrders: 0, rejectedItems: 1, orders: 1, lines: 1, rejectedByReason: { invalid_item: 1 } });
    expect(await readTable(warehouse, 'rejected_records')).toEqual([rejection('o1', 2, 'invalid_item', '{"sku":"B"}')]);
  });

  test('a lone surrogate (valid JSON escape, impossible in UTF-8) becomes U+FFFD in the tables, raw text kept', async () => {
    const records = [
      { order_id: 'o1', user_id: 'u\ud800', created_at: '2025-10-01T10:00:00Z', items: [{ sku: 'S\udc00', qty: 1, price: 1 }, { sku: 'S', qty: 0, note: 'x\ud800' }] },
      'bad\udfff',
    ];
    const run = await load(records);
    expect(run.counts).toMatchObject({ extracted: 2, orders: 1, lines: 1, rejectedOrders: 1, rejectedItems: 1 });
    expect((await readTable(warehouse, 'fact_sales')).map((r) => [r.user_id, r.sku])).toEqual([['u\ufffd', 'S\ufffd']]);
    expect(await readTable(warehouse, 'dim_user')).toEqual([{ user_id: 'u\ufffd', email: null, country: null, created_at: null, is_inferred: true }]);
    expect((await readTable(warehouse, 'rejected_records')).map((r) => [r.reason, r.record])).toEqual([
      ['malformed_record', '"bad\\udfff"'],
      ['invalid_item', '{"sku":"S","qty":0,"note":"x\\ud800"}'],
    ]);
  });

  test('a load with no valid record has no watermark and writes no order parts', async () => {
    const run = await load([null, { order_id: 'x' }]);
    expect(run.transform.watermark).toBeNull();
    expect(run.counts).toEqual({
      extracted: 2,
      duplicates: 0,
      rejectedOrders: 2,
      rejectedItems: 0,
      orders: 0,
      lines: 0,
      rejectedByReason: { malformed_record: 1, missing_created_at: 1 },
    });
    expect(run.transform.parts.map((p) => p.table)).toEqual(['rejected_records']);
    expect(await readTable(warehouse, 'rejected_records')).toEqual([
      rejection(null, null, 'malformed_record', 'null'),
      rejection('x', null, 'missing_created_at', '{"order_id":"x"}'),
    ]);
  });

  test('with chunkRows 2 the tables are split into parts, a version and its lines in the same chunk, same rows overall', async () => {
    const ref = reference(USERS, PRODUCTS);
    const whole = await load(RECORDS, { reference: ref, pageSize: 4 });
    const wholeTables = await Promise.all(STAGED_TABLES.map((t) => readTable(warehouse, t)));
    warehouse = new DuckDbWarehouse(path.join(dir, 'chunked.duckdb'));
    lake = new LocalLake(path.join(dir, 'chunked-lake'));
    const chunked = await load(RECORDS, { reference: ref, pageSize: 4, chunkRows: 2 });
    expect(chunked.counts).toEqual(whole.counts);
    expect(chunked.transform.counts).toEqual(whole.transform.counts);

    const partsOf = (table: string) => chunked.transform.parts.filter((p) => p.table === table);
    expect(partsOf('dim_order').length).toBeGreaterThan(1);
    expect(partsOf('fact_sales').length).toBeGreaterThan(1);
    expect(partsOf('rejected_records').length).toBeGreaterThan(1);
    // A chunk is written at the end of a page, so every version's lines sit in the chunk of the version itself.
    const chunkOf = (key: string) => Math.floor(chunked.transform.parts.findIndex((p) => p.key === key));
    const versionChunk = new Map<unknown, number>();
    for (const part of partsOf('dim_order')) for (const r of await readPart(part.key)) versionChunk.set(r.stream_position, chunkOf(part.key));
    for (const part of partsOf('fact_sales')) {
      for (const r of await readPart(part.key)) expect(chunkOf(part.key) - versionChunk.get(r.stream_position)!).toBe(1);
    }
    expect(await Promise.all(STAGED_TABLES.map((t) => readTable(warehouse, t)))).toEqual(wholeTables);
    expect(await readTable(warehouse, 'dim_order')).toEqual(EXPECTED_ORDERS);
  });
});

/** Rows in one canonical order, to compare tables whose order the test does not fix. */
function sortRows(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}
