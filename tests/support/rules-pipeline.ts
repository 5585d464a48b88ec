/**
 * Test helpers for the data-rule tests: the local pipeline without Temporal (raw pages → transform → stage →
 * DuckDB load), the way the workflow chains the activities, in temporary directories.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { encodeRawLine } from '../../core/json';
import { rawPageKey, rawPrefix } from '../../core/lake-layout';
import { LocalLake } from '../../activities/lake/local-lake';
import type { Lake } from '../../activities/lake';
import { TABLES, sqlName, type TableName } from '../../core/schema';
import type { QualityGates } from '../../core/quality';
import { sqlLiteral } from '../../core/sql';
import { loadBookkeeping } from '../../core/load-counts';
import { stageLoad, stageReference, type StageResult } from '../../activities/stage/stage';
import { streamProductsCsv, streamUsersCsv } from '../../activities/transform/reference';
import { transformOrders, type TransformResult } from '../../activities/transform/transform';
import { DuckDbWarehouse } from '../../activities/warehouse/duckdb-warehouse';
import type { LoadResult, Row } from '../../activities/warehouse/warehouse';
import type { RejectReason } from '../../activities/transform/rules';
import { DEFAULT_CHUNK_ROWS } from '../../workflows/types';

/** A temporary directory; in memory (/dev/shm) when the machine has one, as DuckDB syncs its file on every load. */
export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(path.join(base, `orders-etl-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A record given as the exact text a source sent (e.g. numbers a double would change, or a line that is not JSON). */
export class SourceText {
  constructor(readonly text: string) {}
}

/** The text a source would send for a test record: a SourceText as is, any other value as JSON. */
export const sourceText = (record: unknown): string => (record instanceof SourceText ? record.text : (JSON.stringify(record) ?? 'null'));

/** Writes raw pages as the extract does: one encoded record text a line, `pageSize` records a page. Returns the page count. */
export async function writeRawPages(lake: Lake, loadId: string, records: unknown[], pageSize = 100): Promise<number> {
  let pages = 0;
  for (let start = 0; start < records.length; start += pageSize) {
    const body = records.slice(start, start + pageSize).map((r) => encodeRawLine(sourceText(r))).join('\n') + '\n';
    pages += 1;
    await lake.put(rawPageKey(rawPrefix(loadId), pages), body);
  }
  return pages;
}

/**
 * Rows of one table as a DuckDB warehouse holds them, in the form the tests write expectations in: timestamps
 * `YYYY-MM-DD HH:MM:SS.ffffff`, dates and decimals as text, in key order (rejections: by order, line, reason, record).
 */
export async function readTable(warehouse: DuckDbWarehouse, table: TableName, where = 'TRUE'): Promise<Row[]> {
  const cols = TABLES[table].columns.map(({ name, type }) =>
    type === 'timestamp' ? `strftime(${name}, '%Y-%m-%d %H:%M:%S.%f') AS ${name}` : type === 'money' || type === 'date' ? `CAST(${name} AS VARCHAR) AS ${name}` : name,
  );
  const key = table === 'rejected_records' ? ['order_id', 'line_number', 'reason', 'record'] : TABLES[table].key;
  return warehouse.query(`SELECT ${cols.join(', ')} FROM ${table} WHERE ${where} ORDER BY ${key.map((k) => `${k} NULLS FIRST`).join(', ')}`);
}

/** The reference files' texts (none: no file), streamed into the stage as a run's files are. */
export interface Reference {
  usersCsv: string;
  productsCsv: string;
  /** Reference rows per staged part (the stage's default when absent). */
  chunkRows?: number;
}

export const reference = (usersCsv = '', productsCsv = '', chunkRows?: number): Reference => ({ usersCsv, productsCsv, chunkRows });

async function* streamed<T>(csv: string, read: (input: Readable) => AsyncIterable<T>): AsyncGenerator<T> {
  if (csv) yield* read(Readable.from([Buffer.from(csv)]));
}

export interface RunOptions {
  lake: LocalLake;
  loadId: string;
  records: unknown[];
  reference?: Reference;
  pageSize?: number;
  chunkRows?: number;
  rejectedAt?: string;
  /** Default: the tests' clock, years after their records. */
  notAfter?: string;
}

/** The latest believable created_at of the tests unless they say otherwise. */
export const TEST_NOT_AFTER = '2030-01-01T00:00:00.000Z';

export async function runTransform(o: RunOptions): Promise<TransformResult> {
  const pages = await writeRawPages(o.lake, o.loadId, o.records, o.pageSize);
  return transformOrders(
    {
      loadId: o.loadId,
      partition: 0,
      raw: { prefix: rawPrefix(o.loadId), pages, verbatim: false, base: 0 },
      rejectedAt: o.rejectedAt ?? '2025-10-05T08:00:00.000Z',
      chunkRows: o.chunkRows ?? DEFAULT_CHUNK_ROWS,
      notAfter: o.notAfter ?? TEST_NOT_AFTER,
    },
    o.lake,
    () => undefined,
  );
}

/** The counts a run reports (PipelineResult's), from what the transform staged and the load resolved. */
export interface RunCounts {
  extracted: number;
  duplicates: number;
  rejectedOrders: number;
  rejectedItems: number;
  /** Latest versions of this load (loaded, or kept out by a newer stored version). */
  orders: number;
  lines: number;
  /** Rows of rejected_records this load wrote, by reason. */
  rejectedByReason: Partial<Record<RejectReason, number>>;
}

export interface LoadRun {
  transform: TransformResult;
  stage: StageResult;
  outcome: LoadResult;
  counts: RunCounts;
}

export type LoadOptions = RunOptions & { warehouse: DuckDbWarehouse; startedAt?: string; since?: string | null; until?: string | null; quality?: QualityGates; pipelineId?: string };

/** transform → stage: everything before the warehouse, which does not depend on its state. */
export async function prepareLoad(o: LoadOptions): Promise<{ transform: TransformResult; stage: StageResult }> {
  const startedAt = o.startedAt ?? o.rejectedAt ?? '2025-10-05T08:00:00.000Z';
  const transform = await runTransform({ ...o, rejectedAt: o.rejectedAt ?? startedAt });
  const { usersCsv, productsCsv, chunkRows } = o.reference ?? reference();
  const [users, products] = [streamed(usersCsv, streamUsersCsv), streamed(productsCsv, streamProductsCsv)];
  const referenceParts = await stageReference({ loadId: o.loadId, users, products, chunkRows }, o.lake, () => undefined);
  const stage = await stageLoad({ loadId: o.loadId, parts: [...transform.parts, ...referenceParts] }, o.lake, () => undefined);
  return { transform, stage };
}

/** The load, with the bookkeeping the workflow builds. */
export async function loadPrepared(o: LoadOptions, prepared: { transform: TransformResult; stage: StageResult }): Promise<LoadRun> {
  const { transform, stage } = prepared;
  const { counts } = transform;
  const outcome = await o.warehouse.load(
    {
      lake: o.lake,
      manifests: stage.manifests,
      bookkeeping: loadBookkeeping(
        { loadId: o.loadId, pipelineId: o.pipelineId ?? 'test-pipeline', source: '/data/orders.json', startedAt: o.startedAt ?? o.rejectedAt ?? '2025-10-05T08:00:00.000Z', since: o.since, until: o.until },
        [transform],
      ),
      fields: transform.fields,
      quality: o.quality,
    },
    () => undefined,
  );
  const reasons = await o.warehouse.query(`SELECT reason, COUNT(*) AS n FROM rejected_records WHERE load_id = ${sqlLiteral(o.loadId)} GROUP BY reason`);
  return {
    transform,
    stage,
    outcome,
    counts: {
      extracted: counts.extracted,
      duplicates: outcome.duplicates,
      rejectedOrders: counts.rejectedOrders,
      rejectedItems: outcome.rejectedItems,
      orders: outcome.ordersLoaded + outcome.ordersKept,
      lines: outcome.linesLoaded,
      rejectedByReason: Object.fromEntries(reasons.map((r) => [r.reason, Number(r.n)])),
    },
  };
}

/** transform → stage → load, as the workflow chains them. */
export async function runLoad(o: LoadOptions): Promise<LoadRun> {
  return loadPrepared(o, await prepareLoad(o));
}

/** Every column as text (exact decimals, UTC timestamps) but doubles, rows in key order: a table dump to compare. */
export function dumpSql(table: TableName, orderBy: string, from: string = table): string {
  // Doubles stay numbers: their text differs between engines (DuckDB's `1.0`, PostgreSQL's `1`).
  const cols = TABLES[table].columns.map(({ name, type }) => (type === 'double' ? sqlName(name) : `CAST(${sqlName(name)} AS VARCHAR) AS ${sqlName(name)}`));
  return `SELECT ${cols.join(', ')} FROM ${from} ORDER BY ${orderBy}`;
}

export const STAR_KEYS: [TableName, string][] = [
  ['fact_sales', 'order_id, line_number'],
  ['dim_order', 'order_id'],
  ['dim_user', 'user_id'],
  ['dim_product', 'sku'],
];

export async function dumpStar(warehouse: DuckDbWarehouse): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {};
  for (const [table, key] of STAR_KEYS) out[table] = await warehouse.query(dumpSql(table, key));
  return out;
}
