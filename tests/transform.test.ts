/**
 * transformOrders on a LocalLake: raw pages in, the JSONL parts of every staged table out, with exact rows.
 */
import path from 'node:path';
import { rawPrefix, tablePartsPrefix, tablesPrefix } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import { STAGED_TABLES, columnNames, type TableName } from '../core/schema';
import { transformOrders } from '../activities/transform/transform';
import { readTable, readTableParts, reference, runTransform, tempDir, TEST_NOT_AFTER, writeRawPages } from './support/rules-pipeline';

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
  rejected_at: REJECTED_AT,
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

const byKey = (...keys: string[]) => (a: Record<string, unknown>, b: Record<string, unknown>) => {
  for (const k of keys) {
    const x = String(a[k]);
    const y = String(b[k]);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
};

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('transform')));
afterEach(() => cleanup());

describe('transformOrders', () => {
  test('emits the winning versions, their valid items, the rejections, the dimensions and the counts', async () => {
    const lake = new LocalLake(path.join(dir, 'lake'));
    const pages = await writeRawPages(lake, LOAD, RECORDS, 4);
    expect(pages).toBe(3);
    const beats: unknown[] = [];
    const result = await transformOrders(
      { loadId: LOAD, rawPrefix: rawPrefix(LOAD), pages, rejectedAt: REJECTED_AT, chunkRows: 50_000, notAfter: TEST_NOT_AFTER },
      lake,
      reference(USERS, PRODUCTS),
      (d) => beats.push(d),
    );

    expect(result).toEqual({
      tablesPrefix: `tables/${LOAD}/`,
      watermark: '2025-10-03T04:30:00Z', // o4, the latest valid created_at; the invalid record 7 (Dec 31) does not count
      counts: {
        extracted: 12,
        duplicates: 3,
        rejectedOrders: 5,
        rejectedItems: 2,
        orders: 4,
        lines: 4,
        rejectedByReason: { malformed_record: 1, invalid_item: 2, missing_user_id: 1, missing_order_id: 1, invalid_created_at: 1, missing_created_at: 1 },
      },
    });
    const { counts } = result;
    expect(counts.extracted).toBe(counts.orders + counts.duplicates + counts.rejectedOrders);
    expect(beats).toEqual([1, 2, 3].map((page) => ({ pass: 1, page })).concat([1, 2, 3].map((page) => ({ pass: 2, page }))));

    // One part per table, columns in schema order.
    for (const table of STAGED_TABLES) {
      const parts = await lake.list(tablePartsPrefix(tablesPrefix(LOAD), table));
      expect(parts.map((p) => p.key)).toEqual([`tables/${LOAD}/${table}/part-000001.jsonl`]);
      for (const row of await readTable(lake, LOAD, table)) expect(Object.keys(row)).toEqual(columnNames(table));
    }

    expect((await readTable(lake, LOAD, 'dim_order')).sort(byKey('order_id'))).toEqual(EXPECTED_ORDERS);
    expect((await readTable(lake, LOAD, 'fact_sales')).sort(byKey('order_id', 'line_number'))).toEqual(EXPECTED_LINES);
    expect(await readTable(lake, LOAD, 'rejected_records')).toEqual(EXPECTED_REJECTIONS);
    expect(await readTable(lake, LOAD, 'dim_user')).toEqual(EXPECTED_USERS);
    expect(await readTable(lake, LOAD, 'dim_product')).toEqual(EXPECTED_PRODUCTS);
  });

  test('without reference files every used user and sku is an inferred member', async () => {
    const lake = new LocalLake(path.join(dir, 'lake'));
    const result = await runTransform({ lake, loadId: LOAD, records: RECORDS, rejectedAt: REJECTED_AT });
    expect(result.counts.orders).toBe(4);
    expect(await readTable(lake, LOAD, 'dim_user')).toEqual(
      ['u1', 'u2', 'u9'].map((user_id) => ({ user_id, email: null, country: null, created_at: null, is_inferred: true })),
    );
    expect(await readTable(lake, LOAD, 'dim_product')).toEqual(
      ['B', 'C', 'Z'].map((sku) => ({ sku, name: null, category: null, price: null, is_inferred: true })),
    );
  });

  test('a tie between two versions in one page goes to the later one; losers never leak facts', async () => {
    const lake = new LocalLake(path.join(dir, 'lake'));
    const records = [
      { order_id: 7, user_id: 'u1', created_at: '2025-10-01T10:00:00Z', items: [{ sku: 'A', qty: 1, price: 1 }, { sku: 'A', qty: 1, price: 1 }] },
      { order_id: '7', user_id: 'u2', created_at: '2025-10-01T05:00:00-05:00', items: [{ sku: 'B', qty: 5, price: '0.10' }] },
    ];
    const result = await runTransform({ lake, loadId: LOAD, records, rejectedAt: REJECTED_AT });
    expect(result.counts).toEqual({ extracted: 2, duplicates: 1, rejectedOrders: 0, rejectedItems: 0, orders: 1, lines: 1, rejectedByReason: {} });
    expect(await readTable(lake, LOAD, 'dim_order')).toEqual([
      { order_id: '7', user_id: 'u2', created_at: '2025-10-01 10:00:00.000000', order_date: '2025-10-01', total_amount: null, currency: null, source: 'unknown', promo: null, item_count: 1 },
    ]);
    expect(await readTable(lake, LOAD, 'fact_sales')).toEqual([
      { order_id: '7', line_number: 1, user_id: 'u2', sku: 'B', created_at: '2025-10-01 10:00:00.000000', order_date: '2025-10-01', quantity: 5, unit_price: '0.10', line_amount: '0.50', currency: null },
    ]);
    expect(await lake.list(tablePartsPrefix(tablesPrefix(LOAD), 'rejected_records'))).toEqual([]);
  });

  test('a lone surrogate (valid JSON escape, impossible in UTF-8) becomes U+FFFD in the tables, raw text kept', async () => {
    const lake = new LocalLake(path.join(dir, 'lake'));
    const records = [
      { order_id: 'o1', user_id: 'u\ud800', created_at: '2025-10-01T10:00:00Z', items: [{ sku: 'S\udc00', qty: 1, price: 1 }, { sku: 'S', qty: 0, note: 'x\ud800' }] },
      'bad\udfff',
    ];
    const result = await runTransform({ lake, loadId: LOAD, records, rejectedAt: REJECTED_AT });
    expect(result.counts).toMatchObject({ extracted: 2, orders: 1, lines: 1, rejectedOrders: 1, rejectedItems: 1 });
    expect((await readTable(lake, LOAD, 'fact_sales')).map((r) => [r.user_id, r.sku])).toEqual([['u\ufffd', 'S\ufffd']]);
    expect(await readTable(lake, LOAD, 'dim_user')).toEqual([{ user_id: 'u\ufffd', email: null, country: null, created_at: null, is_inferred: true }]);
    expect((await readTable(lake, LOAD, 'rejected_records')).map((r) => [r.reason, r.record])).toEqual([
      ['invalid_item', '{"sku":"S","qty":0,"note":"x\\ud800"}'],
      ['malformed_record', '"bad\\udfff"'],
    ]);
  });

  test('a load with no valid record has no watermark and writes no order parts', async () => {
    const lake = new LocalLake(path.join(dir, 'lake'));
    const result = await runTransform({ lake, loadId: LOAD, records: [null, { order_id: 'x' }], rejectedAt: REJECTED_AT });
    expect(result.watermark).toBeNull();
    expect(result.counts).toEqual({
      extracted: 2,
      duplicates: 0,
      rejectedOrders: 2,
      rejectedItems: 0,
      orders: 0,
      lines: 0,
      rejectedByReason: { malformed_record: 1, missing_created_at: 1 },
    });
    expect(await lake.list(tablePartsPrefix(tablesPrefix(LOAD), 'dim_order'))).toEqual([]);
    expect(await lake.list(tablePartsPrefix(tablesPrefix(LOAD), 'fact_sales'))).toEqual([]);
    expect(await readTable(lake, LOAD, 'rejected_records')).toEqual([
      rejection(null, null, 'malformed_record', 'null'),
      rejection('x', null, 'missing_created_at', '{"order_id":"x"}'),
    ]);
  });

  test('with chunkRows 2 the tables are split into parts, an order and its lines in the same part, same rows overall', async () => {
    const whole = new LocalLake(path.join(dir, 'whole'));
    const chunked = new LocalLake(path.join(dir, 'chunked'));
    const ref = reference(USERS, PRODUCTS);
    const a = await runTransform({ lake: whole, loadId: LOAD, records: RECORDS, reference: ref, pageSize: 4, rejectedAt: REJECTED_AT });
    const b = await runTransform({ lake: chunked, loadId: LOAD, records: RECORDS, reference: ref, pageSize: 4, rejectedAt: REJECTED_AT, chunkRows: 2 });
    expect(b).toEqual(a);

    const orderParts = await readTableParts(chunked, LOAD, 'dim_order');
    const lineParts = await readTableParts(chunked, LOAD, 'fact_sales');
    const rejectionParts = await readTableParts(chunked, LOAD, 'rejected_records');
    expect(orderParts.length).toBeGreaterThan(1);
    expect(lineParts.length).toBeGreaterThan(1);
    expect(rejectionParts.length).toBeGreaterThan(1);
    // Every order's lines sit in one fact part, whose orders all sit in one dim_order part (the order's own).
    const partOf = new Map<unknown, number>();
    orderParts.forEach((rows, i) => rows.forEach((r) => partOf.set(r.order_id, i)));
    for (const rows of lineParts) {
      expect(new Set(rows.map((r) => partOf.get(r.order_id))).size).toBe(1);
    }
    const linePartOf = new Map<unknown, Set<number>>();
    lineParts.forEach((rows, i) => rows.forEach((r) => linePartOf.set(r.order_id, (linePartOf.get(r.order_id) ?? new Set()).add(i))));
    for (const ids of linePartOf.values()) expect(ids.size).toBe(1);

    const sorted: Record<TableName, string[]> = {
      dim_order: ['order_id'],
      fact_sales: ['order_id', 'line_number'],
      rejected_records: ['order_id', 'line_number', 'reason', 'record'],
      dim_user: ['user_id'],
      dim_product: ['sku'],
      etl_loads: [],
    };
    for (const table of STAGED_TABLES) {
      const union = (await readTableParts(chunked, LOAD, table)).flat().sort(byKey(...sorted[table]));
      expect(union).toEqual((await readTable(whole, LOAD, table)).sort(byKey(...sorted[table])));
    }
    expect((await readTable(chunked, LOAD, 'dim_order')).sort(byKey('order_id'))).toEqual(EXPECTED_ORDERS);
  });
});
