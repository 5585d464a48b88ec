import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Lake } from '../lake';
import { STAGED_TABLES, TABLES, sqlType, type Column, type TableName } from '../../core/schema';
import { stagedFileKey, stagedManifestKey, tablePartsPrefix, type CopyManifest } from '../../core/lake-layout';
import { sqlLiteral } from '../../core/sql';

/**
 * Parquet as Redshift's COPY wants it: the DDL's column order, timestamps INT64 TIMESTAMP_MICROS adjusted to
 * UTC (never nanoseconds), DECIMAL(18,2) read from exact decimal text, DATE, UTF-8 strings. DuckDB writes it:
 * its decimals come from the text, so no double ever sits between the feed and the file.
 */

export interface StageResult {
  /** Lake key of each table's manifest. */
  manifests: Record<string, string>;
  files: number;
  bytes: number;
  rows: Record<string, number>;
}

/** How one column is written: timestamps as TIMESTAMPTZ, which Parquet marks isAdjustedToUTC. */
function parquetExpression(column: Column): string {
  return column.type === 'timestamp' ? `CAST(${column.name} AS TIMESTAMPTZ) AS ${column.name}` : column.name;
}

export function parquetSelect(table: TableName, jsonFiles: string[]): string {
  const columns = TABLES[table].columns;
  const select = columns.map(parquetExpression).join(', ');
  if (jsonFiles.length === 0) {
    return `SELECT ${columns.map((c) => `CAST(NULL AS ${sqlType('duckdb', c.type)}) AS ${c.name}`).join(', ')} LIMIT 0`;
  }
  const types = columns.map((c) => `${c.name}: ${sqlLiteral(sqlType('duckdb', c.type))}`).join(', ');
  return `SELECT ${select} FROM read_json([${jsonFiles.map(sqlLiteral).join(', ')}], format = 'newline_delimited', columns = {${types}})`;
}

/** Converts each table's JSONL parts into one Parquet file and writes its manifest. */
export async function stageTables(
  loadId: string,
  tablesPrefix: string,
  lake: Lake,
  heartbeat: (table: string) => void,
): Promise<StageResult> {
  const work = await mkdtemp(path.join(tmpdir(), 'orders-etl-stage-'));
  const db = await DuckDBInstance.create(':memory:', { memory_limit: '1GB', temp_directory: work });
  const connection = await db.connect();
  const result: StageResult = { manifests: {}, files: 0, bytes: 0, rows: {} };
  try {
    // TIMESTAMP → TIMESTAMPTZ casts use the session time zone, which DuckDB takes from the machine: pin it to UTC.
    await connection.run("SET TimeZone = 'UTC'");
    for (const table of STAGED_TABLES) {
      heartbeat(table);
      const parts = await lake.list(tablePartsPrefix(tablesPrefix, table));
      const local: string[] = [];
      for (const part of parts) local.push(await lake.localFile(part.key, work));
      const parquet = path.join(work, `${table}.parquet`);
      const copied = await connection.runAndReadAll(
        `COPY (${parquetSelect(table, local)}) TO ${sqlLiteral(parquet)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
      );
      result.rows[table] = Number(copied.getRows()[0]?.[0] ?? 0);
      const key = stagedFileKey(loadId, table);
      await lake.putFile(key, parquet);
      const size = (await stat(parquet)).size;
      const manifest: CopyManifest = { entries: [{ url: lake.uri(key), mandatory: true, meta: { content_length: size } }] };
      const manifestKey = stagedManifestKey(loadId, table);
      await lake.put(manifestKey, JSON.stringify(manifest, null, 2));
      result.manifests[table] = manifestKey;
      result.files += 1;
      result.bytes += size;
    }
  } finally {
    connection.closeSync();
    db.closeSync();
    await rm(work, { recursive: true, force: true });
  }
  return result;
}
