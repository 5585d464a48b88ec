import { stagedManifestKey, stagedReferenceKey, type CopyManifest, type StagedPart } from '../../core/lake-layout';
import { STAGED_TABLES, TABLES, type ReferenceLine, type TableName } from '../../core/schema';
import type { Lake } from '../lake';
import { ParquetPartWriter } from '../parquet/parquet-writer';
import { TableBuffer, type Value } from '../parquet/table-buffer';

/** A reference row: its columns' typed values (see transform/reference.ts). */
export type ReferenceRow = { readonly [column: string]: Value };

/**
 * The stage, in two parts. The reference rows of the dimensions (the users and products files) become Parquet parts
 * of their own, streamed a chunk at a time: they do not depend on the orders, so a run stages them while its
 * partitions are transformed. Then, with every part in, one COPY manifest per table names exactly this load's
 * parts; a table nothing filled gets an empty part, so every manifest lists a file with the table's columns.
 */

export interface ReferenceInput {
  loadId: string;
  /** The reference files' rows, as they are read: repeated ids too (the merge keeps an id's last line). */
  users: AsyncIterable<ReferenceLine<ReferenceRow>>;
  products: AsyncIterable<ReferenceLine<ReferenceRow>>;
  /** Reference rows a part holds: bounds the stage's memory. */
  chunkRows?: number;
}

export interface StageInput {
  loadId: string;
  /** Every part of the load: its transforms' and its reference files'. */
  parts: StagedPart[];
}

export interface StageResult {
  /** Lake key of each table's manifest. */
  manifests: Record<string, string>;
  files: number;
  bytes: number;
  rows: Record<string, number>;
}

// Small parts: the reference files are staged beside the partitions, when the worker holds the most.
const REFERENCE_CHUNK_ROWS = 25_000;

/** A dimension's reference rows as Parquet parts of `chunkRows` rows each (none for no rows). */
async function stageDimension(table: TableName, lines: AsyncIterable<ReferenceLine<ReferenceRow>>, write: (buffer: TableBuffer, part: number) => Promise<StagedPart>, chunkRows: number): Promise<StagedPart[]> {
  const parts: StagedPart[] = [];
  const names = TABLES[table].columns.map((c) => c.name);
  const values: Value[] = [];
  let buffer = new TableBuffer(table, chunkRows);
  for await (const { row, line } of lines) {
    names.forEach((name, i) => (values[i] = row[name] ?? null));
    values[names.length] = line; // source_line, the staging column after the table's own
    buffer.append(values);
    if (buffer.rows === chunkRows) {
      parts.push(await write(buffer, parts.length + 1));
      buffer = new TableBuffer(table, chunkRows);
    }
  }
  if (buffer.rows > 0) parts.push(await write(buffer, parts.length + 1));
  return parts;
}

/** The reference files' rows as parts of dim_user and dim_product. */
export async function stageReference(input: ReferenceInput, lake: Lake, heartbeat: (table: string) => void): Promise<StagedPart[]> {
  const parts: StagedPart[] = [];
  const writer = await ParquetPartWriter.open();
  try {
    const write = (table: TableName) => (buffer: TableBuffer, part: number) => {
      heartbeat(table);
      return writer.write(buffer, stagedReferenceKey(input.loadId, table, part), lake);
    };
    const reference: [TableName, AsyncIterable<ReferenceLine<ReferenceRow>>][] = [['dim_user', input.users], ['dim_product', input.products]];
    for (const [table, lines] of reference) parts.push(...(await stageDimension(table, lines, write(table), input.chunkRows ?? REFERENCE_CHUNK_ROWS)));
  } finally {
    await writer.close();
  }
  return parts;
}

/** A manifest per table naming the load's parts (an empty part for a table that has none). */
export async function stageLoad(input: StageInput, lake: Lake, heartbeat: (table: string) => void): Promise<StageResult> {
  const parts = [...input.parts];
  const result: StageResult = { manifests: {}, files: 0, bytes: 0, rows: {} };
  let writer: ParquetPartWriter | undefined; // only for empty parts
  try {
    for (const table of STAGED_TABLES) {
      heartbeat(table);
      if (!parts.some((p) => p.table === table)) {
        writer ??= await ParquetPartWriter.open();
        parts.push(await writer.write(new TableBuffer(table, 1), stagedReferenceKey(input.loadId, table), lake));
      }
      const files = parts.filter((p) => p.table === table).sort((a, b) => a.key.localeCompare(b.key));
      const manifest: CopyManifest = { entries: files.map((p) => ({ url: lake.uri(p.key), mandatory: true, meta: { content_length: p.bytes } })) };
      const key = stagedManifestKey(input.loadId, table);
      await lake.put(key, JSON.stringify(manifest, null, 2));
      result.manifests[table] = key;
      result.files += files.length;
      result.bytes += files.reduce((sum, p) => sum + p.bytes, 0);
      result.rows[table] = files.reduce((sum, p) => sum + p.rows, 0);
    }
  } finally {
    await writer?.close();
  }
  return result;
}
