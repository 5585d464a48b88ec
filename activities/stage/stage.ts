import { stagedManifestKey, stagedReferenceKey, type CopyManifest, type StagedPart } from '../../core/lake-layout';
import { STAGED_TABLES, TABLES, type ReferenceLine, type TableName } from '../../core/schema';
import type { Lake } from '../lake';
import { ParquetPartWriter } from '../parquet/parquet-writer';
import { TableBuffer, type Value } from '../parquet/table-buffer';

/** A reference row: its columns' typed values (see transform/reference.ts). */
export type ReferenceRow = { readonly [column: string]: Value };

/**
 * The stage: after every partition's transform, one COPY manifest per table naming exactly this load's parts,
 * and the reference rows of the dimensions (the users and products files) as parts of their own, streamed a chunk
 * at a time. A table nothing filled gets an empty part, so every manifest lists a file with the table's columns.
 */

export interface StageInput {
  loadId: string;
  /** Every part the load's transforms wrote. */
  parts: StagedPart[];
  /** The reference files' rows, as they are read: repeated ids too (the merge keeps an id's last line). */
  users: AsyncIterable<ReferenceLine<ReferenceRow>>;
  products: AsyncIterable<ReferenceLine<ReferenceRow>>;
  /** Reference rows a part holds: bounds the stage's memory. */
  chunkRows?: number;
}

export interface StageResult {
  /** Lake key of each table's manifest. */
  manifests: Record<string, string>;
  files: number;
  bytes: number;
  rows: Record<string, number>;
}

const REFERENCE_CHUNK_ROWS = 100_000;

/** A dimension's reference rows as Parquet parts of `chunkRows` rows each (none for no rows). */
async function stageReference(table: TableName, lines: AsyncIterable<ReferenceLine<ReferenceRow>>, write: (buffer: TableBuffer, part: number) => Promise<StagedPart>, chunkRows: number): Promise<StagedPart[]> {
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

export async function stageLoad(input: StageInput, lake: Lake, heartbeat: (table: string) => void): Promise<StageResult> {
  const parts = [...input.parts];
  const writer = await ParquetPartWriter.open();
  try {
    const write = (table: TableName) => (buffer: TableBuffer, part: number) => {
      heartbeat(table);
      return writer.write(buffer, stagedReferenceKey(input.loadId, table, part), lake);
    };
    const reference: [TableName, AsyncIterable<ReferenceLine<ReferenceRow>>][] = [['dim_user', input.users], ['dim_product', input.products]];
    for (const [table, lines] of reference) parts.push(...(await stageReference(table, lines, write(table), input.chunkRows ?? REFERENCE_CHUNK_ROWS)));
    for (const table of STAGED_TABLES) {
      if (!parts.some((p) => p.table === table)) parts.push(await writer.write(new TableBuffer(table, 1), stagedReferenceKey(input.loadId, table), lake));
    }
  } finally {
    await writer.close();
  }
  const result: StageResult = { manifests: {}, files: 0, bytes: 0, rows: {} };
  for (const table of STAGED_TABLES) {
    const files = parts.filter((p) => p.table === table).sort((a, b) => a.key.localeCompare(b.key));
    const manifest: CopyManifest = { entries: files.map((p) => ({ url: lake.uri(p.key), mandatory: true, meta: { content_length: p.bytes } })) };
    const key = stagedManifestKey(input.loadId, table);
    await lake.put(key, JSON.stringify(manifest, null, 2));
    result.manifests[table] = key;
    result.files += files.length;
    result.bytes += files.reduce((sum, p) => sum + p.bytes, 0);
    result.rows[table] = files.reduce((sum, p) => sum + p.rows, 0);
  }
  return result;
}
