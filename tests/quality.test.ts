/**
 * Quality gates (core/quality.ts, activities/warehouse/quality-sql.ts): the outcome logic with exact values on an
 * in-memory DuckDB, the CLI's flags and environment, then each check on real DuckDB loads (raw pages → transform →
 * stage → DuckDbWarehouse.load): what it measures, when it is not measured, and a failed gate that rolls the whole
 * load back. Both engines run the same SQL in tests/warehouse-engines.test.ts.
 */
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalLake } from '../activities/lake/local-lake';
import { DuckDbWarehouse } from '../activities/warehouse/duckdb-warehouse';
import { judgementSql } from '../activities/warehouse/quality-sql';
import { loadEnvConfig } from '../client/config';
import { formatGates, qualityGates } from '../client/quality-options';
import { QualityGateError } from '../core/errors';
import {
  DEFAULT_QUALITY_GATES,
  assertQualityGate,
  describeResult,
  formatObserved,
  withOverrides,
  worstOutcome,
  type QualityCheckName,
  type QualityGates,
  type QualityLimits,
  type QualityResult,
} from '../core/quality';
import { TABLES, sqlName, type TableName } from '../core/schema';
import { dumpSql, loadPrepared, prepareLoad, reference, runLoad, tempDir } from './support/rules-pipeline';

describe('the outcome of a check against its limits (judgementSql, on DuckDB)', () => {
  let db: DuckDBInstance;
  beforeAll(async () => (db = await DuckDBInstance.create(':memory:')));
  afterAll(() => db.closeSync());

  async function judge(name: QualityCheckName, limits: QualityLimits, observed: number): Promise<[string, number | null]> {
    const { outcome, threshold } = judgementSql(name, 'q.observed', limits);
    const c = await db.connect();
    try {
      const [row] = (await c.runAndReadAll(`SELECT ${outcome} AS outcome, ${threshold} AS threshold FROM (SELECT CAST(${observed} AS DOUBLE PRECISION) AS observed) q`)).getRows();
      return [String(row[0]), row[1] as number | null];
    } finally {
      c.closeSync();
    }
  }

  test.each<[number, string, number | null]>([
    [0, 'pass', 0.05],
    [0.05, 'pass', 0.05], // at a limit is within it
    [0.0500001, 'warn', 0.05],
    [0.2, 'warn', 0.05],
    [0.2000001, 'fail', 0.2],
    [1, 'fail', 0.2],
  ])('a rate (bad above) warn 0.05, fail 0.2: %p is %s against %p', async (observed, outcome, threshold) => {
    expect(await judge('rejection_rate', { warn: 0.05, fail: 0.2 }, observed)).toEqual([outcome, threshold]);
  });

  test.each<[number, string, number | null]>([
    [3, 'pass', 0.5],
    [0.5, 'pass', 0.5],
    [0.4999, 'warn', 0.5],
    [0.25, 'warn', 0.5],
    [0.2499, 'fail', 0.25],
    [0, 'fail', 0.25],
  ])('a volume ratio (bad below) warn 0.5, fail 0.25: %p is %s against %p', async (observed, outcome, threshold) => {
    expect(await judge('volume_low', { warn: 0.5, fail: 0.25 }, observed)).toEqual([outcome, threshold]);
  });

  test('one level only, or none', async () => {
    expect(await judge('null_price_rate', { warn: null, fail: 0.2 }, 0.1)).toEqual(['pass', 0.2]);
    expect(await judge('null_price_rate', { warn: null, fail: 0.2 }, 0.3)).toEqual(['fail', 0.2]);
    expect(await judge('volume_high', { warn: 2, fail: null }, 2.5)).toEqual(['warn', 2]);
    expect(await judge('volume_high', { warn: null, fail: null }, 1000)).toEqual(['pass', null]);
  });
});

