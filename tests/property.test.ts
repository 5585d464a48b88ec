/**
 * Property: for arbitrary messy orders (random types in every field, missing keys, duplicate order ids, exact
 * created_at ties written with different offsets, non-object records), the local pipeline (transform → stage →
 * DuckDB load) loses nothing, reconciles (§4.7), computes exact line amounts, and is idempotent (§4.6).
 * Each run uses a fresh temporary lake and warehouse.
 */
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseJson } from '../core/json';
import { LocalLake } from '../activities/lake/local-lake';
import { decimalTextToCents } from '../core/money';
import { parseIsoDateTime } from '../core/time';
import { checkItem, checkRecord, itemsOf } from '../activities/transform/rules';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import { STAR_KEYS, TEST_NOT_AFTER, dumpSql, loadPrepared, prepareLoad, reference, tempDir } from './support/rules-pipeline';

type Json = Record<string, unknown>;

/** Any JSON value, occasionally: "random types in every field". */
const anyJson = fc.jsonValue({ maxDepth: 2 });
/** Marks a key to leave out of the record. */
const MISSING = Symbol('missing');

/** A field: mostly a plausible value, sometimes a wrong one, any JSON value, or absent. */
const field = (valid: unknown[], invalid: unknown[]) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...valid), weight: 24 },
    { arbitrary: fc.constantFrom(...invalid), weight: 2 },
    { arbitrary: anyJson as fc.Arbitrary<unknown>, weight: 1 },
    { arbitrary: fc.constant<unknown>(MISSING), weight: 1 },
  );

/** A record whose MISSING fields are left out. */
const withoutMissing = (model: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(model).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== MISSING)));

/** Few ids (duplicates are common), numeric ones included ('7' and 7 are the same order). */
const orderId = field(['A1', 'A2', 'A3', 'A4', 7, '7'], ['', null, true, ['A1'], { id: 'A1' }]);
/** 'u\ud800' holds a lone surrogate (JSON can escape one; UTF-8 cannot hold it). */
const userId = field(['u1', 'u2', 'u3', 42, 'u\ud800'], ['', null, false, {}]);
/** Few instants, some written with different offsets (exact ties), and invalid or odd values. */
const createdAt = field(
  [
    '2025-10-01T10:00:00Z',
    '2025-10-01T05:00:00-05:00',
    '2025-10-01T10:00:00',
    '2025-10-01T10:00:00.000001Z',
    '2025-10-01T12:00:00+02:00',
    '2025-10-02T23:30:00-05:00',
    '2025-10-03T04:30:00Z',
  ],
  ['2025-02-30T10:00:00Z', '2025-13-01T00:00:00Z', '2025-10-01', 'yesterday', '', null, 1_759_312_800_000],
);
const money = field([10.005, 1.005, 2.675, 0.285, '19.99', '8.075', 0, -3.5, 12, null], ['1e3', '.5', 'abc', '', true, '9999999999999999.99', [1]]);
const qty = field([1, 2, 3, '2', '007', 2 ** 31 - 1], [0, -1, 1.5, '1.5', '', true, null, 2 ** 31]);
const sku = field(['SKU-A', 'SKU-B', 'SKU-C', 'SKU-Z', 5, 'SKU-\udc00'], ['', null, true, ['SKU-A']]);
const item = fc.oneof({ arbitrary: withoutMissing({ sku, qty, price: money }), weight: 10 }, { arbitrary: anyJson as fc.Arbitrary<unknown>, weight: 1 });
const items = fc.oneof(
  { arbitrary: fc.array(item, { maxLength: 4 }), weight: 10 },
  { arbitrary: fc.constantFrom<unknown>(MISSING, null, '', 'items', 3, { sku: 'SKU-A', qty: 1 }), weight: 2 },
);
const metadata = field([{ source: 'web', promo: 'P10' }, { source: 'mobile' }, { promo: '' }, { source: '' }, {}], [null, 'web', [], { source: 5, promo: 0 }]);
const order = withoutMissing({
  order_id: orderId,
  user_id: userId,
  created_at: createdAt,
  amount: money,
  currency: field(['USD', 'EUR'], ['', null, 840]),
  metadata,
  items,
  note: fc.oneof(fc.constant<unknown>(MISSING), anyJson),
});
const record = fc.oneof(
  { arbitrary: order as fc.Arbitrary<unknown>, weight: 14 },
  { arbitrary: fc.constantFrom<unknown>(null, 'text', 12, true, [], [{ order_id: 'A1' }]), weight: 1 },
  { arbitrary: anyJson as fc.Arbitrary<unknown>, weight: 1 },
);

