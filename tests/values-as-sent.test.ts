/**
 * Issue 8's data rules on the local path (raw pages → transform → stage → DuckDB): ids and rejected texts exactly
 * as the source sent them, values no warehouse column holds quarantined as value_too_long, and a record from a
 * bad clock quarantined as future_created_at without moving the watermark.
 */
import path from 'node:path';
import { decodeRawLine } from '../core/json';
import { rawPageKey, rawPrefix } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import { runLoad, SourceText, tempDir, type RunOptions } from './support/rules-pipeline';

let cleanup: () => void;
let lake: LocalLake;
let warehouse: DuckDbWarehouse;
beforeEach(() => {
  let dir: string;
  ({ dir, cleanup } = tempDir('values-as-sent'));
  lake = new LocalLake(path.join(dir, 'lake'));
  warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
});
afterEach(() => cleanup());

const load = (loadId: string, records: unknown[], extra: Partial<RunOptions> = {}) => runLoad({ lake, warehouse, loadId, records, ...extra });
const rejections = () => warehouse.query('SELECT order_id, CAST(line_number AS VARCHAR) AS line_number, reason, record FROM rejected_records ORDER BY reason, line_number, order_id');

test('order ids 12345678901234567890 and 12345678901234567891 as JSON numbers are two orders, stored as sent', async () => {
  const run = await load('L1', [
    new SourceText('{"order_id": 12345678901234567890, "user_id": 7, "created_at": "2025-10-01T10:00:00Z", "amount": 9999999999999999.99, "items": [{"sku": 1.50, "qty": 1, "price": 9999999999999999.99}]}'),
    new SourceText('{"order_id": 12345678901234567891, "user_id": 7, "created_at": "2025-10-01T10:00:00Z"}'),
  ]);
  expect(run.counts).toMatchObject({ extracted: 2, duplicates: 0, orders: 2, rejectedOrders: 0, rejectedItems: 0 });
  expect(await warehouse.query('SELECT order_id, user_id, CAST(total_amount AS VARCHAR) AS total FROM dim_order ORDER BY order_id')).toEqual([
    { order_id: '12345678901234567890', user_id: '7', total: '9999999999999999.99' },
    { order_id: '12345678901234567891', user_id: '7', total: null },
  ]);
  expect(await warehouse.query('SELECT order_id, sku, CAST(unit_price AS VARCHAR) AS price FROM fact_sales')).toEqual([
    { order_id: '12345678901234567890', sku: '1.50', price: '9999999999999999.99' },
  ]);
});

test('rejected_records.record is the source text byte for byte: records, items and a non-array items value', async () => {
  const missingUser = '{ "order_id" : "o1",\t"created_at": "2025-10-01T10:00:00Z", "amount": 9999999999999999.99 }';
  const badItem = '{"sku": "A", "qty": 12345678901234567890,  "price": 1.50}';
  const tooLongItem = '{ "sku":"B","qty":1,"price": 9999999999999999.999 }';
  const withItems = `{"order_id":"o2","user_id":"u1","created_at":"2025-10-01T10:00:00Z","items":[ ${badItem} ,{"sku":"C","qty":1},${tooLongItem}, "x\\"]" ]}`;
  const itemsObject = '{"sku": "D", "qty": 1e3}';
  const withItemsObject = `{"order_id":"o3","user_id":"u1","created_at":"2025-10-01T10:00:00Z","items": ${itemsObject}}`;
  const notJson = '{"order_id": "o4", broken';
  await load('L1', [new SourceText(missingUser), new SourceText(withItems), new SourceText(withItemsObject), new SourceText(notJson)]);
  expect(await rejections()).toEqual([
    { order_id: 'o2', line_number: '4', reason: 'invalid_item', record: '"x\\"]"' },
    { order_id: 'o3', line_number: null, reason: 'invalid_item', record: itemsObject },
    { order_id: null, line_number: null, reason: 'malformed_record', record: notJson },
    { order_id: 'o1', line_number: null, reason: 'missing_user_id', record: missingUser },
    { order_id: 'o2', line_number: '1', reason: 'value_too_long', record: badItem },
    { order_id: 'o2', line_number: '3', reason: 'value_too_long', record: tooLongItem },
  ]);
  expect(await warehouse.query('SELECT order_id, CAST(line_number AS VARCHAR) AS line, sku FROM fact_sales')).toEqual([{ order_id: 'o2', line: '2', sku: 'C' }]);
});