describe('results for people and for the gate', () => {
  const results: QualityResult[] = [
    { check: 'rejection_rate', observed: 1 / 3, threshold: 0.2, outcome: 'fail' },
    { check: 'volume_low', observed: 0.45454545, threshold: 0.5, outcome: 'warn' },
    { check: 'null_price_rate', observed: 0.0052, threshold: 0.2, outcome: 'pass' },
    { check: 'volume_high', observed: 12345.6, threshold: null, outcome: 'pass' },
  ];

  test('worstOutcome, describeResult and formatObserved', () => {
    expect(worstOutcome(results)).toBe('fail');
    expect(worstOutcome(results.slice(1))).toBe('warn');
    expect(worstOutcome([])).toBe('pass');
    expect(results.map(describeResult)).toEqual([
      'rejection_rate 0.3333 (fail: above 0.2)',
      'volume_low 0.4545 (warn: below 0.5)',
      'null_price_rate 0.0052 (pass: limit above 0.2)',
      'volume_high 12346 (pass: no limit)',
    ]);
    expect([0, 1, 0.026, 2 / 3, 1234.5].map(formatObserved)).toEqual(['0', '1', '0.026', '0.6667', '1235']);
  });

  test('assertQualityGate throws a QualityGateError naming the failed checks and holding every result; no failure, no throw', () => {
    const error = (() => {
      try {
        assertQualityGate('L9', results);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(QualityGateError);
    expect((error as QualityGateError).name).toBe('QualityGateError');
    expect((error as QualityGateError).message).toBe('load L9 failed its quality gate: rejection_rate 0.3333 (fail: above 0.2); nothing was committed');
    expect((error as QualityGateError).results).toEqual(results);
    expect(() => assertQualityGate('L9', results.slice(1))).not.toThrow();
  });
});

describe('gates from --quality, --volume-window and the environment', () => {
  const gates = (flags: { quality?: string[]; volumeWindow?: string }, env: NodeJS.ProcessEnv = {}) => qualityGates(flags, loadEnvConfig(env));

  test('the defaults: warn-only rates, volume measured only, a window of 7', () => {
    expect(gates({})).toEqual(DEFAULT_QUALITY_GATES);
    expect(formatGates(DEFAULT_QUALITY_GATES)).toBe(
      'rejection_rate:warn=0.05,fail=off; volume_low:warn=off,fail=off; volume_high:warn=off,fail=off; null_price_rate:warn=0.2,fail=off; ' +
        'inferred_user_rate:warn=0.1,fail=off; inferred_product_rate:warn=0.1,fail=off; volume window 7',
    );
  });

  test('flags override the environment level by level, the environment the defaults; `off` drops a level or a check', () => {
    const env = { ORDERS_ETL_QUALITY: 'rejection_rate:fail=0.3; volume_low:warn=0.5,fail=0.2', ORDERS_ETL_VOLUME_WINDOW: '5' };
    expect(gates({ quality: ['rejection_rate:warn=0.01', 'null_price_rate:off;inferred_user_rate:warn=off,fail=0.9'] }, env)).toEqual({
      volumeWindow: 5,
      checks: {
        ...DEFAULT_QUALITY_GATES.checks,
        rejection_rate: { warn: 0.01, fail: 0.3 },
        volume_low: { warn: 0.5, fail: 0.2 },
        null_price_rate: { warn: null, fail: null },
        inferred_user_rate: { warn: null, fail: 0.9 },
      },
    });
    expect(gates({ volumeWindow: '14' }, env).volumeWindow).toBe(14);
  });

  test.each<[string, { quality?: string[]; volumeWindow?: string }, NodeJS.ProcessEnv, string]>([
    ['an unknown check', { quality: ['rejected:warn=0.1'] }, {}, '--quality names an unknown check "rejected" (checks: rejection_rate, volume_low, volume_high, null_price_rate, inferred_user_rate, inferred_product_rate)'],
    ['a rate beyond 1', { quality: ['rejection_rate:fail=1.5'] }, {}, '--quality rejection_rate fail must be a number from 0 to 1, got "1.5"'],
    ['not a plain number', { quality: ['null_price_rate:warn=1e-3'] }, {}, '--quality null_price_rate warn must be a number from 0 to 1, got "1e-3"'],
    ['no limits', { quality: ['rejection_rate'] }, {}, '--quality must be CHECK:warn=N,fail=N or CHECK:off'],
    ['an unknown level', { quality: ['rejection_rate:max=0.1'] }, {}, '--quality must be CHECK:warn=N,fail=N or CHECK:off'],
    ['warn beyond fail', { quality: ['volume_low:warn=0.2,fail=0.5'] }, {}, 'quality gates (--quality, ORDERS_ETL_QUALITY): volume_low warns below 0.2 but fails below 0.5: the warn limit must come first'],
    ['a bad variable', {}, { ORDERS_ETL_QUALITY: 'volume_high:warn=-1' }, 'environment variable ORDERS_ETL_QUALITY: volume_high warn must be a number from 0 to 1000000, got "-1"'],
    ['a window of 0', { volumeWindow: '0' }, {}, '--volume-window must be an integer from 1 to 1000, got "0"'],
  ])('%s is one clear line', (_what, flags, env, message) => {
    expect(() => gates(flags, env)).toThrow(message);
  });
});

describe('each check on real DuckDB loads', () => {
  let dir: string;
  let cleanup: () => void;
  let lake: LocalLake;
  let warehouse: DuckDbWarehouse;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('quality'));
    lake = new LocalLake(path.join(dir, 'lake'));
    warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
  });
  afterEach(() => cleanup());

  const order = (order_id: string, created_at: string, items: unknown[], more: Record<string, unknown> = {}) => ({ order_id, user_id: 'u1', created_at, items, ...more });
  const orders = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => order(`${prefix}${i}`, `2025-10-01T10:00:0${i % 10}Z`, [{ sku: 'A', qty: 1, price: 1 }]));
  const gates = (overrides: Parameters<typeof withOverrides>[1] = {}, volumeWindow?: number): QualityGates => withOverrides(DEFAULT_QUALITY_GATES, overrides, volumeWindow);
  const load = (loadId: string, records: unknown[], quality: QualityGates = gates(), more: { startedAt?: string; ref?: ReturnType<typeof reference> } = {}) =>
    runLoad({ lake, warehouse, loadId, records, quality, startedAt: more.startedAt, reference: more.ref });
  const stored = () => warehouse.query(`SELECT load_id, ${sqlName('check')}, observed, threshold, outcome FROM quality_checks ORDER BY load_id, ${sqlName('check')}`);

  /** A third of the records rejected, a third of the lines without a price, half the users and products inferred. */
  const MIXED = [
    order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 1 }, { sku: 'B', qty: 1 }]),
    order('o2', '2025-10-01T11:00:00Z', [{ sku: 'A', qty: 2, price: '2.50' }], { user_id: 'u2' }),
    order('o3', '2025-10-01T12:00:00Z', [{ sku: 'A', qty: 1, price: 1 }], { user_id: '' }),
  ];
  const MIXED_REFERENCE = reference('user_id,email,country,created_at\nu1,one@example.com,PE,2024-01-01\n', 'sku,name,category,price\nA,Apple,fruit,1.00\n');

  test('rejection, NULL prices and inferred members, measured on what the load wrote, judged and recorded', async () => {
    const run = await load('Q1', MIXED, gates(), { ref: MIXED_REFERENCE });
    const expected: QualityResult[] = [
      { check: 'rejection_rate', observed: 1 / 3, threshold: 0.05, outcome: 'warn' },
      { check: 'null_price_rate', observed: 1 / 3, threshold: 0.2, outcome: 'warn' },
      { check: 'inferred_user_rate', observed: 0.5, threshold: 0.1, outcome: 'warn' },
      { check: 'inferred_product_rate', observed: 0.5, threshold: 0.1, outcome: 'warn' },
    ];
    expect(run.outcome.quality).toEqual(expected);
    expect(await stored()).toEqual(
      [...expected].sort((a, b) => a.check.localeCompare(b.check)).map((r) => ({ load_id: 'Q1', check: r.check, observed: r.observed, threshold: r.threshold, outcome: r.outcome })),
    );
  });

  test('without reference files every member is inferred by design: the inferred checks are not measured', async () => {
    const run = await load('Q1', MIXED);
    expect(run.outcome.quality!.map((r) => r.check)).toEqual(['rejection_rate', 'null_price_rate']);
  });

  test('an empty load measures 0, and a load without gates records nothing', async () => {
    expect((await load('Q1', [])).outcome.quality).toEqual([
      { check: 'rejection_rate', observed: 0, threshold: 0.05, outcome: 'pass' },
      { check: 'null_price_rate', observed: 0, threshold: 0.2, outcome: 'pass' },
    ]);
    const ungated = await runLoad({ lake, warehouse, loadId: 'Q2', records: MIXED });
    expect(ungated.outcome.quality).toBeUndefined();
    expect((await stored()).map((r) => r.load_id)).toEqual(['Q1', 'Q1']);
  });

  test("volume: this load's records against the median of the pipeline's earlier loads, once there are three (or the window)", async () => {
    const volume = gates({ volume_low: { warn: 0.8, fail: 0.5 }, volume_high: { warn: 1.5, fail: null } });
    const volumeOf = async (loadId: string, n: number, at: string, quality = volume) =>
      (await load(loadId, orders(n, loadId), quality, { startedAt: at })).outcome.quality!.filter((r) => r.check.startsWith('volume_'));
    expect(await volumeOf('V1', 4, '2025-10-05T08:00:00.000Z')).toEqual([]);
    expect(await volumeOf('V2', 2, '2025-10-05T09:00:00.000Z')).toEqual([]);
    expect(await volumeOf('V3', 6, '2025-10-05T10:00:00.000Z')).toEqual([]);
    // The median of 4, 2, 6.
    expect(await volumeOf('V4', 3, '2025-10-05T11:00:00.000Z')).toEqual([
      { check: 'volume_low', observed: 0.75, threshold: 0.8, outcome: 'warn' },
      { check: 'volume_high', observed: 0.75, threshold: 1.5, outcome: 'pass' },
    ]);
    // A window of 2: the median of the last two (3 and 6), needing only two earlier loads.
    expect(await volumeOf('V5', 9, '2025-10-05T12:00:00.000Z', withOverrides(volume, {}, 2))).toEqual([
      { check: 'volume_low', observed: 2, threshold: 0.8, outcome: 'pass' },
      { check: 'volume_high', observed: 2, threshold: 1.5, outcome: 'warn' },
    ]);
    // Back to a window of 7: the median of 9, 3, 6, 2 and 4; 1 of 4 is a drop beyond the fail limit.
    await expect(volumeOf('V6', 1, '2025-10-05T13:00:00.000Z')).rejects.toThrow(
      'load V6 failed its quality gate: volume_low 0.25 (fail: below 0.5); nothing was committed',
    );
  });

  /** Every table, every column, as the warehouse holds it. */
  async function everything(): Promise<Record<string, unknown[]>> {
    const out: Record<string, unknown[]> = {};
    for (const table of [...Object.keys(TABLES), 'etl_schema_version'] as TableName[]) out[table] = await warehouse.query(`SELECT * FROM ${table} ORDER BY ALL`);
    return out;
  }

  test('a failed gate rolls the whole load back before COMMIT: every table as before, the error holding every result', async () => {
    const strict = gates({ rejection_rate: { warn: 0.05, fail: 0.2 } });
    await load('G1', [order('o1', '2025-10-01T10:00:00Z', [{ sku: 'A', qty: 1, price: 1 }])], strict);
    const before = await everything();
    expect(before.etl_loads).toHaveLength(1);

    const failure = await load('G2', [...MIXED, order('o4', '2025-10-02T10:00:00Z', [])], strict).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(QualityGateError);
    expect((failure as QualityGateError).message).toBe('load G2 failed its quality gate: rejection_rate 0.25 (fail: above 0.2); nothing was committed');
    expect((failure as QualityGateError).results).toEqual([
      { check: 'rejection_rate', observed: 0.25, threshold: 0.2, outcome: 'fail' },
      { check: 'null_price_rate', observed: 1 / 3, threshold: 0.2, outcome: 'warn' },
    ]);
    expect(await everything()).toEqual(before);
  });

  test('the same load loaded again (a retry after its COMMIT) keeps one row per check', async () => {
    const options = { lake, warehouse, loadId: 'R1', records: MIXED, quality: gates() };
    const prepared = await prepareLoad(options);
    const first = await loadPrepared(options, prepared);
    const again = await loadPrepared(options, prepared);
    expect(again.outcome.quality).toEqual(first.outcome.quality);
    expect(await warehouse.query(dumpSql('quality_checks', `load_id, ${sqlName('check')}`))).toEqual([
      { load_id: 'R1', check: 'null_price_rate', observed: 1 / 3, threshold: 0.2, outcome: 'warn' },
      { load_id: 'R1', check: 'rejection_rate', observed: 1 / 3, threshold: 0.05, outcome: 'warn' },
    ]);
  });
});