const USERS = 'user_id,email,country,created_at\nu1,one@example.com,PE,2024-01-01\nu2,two@example.com,US,\n';
const PRODUCTS = 'sku,name,category,price\nSKU-A,Apple,fruit,1.00\nSKU-B,Banana,fruit,0.50\n';

/** Opens the warehouse file once for a batch of queries; rows as JSON (BIGINT and DECIMAL as text). */
async function withDb<T>(file: string, work: (q: (sql: string) => Promise<Json[]>) => Promise<T>): Promise<T> {
  const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    return await work(async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson() as Json[]);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const cents = (text: unknown): bigint | null => (text === null ? null : decimalTextToCents(String(text)));
const sortStrings = (xs: string[]) => [...xs].sort();
/** A string as UTF-8 holds it: a lone surrogate becomes U+FFFD. */
const utf8 = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

test('messy orders: nothing lost, reconciled, exact line amounts, idempotent', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(record, { maxLength: 30, size: 'medium' }), async (input) => {
      const { dir, cleanup } = tempDir('property');
      try {
        const lake = new LocalLake(path.join(dir, 'lake'));
        const file = path.join(dir, 'warehouse.duckdb');
        const warehouse = new DuckDbWarehouse(file);
        const ref = reference(USERS, PRODUCTS);
        const first = { lake, warehouse, loadId: 'L1', records: input, reference: ref, pageSize: 7 };
        const second = { ...first, loadId: 'L2', startedAt: '2025-10-06T08:00:00.000Z' };
        // Transform and stage do not depend on the warehouse: prepare both loads at once.
        const [prep1, prep2] = await Promise.all([prepareLoad(first), prepareLoad(second)]);
        await loadPrepared(first, prep1);
        // The warehouse as the first load left it, kept aside (attached below: one DuckDB open per run).
        const firstState = path.join(dir, 'after-first-load.duckdb');
        copyFileSync(file, firstState);
        if (existsSync(`${file}.wal`)) copyFileSync(`${file}.wal`, `${firstState}.wal`);
        // Loading the same input again must leave the star tables identical.
        const again = await loadPrepared(second, prep2);

        // The independent view of the input: records as the raw zone holds them, through the rule functions.
        const texts = input.map((r) => JSON.stringify(r) ?? 'null');
        const checks = texts.map((t) => checkRecord(parseJson(t), parseIsoDateTime(TEST_NOT_AFTER)!));
        const winners = new Map<string, { position: number; createdAt: number; userId: string; record: Json }>();
        checks.forEach((c, position) => {
          if (!c.ok) return;
          const w = winners.get(c.value.orderId);
          if (!w || c.value.createdAt > w.createdAt || (c.value.createdAt === w.createdAt && position > w.position)) {
            winners.set(c.value.orderId, { position, ...c.value });
          }
        });
        const validCount = checks.filter((c) => c.ok).length;
        const expectedLines: string[] = [];
        const expectedInvalidItems: string[] = [];
        const lineCounts = new Map<string, number>();
        for (const [id, w] of winners) {
          const { items: list, malformed } = itemsOf(w.record);
          if (malformed) expectedInvalidItems.push(`${id}#null`);
          list.forEach((it, i) => {
            if (!checkItem(it, i + 1).ok) return expectedInvalidItems.push(`${id}#${i + 1}`);
            expectedLines.push(`${id}#${i + 1}`);
            lineCounts.set(id, (lineCounts.get(id) ?? 0) + 1);
          });
        }
        expect(again.outcome).toEqual({ ordersLoaded: winners.size, ordersKept: 0, linesLoaded: expectedLines.length, duplicates: validCount - winners.size, rejectedItems: expectedInvalidItems.length });

        await withDb(file, async (q) => {
          await q(`ATTACH '${firstState}' AS load1 (READ_ONLY)`);
          // Everything below reads the state after the first load.
          const [load] = await q(
            "SELECT extracted, duplicates, rejected_orders, rejected_items, orders_loaded, orders_kept, lines_loaded FROM load1.etl_loads WHERE load_id = 'L1'",
          );
          const n = Object.fromEntries(Object.entries(load).map(([k, v]) => [k, Number(v)]));
          // Reconciliation (§4.7), read back from etl_loads.
          expect(n.extracted).toBe(input.length);
          expect(n.extracted).toBe(n.orders_loaded + n.orders_kept + n.duplicates + n.rejected_orders);
          expect(n.orders_kept).toBe(0);
          expect(n.duplicates).toBe(validCount - winners.size);

          // Every record is a winning version, a duplicate, or a rejected record with its reason and raw text.
          const rejected = await q('SELECT order_id, line_number, reason, record FROM load1.rejected_records');
          // An item's rejection: invalid_item (also a malformed `items`, without line_number), or any with a line_number.
          const isItemRejection = (r: Json) => r.line_number !== null || r.reason === 'invalid_item';
          const recordRejections = rejected.filter((r) => !isItemRejection(r));
          expect(recordRejections.length).toBe(n.rejected_orders);
          expect(sortStrings(recordRejections.map((r) => JSON.stringify([r.reason, r.order_id, r.record])))).toEqual(
            sortStrings(checks.flatMap((c, i) => (c.ok ? [] : [JSON.stringify([c.reason, c.orderId, texts[i]])]))),
          );
          const itemRejections = rejected.filter(isItemRejection);
          expect(itemRejections.length).toBe(n.rejected_items);
          expect(rejected.length).toBe(n.rejected_orders + n.rejected_items);
          expect(sortStrings(itemRejections.map((r) => `${r.order_id}#${r.line_number}`))).toEqual(sortStrings(expectedInvalidItems));

          const orders = await q('SELECT order_id, user_id, CAST(epoch_us(created_at) AS VARCHAR) AS micros, item_count FROM load1.dim_order');
          expect(orders.length).toBe(n.orders_loaded);
          expect(orders.map((o) => JSON.stringify(o)).sort()).toEqual(
            [...winners].map(([id, w]) => JSON.stringify({ order_id: id, user_id: utf8(w.userId), micros: String(w.createdAt), item_count: lineCounts.get(id) ?? 0 })).sort(),
          );

          // Facts: exactly the valid items of the winners; line_amount = quantity × unit_price, exactly.
          const facts = await q('SELECT order_id, line_number, quantity, CAST(unit_price AS VARCHAR) AS unit_price, CAST(line_amount AS VARCHAR) AS line_amount FROM load1.fact_sales');
          expect(facts.length).toBe(n.lines_loaded);
          expect(sortStrings(facts.map((f) => `${f.order_id}#${f.line_number}`))).toEqual(sortStrings(expectedLines));
          for (const f of facts) {
            const unit = cents(f.unit_price);
            expect(String(cents(f.line_amount))).toBe(String(unit === null ? null : BigInt(Number(f.quantity)) * unit));
          }
          expect(await q('SELECT COUNT(*)::INTEGER AS n FROM load1.fact_sales WHERE line_amount IS DISTINCT FROM quantity * unit_price')).toEqual([{ n: 0 }]);
          // Facts never dangle: every user and sku has a dimension row.
          expect(
            await q('SELECT COUNT(*)::INTEGER AS n FROM load1.fact_sales f LEFT JOIN load1.dim_user u USING (user_id) LEFT JOIN load1.dim_product p USING (sku) WHERE u.user_id IS NULL OR p.sku IS NULL'),
          ).toEqual([{ n: 0 }]);

          // The second load of the same input changed none of the star tables; it did record itself.
          for (const [table, key] of STAR_KEYS) {
            expect(await q(dumpSql(table, key))).toEqual(await q(dumpSql(table, key, `load1.${table}`)));
          }
          expect(await q("SELECT load_id, CAST(extracted AS INTEGER) AS extracted FROM etl_loads ORDER BY load_id")).toEqual([
            { load_id: 'L1', extracted: input.length },
            { load_id: 'L2', extracted: input.length },
          ]);
        });
      } finally {
        cleanup();
      }
    }),
    { numRuns: 100, seed: 20251001 },
  );
  // 200 loads, each opening DuckDB for the transform, the stage and the warehouse: minutes on a busy 2-core CI machine.
}, 420_000);