test('values over their column are value_too_long (items with their line_number); a long record is cut, the raw zone keeps it', async () => {
  const valid = { user_id: 'u1', created_at: '2025-10-01T10:00:00Z' };
  const longNote = '€'.repeat(30_000); // 90,000 bytes of UTF-8
  const run = await load('L1', [
    { order_id: 'o1', ...valid, items: [{ sku: 'A', qty: 1 }, { sku: 'S'.repeat(70_000), qty: 1 }, { sku: 'A', qty: 2 ** 31 }] },
    { order_id: 'x'.repeat(300), ...valid },
    { order_id: 'o3', ...valid, metadata: { source: 'web', promo: 'P'.repeat(257) } },
    { order_id: 'o4', ...valid, amount: '10000000000000000' },
    { order_id: 'o5', created_at: valid.created_at, note: longNote },
  ]);
  expect(run.counts).toMatchObject({ orders: 1, lines: 1, rejectedOrders: 4, rejectedItems: 2, rejectedByReason: { value_too_long: 5, missing_user_id: 1 } });
  const rows = await rejections();
  expect(rows.map((r) => [r.order_id, r.line_number, r.reason])).toEqual([
    ['o5', null, 'missing_user_id'],
    ['o1', '2', 'value_too_long'],
    ['o1', '3', 'value_too_long'],
    ['o3', null, 'value_too_long'],
    ['o4', null, 'value_too_long'],
    [null, null, 'value_too_long'], // a too long order_id is left out of its column: the record holds it
  ]);
  expect(rows[5].record).toBe(JSON.stringify({ order_id: 'x'.repeat(300), ...valid }));
  expect(rows[1].record).toBe(`{"sku":"${'S'.repeat(70_000)}","qty":1}`.slice(0, 65_535));
  // Cut to at most 65,535 bytes on a character boundary: the ASCII head, then only whole euro signs.
  const full = JSON.stringify({ order_id: 'o5', created_at: valid.created_at, note: longNote });
  const cut = rows[0].record as string;
  expect(Buffer.byteLength(cut)).toBe(65_535 - ((65_535 - full.indexOf('€')) % 3));
  expect(full.startsWith(cut)).toBe(true);
  const raw = (await lake.get(rawPageKey(rawPrefix('L1'), 1))).toString('utf8').split('\n').filter((l) => l !== '').map(decodeRawLine);
  expect(raw[4]).toBe(full);
});

test('a record created in 2099 is quarantined as future_created_at; the watermark stays; the next run loads new orders', async () => {
  const notAfter = '2025-10-05T08:05:00.000Z'; // the run's start plus the default five minutes
  const future = { order_id: 'o-future', user_id: 'u1', created_at: '2099-01-01T00:00:00Z' };
  const first = await load('L1', [{ order_id: 'o1', user_id: 'u1', created_at: '2025-10-01T10:00:00Z' }, future], { notAfter });
  expect(first.transform.watermark).toBe('2025-10-01T10:00:00Z');
  expect(first.counts.rejectedByReason).toEqual({ future_created_at: 1 });
  expect(await rejections()).toEqual([{ order_id: 'o-future', line_number: null, reason: 'future_created_at', record: JSON.stringify(future) }]);

  // The next run extracts from that watermark: the future record comes again (still quarantined), and new orders load.
  const second = await load('L2', [future, { order_id: 'o2', user_id: 'u1', created_at: '2025-10-05T09:00:00Z' }], { notAfter: '2025-10-05T09:05:00.000Z' });
  expect(second.transform.watermark).toBe('2025-10-05T09:00:00Z');
  expect(second.outcome.ordersLoaded).toBe(1);
  // Once its time has come, it loads.
  const later = await load('L3', [future], { notAfter: '2099-01-01T00:05:00.000Z' });
  expect(later.transform.watermark).toBe('2099-01-01T00:00:00Z');
  expect(await warehouse.query('SELECT order_id FROM dim_order ORDER BY order_id')).toEqual([{ order_id: 'o-future' }, { order_id: 'o1' }, { order_id: 'o2' }]);
});
