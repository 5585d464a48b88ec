/**
 * Schema drift on real components: the transform's collection of field paths and JSON types (raw pages →
 * transformOrders), the bounds of the set, and DuckDB loads recording schema_fields and comparing each load with
 * the previous one of its pipeline into schema_changes, in the load's transaction.
 */
import path from 'node:path';
import { rawPrefix } from '../core/lake-layout';
import { LocalLake } from '../activities/lake/local-lake';
import { FieldCollector } from '../activities/transform/field-collector';
import { transformOrders, type TransformProgress } from '../activities/transform/transform';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import { schemaChangesOf, schemaChangesQuery, schemaDriftStatements } from '../activities/warehouse/schema-drift-sql';
import { loadBookkeeping } from '../core/load-counts';
import { describeSchemaChanges, MAX_FIELD_PATHS, mergeObservedFields, schemaChangeLine, type JsonType, type SchemaChanges } from '../core/schema-drift';
import { formatSchemaChanges, schemaChangesCell } from '../client/schema-changes-output';
import { parseJson } from '../core/json';
import { prepareLoad, loadPrepared, runLoad, runTransform, SourceText, sourceText, tempDir, TEST_NOT_AFTER, writeRawPages, type LoadOptions } from './support/rules-pipeline';

let dir: string;
let cleanup: () => void;
let lake: LocalLake;
let warehouse: DuckDbWarehouse;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('schema-drift'));
  lake = new LocalLake(path.join(dir, 'lake'));
  warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
});
afterEach(() => cleanup());

/** Records like sample_data's, with the messy cases: mixed and null types, a number a double would change, nesting. */
const RECORDS: unknown[] = [
  {
    order_id: 'o1',
    user_id: 'u1',
    created_at: '2025-10-01T10:00:00Z',
    currency: 'USD',
    amount: 3.5,
    items: [{ sku: 'A', qty: 1, price: 1.5 }, { sku: 'B', qty: '2', price: null }],
    metadata: { source: 'web', promo: null },
  },
  new SourceText('{"order_id":"o2","user_id":"u2","created_at":"2025-10-01T11:00:00Z","amount":12345678901234567890,"items":[{"sku":"A","qty":1,"price":"2.50"}],"metadata":null}'),
  { order_id: 'o3', user_id: 'u3', created_at: '2025-10-01T12:00:00Z', tags: ['a', 'b', 'c'], dims: { w: 1, h: { x: true } } },
  // Rejected (missing_user_id), yet what the feed sent: its fields count.
  { order_id: 'o4', created_at: '2025-10-01T13:00:00Z', items: 'oops' },
  // No record (malformed_record): no fields.
  ['junk'],
  42,
  new SourceText('not json'),
];

const field = (path: string, types: JsonType[], records: number) => ({ path, types, records });

