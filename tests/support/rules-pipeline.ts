/**
 * Test helpers for the data-rule tests: the local pipeline without Temporal (raw pages → transform → stage →
 * DuckDB load), the way the workflow chains the activities, in temporary directories.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeRawLine } from '../../core/json';
import { rawPageKey, rawPrefix, tablePartsPrefix, tablesPrefix } from '../../core/lake-layout';
import { LocalLake } from '../../activities/lake/local-lake';
import type { Lake } from '../../activities/lake';
import { columnNames, type TableName } from '../../core/schema';
import { stageTables, type StageResult } from '../../activities/stage/parquet';
import { parseProductsCsv, parseUsersCsv, type ProductRow, type UserRow } from '../../activities/transform/reference';
import { transformOrders, type TransformResult } from '../../activities/transform/transform';
import { DuckDbWarehouse } from '../../activities/warehouse/duckdb-warehouse';
import type { LoadOutcome, Row } from '../../activities/warehouse/warehouse';

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

/** Rows of one table as the transform wrote them, part by part (part order kept). */
export async function readTableParts(lake: Lake, loadId: string, table: TableName): Promise<Row[][]> {
  const parts = await lake.list(tablePartsPrefix(tablesPrefix(loadId), table));
  const out: Row[][] = [];
  for (const part of parts) {
    const text = (await lake.get(part.key)).toString('utf8');
    out.push(text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Row));
  }
  return out;
}

export async function readTable(lake: Lake, loadId: string, table: TableName): Promise<Row[]> {
  return (await readTableParts(lake, loadId, table)).flat();
}

export interface Reference {
  users: UserRow[];
  products: ProductRow[];
}

export const reference = (usersCsv = '', productsCsv = ''): Reference => ({
  users: usersCsv ? parseUsersCsv(usersCsv) : [],
  products: productsCsv ? parseProductsCsv(productsCsv) : [],
});

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
    { loadId: o.loadId, rawPrefix: rawPrefix(o.loadId), pages, rejectedAt: o.rejectedAt ?? '2025-10-05T08:00:00.000Z', chunkRows: o.chunkRows ?? 50_000, notAfter: o.notAfter ?? TEST_NOT_AFTER },
    o.lake,
    o.reference ?? reference(),
    () => undefined,
  );
}

export interface LoadRun {
  transform: TransformResult;
  stage: StageResult;
  outcome: LoadOutcome;
}

export type LoadOptions = RunOptions & { warehouse: DuckDbWarehouse; startedAt?: string; since?: string | null; until?: string | null };

/** transform → stage: everything before the warehouse, which does not depend on its state. */
export async function prepareLoad(o: LoadOptions): Promise<{ transform: TransformResult; stage: StageResult }> {
  const startedAt = o.startedAt ?? o.rejectedAt ?? '2025-10-05T08:00:00.000Z';
  const transform = await runTransform({ ...o, rejectedAt: o.rejectedAt ?? startedAt });
  const stage = await stageTables(o.loadId, transform.tablesPrefix, o.lake, () => undefined);
  return { transform, stage };
}

/** The load, with the bookkeeping the workflow builds. */
export async function loadPrepared(o: LoadOptions, prepared: { transform: TransformResult; stage: StageResult }): Promise<LoadRun> {
  const { transform, stage } = prepared;
  const { rejectedByReason: _byReason, ...counts } = transform.counts;
  const outcome = await o.warehouse.load(
    {
      lake: o.lake,
      manifests: stage.manifests,
      bookkeeping: {
        loadId: o.loadId,
        pipelineId: 'test-pipeline',
        source: '/data/orders.json',
        startedAt: o.startedAt ?? o.rejectedAt ?? '2025-10-05T08:00:00.000Z',
        sinceTs: o.since ?? null,
        untilTs: o.until ?? null,
        watermark: transform.watermark,
        ...counts,
      },
    },
    () => undefined,
  );
  return { transform, stage, outcome };
}

/** transform → stage → load, as the workflow chains them. */
export async function runLoad(o: LoadOptions): Promise<LoadRun> {
  return loadPrepared(o, await prepareLoad(o));
}

/** Every column as text (exact decimals, UTC timestamps), rows in key order: a table dump to compare. */
export function dumpSql(table: TableName, orderBy: string, from: string = table): string {
  const cols = columnNames(table).map((c) => `CAST(${c} AS VARCHAR) AS ${c}`);
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
