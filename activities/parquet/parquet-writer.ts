import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import duckdb from '@duckdb/node-bindings';
import { BIGINT, BOOLEAN, DOUBLE, DuckDBDataChunk, DuckDBInstance, INTEGER, VARCHAR, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import type { ColumnType } from '../../core/schema';
import { sqlLiteral } from '../../core/sql';
import type { StagedPart } from '../../core/lake-layout';
import type { Lake } from '../lake';
import type * as aq from 'arquero';
import { DictionaryStrings, STRING_BYTES } from './duckdb-strings';
import { nullsColumn, type ColumnBuffer, type TableBuffer } from './table-buffer';

/**
 * Writes a chunk's typed columns as one Parquet part per table, through DuckDB: the columns are copied into it a
 * vector at a time (no value crosses one by one, short texts included: see DictionaryStrings), decoded there to the staged types, and written as Redshift's
 * COPY wants them: the DDL's column order, INT64 TIMESTAMP_MICROS adjusted to UTC, DECIMAL(18,2) from exact cents,
 * DATE, UTF-8; Snappy pages (cheaper to write and to read than zstd, and the codec every Parquet reader takes).
 * DuckDB's decimals come from integers of cents, so no double ever sits between the feed and the file.
 */

/** DuckDB's vector size: the most rows a data chunk holds. */
const VECTOR_SIZE = 2048;

/** The type each logical type crosses into DuckDB as (see TableBuffer's storage), and how SQL turns it into the staged type. */
const TRANSFER: Record<ColumnType, { type: DuckDBType; bytes: number; decode: (column: string) => string }> = {
  string: { type: VARCHAR, bytes: STRING_BYTES, decode: (c) => c }, // see DictionaryStrings
  text: { type: VARCHAR, bytes: STRING_BYTES, decode: (c) => c },
  int: { type: INTEGER, bytes: 4, decode: (c) => c },
  bigint: { type: DOUBLE, bytes: 8, decode: (c) => `CAST(${c} AS BIGINT)` },
  money: { type: BIGINT, bytes: 8, decode: (c) => `CAST(CAST(${c} AS DECIMAL(18,0)) * 0.01 AS DECIMAL(18,2))` },
  double: { type: DOUBLE, bytes: 8, decode: (c) => c },
  timestamp: { type: DOUBLE, bytes: 8, decode: (c) => `CAST(make_timestamp(CAST(${c} AS BIGINT)) AS TIMESTAMPTZ)` },
  date: { type: INTEGER, bytes: 4, decode: (c) => `CAST(DATE '1970-01-01' + ${c} AS DATE)` },
  boolean: { type: BOOLEAN, bytes: 1, decode: (c) => c },
};

/** Copies rows [start, start + count) of each staged column of `rows` into one data chunk. */
function dataChunk(buffer: TableBuffer, rows: aq.ColumnTable, strings: (DictionaryStrings | undefined)[], start: number, count: number): DuckDBDataChunk {
  const chunk = DuckDBDataChunk.create(buffer.columns.map((c) => TRANSFER[c.column.type].type), count);
  buffer.columns.forEach(({ column }, index) => {
    const vector = duckdb.data_chunk_get_vector(chunk.chunk, index);
    const values = rows.column(column.name) as unknown as ColumnBuffer['data'];
    const nulls = (rows.column(nullsColumn(column.name)) as unknown as Uint8Array).subarray(start, start + count);
    const texts = strings[index];
    if (texts) {
      texts.copyToVector(vector, values as Int32Array, nulls, start, count);
    } else {
      const { bytes } = TRANSFER[column.type];
      duckdb.copy_data_to_vector(vector, 0, values.buffer as ArrayBuffer, values.byteOffset + start * bytes, count * bytes);
    }
    if (nulls.includes(1)) {
      // DuckDB's validity mask: a bit per row, set when the row holds a value.
      const validity = new Uint8Array(Math.ceil(count / 64) * 8).fill(0xff);
      nulls.forEach((isNull, row) => {
        if (isNull) validity[row >> 3] &= ~(1 << (row & 7));
      });
      duckdb.vector_ensure_validity_writable(vector);
      duckdb.copy_data_to_vector_validity(vector, 0, validity.buffer, 0, validity.byteLength);
    }
  });
  return chunk;
}

async function appendRows(connection: DuckDBConnection, name: string, buffer: TableBuffer): Promise<void> {
  const rows = buffer.toTable();
  const strings = buffer.columns.map((c) => c.dictionary && new DictionaryStrings(c.dictionary));
  const appender = await connection.createAppender(name);
  for (let start = 0; start < buffer.rows; start += VECTOR_SIZE) appender.appendDataChunk(dataChunk(buffer, rows, strings, start, Math.min(VECTOR_SIZE, buffer.rows - start)));
  appender.closeSync();
}

/** The SELECT that decodes a buffered table into its staged columns, in order. */
function partSelect(table: TableBuffer): string {
  return `SELECT ${table.columns.map(({ column }, index) => `${TRANSFER[column.type].decode(`c${index}`)} AS ${column.name}`).join(', ')} FROM b`;
}

/** One DuckDB for a transform's parts; close it when done. */
export class ParquetPartWriter {
  private constructor(private readonly instance: DuckDBInstance, private readonly connection: DuckDBConnection, private readonly work: string) {}

  static async open(): Promise<ParquetPartWriter> {
    const work = await mkdtemp(path.join(tmpdir(), 'orders-etl-parts-'));
    // One thread: a writer serves one partition's transform, and partitions run side by side on the other cores.
    const instance = await DuckDBInstance.create(':memory:', { memory_limit: '256MB', threads: '1', temp_directory: work });
    const connection = await instance.connect();
    // TIMESTAMP → TIMESTAMPTZ casts use the session time zone, which DuckDB takes from the machine: pin it to UTC.
    await connection.run("SET TimeZone = 'UTC'");
    return new ParquetPartWriter(instance, connection, work);
  }

  /** Writes the buffered rows (none is a valid, empty part) to the lake under `key`. */
  async write(table: TableBuffer, key: string, lake: Lake): Promise<StagedPart> {
    const c = this.connection;
    const columns = table.columns.map((b, i) => `c${i} ${TRANSFER[b.column.type].type.toString()}`);
    await c.run(`CREATE OR REPLACE TABLE b (${columns.join(', ')})`);
    await appendRows(c, 'b', table);
    const file = path.join(this.work, 'part.parquet');
    await c.run(`COPY (${partSelect(table)}) TO ${sqlLiteral(file)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`);
    await lake.putFile(key, file);
    const { size } = await stat(file);
    await rm(file, { force: true });
    return { table: table.table, key, bytes: size, rows: table.rows };
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.work, { recursive: true, force: true });
  }
}