describe('the transform observes field paths and JSON types', () => {
  test('every path of every JSON-object record, dotted, with [] for array elements, its types and the records it is in', async () => {
    const result = await runTransform({ lake, loadId: 'T1', records: RECORDS, pageSize: 3 });
    expect(result.counts.extracted).toBe(7);
    expect(result.fields).toEqual({
      truncated: false,
      fields: [
        field('amount', ['number'], 2),
        field('created_at', ['string'], 4),
        field('currency', ['string'], 1),
        field('dims', ['object'], 1),
        field('dims.h', ['object'], 1),
        field('dims.h.x', ['boolean'], 1),
        field('dims.w', ['number'], 1),
        field('items', ['array', 'string'], 3),
        field('items[]', ['object'], 2),
        field('items[].price', ['null', 'number', 'string'], 2),
        field('items[].qty', ['number', 'string'], 2),
        field('items[].sku', ['string'], 2),
        field('metadata', ['null', 'object'], 2),
        field('metadata.promo', ['null'], 1),
        field('metadata.source', ['string'], 1),
        field('order_id', ['string'], 4),
        field('tags', ['array'], 1),
        field('tags[]', ['string'], 1),
        field('user_id', ['string'], 3),
      ],
    });
  });

  test('a resumed transform carries the fields of the chunks before its checkpoint', async () => {
    const pages = await writeRawPages(lake, 'T2', RECORDS, 2);
    const input = { loadId: 'T2', partition: 0, raw: { prefix: rawPrefix('T2'), pages, verbatim: false, base: 0 }, rejectedAt: '2025-10-05T08:00:00.000Z', chunkRows: 1, notAfter: TEST_NOT_AFTER };
    const beats: TransformProgress[] = [];
    const whole = await transformOrders(input, lake, (b) => beats.push(structuredClone(b)));
    // After the first page (o1, o2): their fields only.
    expect(beats[0].result.fields.fields.map((f) => f.path)).toEqual(['amount', 'created_at', 'currency', 'items', 'items[]', 'items[].price', 'items[].qty', 'items[].sku', 'metadata', 'metadata.promo', 'metadata.source', 'order_id', 'user_id']);
    const resumed = await transformOrders(input, lake, () => undefined, beats[0]);
    expect(resumed.fields).toEqual(whole.fields);
  });

  test('the same set however the records are split into partitions', () => {
    const records = RECORDS.map((r) => (r instanceof SourceText ? (() => { try { return parseJson(r.text); } catch { return undefined; } })() : r));
    const observe = (part: unknown[]) => {
      const collector = new FieldCollector();
      for (const record of part) collector.observe(record);
      return collector.observed();
    };
    const whole = observe(records);
    for (let cut = 0; cut <= records.length; cut++) expect(mergeObservedFields([observe(records.slice(cut)), observe(records.slice(0, cut))])).toEqual(whole);
  });

  test(`bounded: the first ${MAX_FIELD_PATHS} paths in path order, and at most 24 KiB of their text; a cut set is truncated`, () => {
    const keys = (n: number, name: (i: number) => string) => Object.fromEntries(Array.from({ length: n }, (_, i) => [name(i), i]));
    const wide = new FieldCollector();
    wide.observe(keys(600, (i) => `k${String(i).padStart(3, '0')}`));
    const observed = wide.observed();
    expect(observed.truncated).toBe(true);
    expect(observed.fields.map((f) => f.path)).toEqual(Array.from({ length: 500 }, (_, i) => `k${String(i).padStart(3, '0')}`));

    const long = new FieldCollector();
    long.observe(keys(100, (i) => `${String(i).padStart(3, '0')}${'x'.repeat(247)}`)); // 252 bytes each as a quoted literal (sqlTextBytes): 97 fit in 24,576
    expect(long.observed().fields).toHaveLength(97);
    expect(long.observed().truncated).toBe(true);

    // A part that kept k000…k499 may have seen k550 too: the merge keeps nothing after its last path.
    const narrow = new FieldCollector();
    narrow.observe({ a: 1, k550: 'x' });
    const merged = mergeObservedFields([observed, narrow.observed()]);
    expect(merged.truncated).toBe(true);
    expect(merged.fields.map((f) => f.path)).toEqual(['a', ...observed.fields.slice(0, 499).map((f) => f.path)]);
    const both = new FieldCollector();
    both.observe(keys(600, (i) => `k${String(i).padStart(3, '0')}`));
    both.observe({ a: 1, k550: 'x' });
    expect(merged).toEqual(both.observed());
  });

  test('a path no warehouse text holds is cleaned: NUL and lone surrogates as U+FFFD, cut to 256 bytes', () => {
    const collector = new FieldCollector();
    collector.observe({ 'a\u0000b': 1, ['\ud800']: 2, [`${'é'.repeat(200)}`]: 3 });
    expect(collector.observed().fields.map((f) => f.path)).toEqual(['a\ufffdb', 'é'.repeat(128), '\ufffd']);
  });

  test('the statement of the largest set stays within the Redshift Data API\'s 100 KB', () => {
    const allTypes: JsonType[] = ['array', 'boolean', 'null', 'number', 'object', 'string'];
    const bookkeeping = loadBookkeeping({ loadId: '20251005T080000Z-0123456789ab', pipelineId: 'p', source: 's', startedAt: '2025-10-05T08:00:00.000Z' }, []);
    // Many short paths, long ones, and ones of backslashes (each spelled CHR(92) in the statement).
    for (const name of [(i: number) => `${i}`.padStart(4, '0'), (i: number) => `${i}`.padStart(240, 'é'), (i: number) => `${i}`.padStart(200, '\\')]) {
      const widest = mergeObservedFields([{ truncated: false, fields: Array.from({ length: 600 }, (_, i) => ({ path: name(i), types: allTypes, records: 2 ** 40 })) }]);
      expect(widest.truncated).toBe(true);
      for (const statement of schemaDriftStatements(bookkeeping, widest)) expect(Buffer.byteLength(statement)).toBeLessThan(100_000);
    }
  });
});

/** sample_data-like orders: load 1 has metadata.coupon and a string metadata.channel. */
const order = (order_id: string, items: unknown[], metadata: Record<string, unknown>) => ({ order_id, user_id: 'u1', created_at: '2025-10-01T10:00:00Z', currency: 'USD', items, amount: 10, metadata });
const LOAD_1 = [
  order('o1', [{ sku: 'p_1', qty: 1, price: 9.5 }], { source: 'web', promo: 'WELCOME', coupon: 'C10', channel: 'web' }),
  order('o2', [{ sku: 'p_2', qty: '2', price: null }], { source: 'api', promo: null, coupon: 'C20', channel: 'app' }),
];
/** Load 2: an item gains `discount`, `metadata.coupon` is gone, `metadata.channel` is a number. */
const LOAD_2 = [
  order('o3', [{ sku: 'p_1', qty: 1, price: 9.5, discount: 0.5 }, { sku: 'p_3', qty: '1', price: null }], { source: 'web', promo: null, channel: 3 }),
  order('o4', [{ sku: 'p_2', qty: 2, price: 4 }], { source: 'api', promo: 'WELCOME', channel: 7 }),
];

describe('DuckDB loads record their fields and what changed against the previous load', () => {
  const load = (loadId: string, records: unknown[], extra: Partial<LoadOptions> = {}) => runLoad({ lake, warehouse, loadId, records, ...extra });
  const fieldsOf = (loadId: string) =>
    warehouse.query(`SELECT path, json_type, nullable, records, truncated FROM schema_fields WHERE load_id = '${loadId}' ORDER BY path`);
  const changes = () => warehouse.query('SELECT load_id, path, change, old_type, new_type, previous_load_id FROM schema_changes ORDER BY load_id, path');
  const row = (path: string, json_type: string, records: number, nullable = false) => ({ path, json_type, nullable, records, truncated: false });
  const change = (load_id: string, path: string, kind: string, old_type: string | null, new_type: string | null, previous_load_id: string) =>
    ({ load_id, path, change: kind, old_type, new_type, previous_load_id });

  test('load 1 records its fields and no change; load 2 finds the new, the vanished and the retyped field, and loads regardless', async () => {
    await load('L1', LOAD_1);
    expect(await fieldsOf('L1')).toEqual([
      row('amount', 'number', 2),
      row('created_at', 'string', 2),
      row('currency', 'string', 2),
      row('items', 'array', 2),
      row('items[]', 'object', 2),
      row('items[].price', 'number', 2, true),
      row('items[].qty', 'number|string', 2),
      row('items[].sku', 'string', 2),
      row('metadata', 'object', 2),
      row('metadata.channel', 'string', 2),
      row('metadata.coupon', 'string', 2),
      row('metadata.promo', 'string', 2, true),
      row('metadata.source', 'string', 2),
      row('order_id', 'string', 2),
      row('user_id', 'string', 2),
    ]);
    expect(await changes()).toEqual([]);
    expect(schemaChangesOf(await warehouse.query(schemaChangesQuery('L1')))).toEqual({ previousLoadId: null, total: 0, changes: [] });

    const second = await load('L2', LOAD_2);
    expect(second.outcome.ordersLoaded).toBe(2);
    expect(await changes()).toEqual([
      change('L2', 'items[].discount', 'added', null, 'number', 'L1'),
      change('L2', 'metadata.channel', 'type_changed', 'string', 'number', 'L1'),
      change('L2', 'metadata.coupon', 'removed', 'string', null, 'L1'),
    ]);
    // Stamped with the load's own finish, in its transaction.
    expect(await warehouse.query("SELECT COUNT(*) AS n FROM schema_changes c JOIN etl_loads l ON l.load_id = c.load_id WHERE c.detected_at = l.finished_at")).toEqual([{ n: 3 }]);
    const read = schemaChangesOf(await warehouse.query(schemaChangesQuery('L2')));
    expect(read.changes.map(schemaChangeLine)).toEqual(['added items[].discount: number', 'type_changed metadata.channel: string -> number', 'removed metadata.coupon: was string']);
    expect(read).toMatchObject({ previousLoadId: 'L1', total: 3 });
  });

  test('the previous load is the last committed one of the same pipeline that saw records; a retried load writes nothing twice', async () => {
    await load('L1', LOAD_1);
    await load('L2', LOAD_2);
    // A load that saw no record records nothing and is skipped as a previous load.
    await load('L3', []);
    expect(await fieldsOf('L3')).toEqual([]);
    // Another pipeline in the same warehouse starts afresh.
    await load('X1', LOAD_2, { pipelineId: 'other-pipeline' });
    // A failed load commits nothing, so it is never a previous load.
    const failing = { lake, warehouse, loadId: 'L4', records: LOAD_1 } as LoadOptions;
    const prepared = await prepareLoad(failing);
    prepared.transform.counts.versions += 1;
    await expect(loadPrepared(failing, prepared)).rejects.toThrow(/does not reconcile/);
    // The same shapes as L2: nothing changed against L2.
    const fifth = { lake, warehouse, loadId: 'L5', records: LOAD_2 };
    const staged = await prepareLoad(fifth);
    await loadPrepared(fifth, staged);
    // A retry after the commit (same load id, same staging).
    await loadPrepared(fifth, staged);
    await load('L6', LOAD_1);

    expect(await changes()).toEqual([
      change('L2', 'items[].discount', 'added', null, 'number', 'L1'),
      change('L2', 'metadata.channel', 'type_changed', 'string', 'number', 'L1'),
      change('L2', 'metadata.coupon', 'removed', 'string', null, 'L1'),
      change('L6', 'items[].discount', 'removed', 'number', null, 'L5'),
      change('L6', 'metadata.channel', 'type_changed', 'number', 'string', 'L5'),
      change('L6', 'metadata.coupon', 'added', null, 'string', 'L5'),
    ]);
    expect(await warehouse.query("SELECT COUNT(*) AS n FROM schema_fields WHERE load_id = 'L5'")).toEqual([{ n: 15 }]);
    expect(await warehouse.query("SELECT COUNT(*) AS n FROM schema_fields WHERE load_id = 'L4'")).toEqual([{ n: 0 }]);
  });

  test('a field null in some records keeps its type; one null in every record of a load is a change to null', async () => {
    const promo = (loadId: string, promos: unknown[]) => load(loadId, promos.map((p, i) => order(`${loadId}-${i}`, [], { promo: p })));
    await promo('N1', ['A', null]);
    await promo('N2', [null, 'B', 'C']);
    await promo('N3', [null, null]);
    await promo('N4', [null, 'D']);
    expect(await changes()).toEqual([
      change('N3', 'metadata.promo', 'type_changed', 'string', 'null', 'N2'),
      change('N4', 'metadata.promo', 'type_changed', 'null', 'string', 'N3'),
    ]);
  });

  test('a truncated set reports no removal (its cut may have dropped the path), and after it no addition', async () => {
    await load('C1', LOAD_1);
    const truncated = async (loadId: string, keep: (path: string) => boolean) => {
      const options = { lake, warehouse, loadId, records: LOAD_2 };
      const prepared = await prepareLoad(options);
      const fields = prepared.transform.fields;
      prepared.transform.fields = { truncated: true, fields: fields.fields.filter((f) => keep(f.path)) };
      await loadPrepared(options, prepared);
    };
    // Cut after metadata.channel: coupon is absent, but so would any path after the cut be.
    await truncated('C2', (p) => p <= 'metadata.channel');
    await load('C3', LOAD_1);
    expect(await changes()).toEqual([
      change('C2', 'items[].discount', 'added', null, 'number', 'C1'),
      change('C2', 'metadata.channel', 'type_changed', 'string', 'number', 'C1'),
      // C3 against the truncated C2: what C2 kept and C3 lacks is removed; what C3 adds may have been cut.
      change('C3', 'items[].discount', 'removed', 'number', null, 'C2'),
      change('C3', 'metadata.channel', 'type_changed', 'number', 'string', 'C2'),
    ]);
    expect(await warehouse.query("SELECT DISTINCT truncated FROM schema_fields WHERE load_id = 'C2'")).toEqual([{ truncated: true }]);
  });

  test('member names are stored as sent, quotes and backslashes included', async () => {
    await load('Q1', [{ ...LOAD_1[0], "it's\\here": { 'a\\': 1 } }]);
    expect((await fieldsOf('Q1')).map((f) => String(f.path)).filter((p) => p.startsWith("it'"))).toEqual(["it's\\here", "it's\\here.a\\"]);
    expect(sourceText({ "it's\\here": 1 })).toBe('{"it\'s\\\\here":1}'); // the record as the feed sent it
  });
});

describe('how a load\'s changes read, in the run summary and the alert', () => {
  const changes: SchemaChanges = {
    previousLoadId: 'L1',
    total: 23,
    changes: [
      { path: 'coupon', change: 'added', oldType: null, newType: 'string' },
      { path: 'items[].price', change: 'type_changed', oldType: 'string', newType: 'number' },
      { path: 'metadata', change: 'removed', oldType: 'object', newType: null },
    ],
  };

  test('the summary: a cell, then a table and where the unreported changes are', () => {
    expect(schemaChangesCell(changes)).toBe('23 against load L1 (below)');
    expect(formatSchemaChanges(changes, 'L2')).toBe(
      [
        '',
        'schema changes',
        'change        path           old type  new type',
        '------------  -------------  --------  --------',
        'added         coupon                   string',
        'type_changed  items[].price  string    number',
        'removed       metadata       object',
        "… and 20 more: SELECT * FROM schema_changes WHERE load_id = 'L2'",
        '',
      ].join('\n'),
    );
    const none = { previousLoadId: null, total: 0, changes: [] };
    expect(schemaChangesCell(none)).toBe('none');
    expect(formatSchemaChanges(none, 'L2')).toBe('');
  });

  test('the alert: a heading, a change a line, where the rest are', () => {
    expect(describeSchemaChanges(changes, 'L2')).toBe(
      [
        'load L2 against load L1: 23 changes',
        '  added coupon: string',
        '  type_changed items[].price: string -> number',
        '  removed metadata: was object',
        "  … and 20 more: SELECT * FROM schema_changes WHERE load_id = 'L2'",
      ].join('\n'),
    );
    expect(describeSchemaChanges({ ...changes, total: 1, changes: changes.changes.slice(0, 1) }, 'L2')).toBe('load L2 against load L1: 1 change\n  added coupon: string');
  });
});
