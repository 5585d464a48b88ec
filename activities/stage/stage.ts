import { stagedManifestKey, stagedReferenceKey, type CopyManifest, type StagedPart } from '../../core/lake-layout';
import { STAGED_TABLES, type TableName } from '../../core/schema';
import type { Lake } from '../lake';
import { ParquetPartWriter } from '../parquet/parquet-writer';
import { TableBuffer, type Value } from '../parquet/table-buffer';

/** A reference row: its columns' typed values (see transform/reference.ts). */
export type ReferenceRow = { readonly [column: string]: Value };

/**
 * The stage: after every partition's transform, one COPY manifest per table naming exactly this load's parts,
 * and the reference rows of the dimensions (the users and products files) as their own part. A table nothing
 * filled gets an empty part, so every manifest lists a file with the table's columns.
 */

export interface StageInput {
  loadId: string;
  /** Every part the load's transforms wrote. */
  parts: StagedPart[];
  /** The reference files' rows. */
  users: readonly ReferenceRow[];
  products: readonly ReferenceRow[];
}

export interface StageResult {
  /** Lake key of each table's manifest. */
  manifests: Record<string, string>;
  files: number;
  bytes: number;
  rows: Record<string, number>;
}

function referenceTable(table: TableName, rows: readonly ReferenceRow[]): TableBuffer {
  const buffer = new TableBuffer(table, Math.max(rows.length, 1));
  const values: Value[] = [];
  for (const row of rows) {
    buffer.columns.forEach((c, i) => (values[i] = row[c.column.name] ?? null));
    buffer.append(values);
  }
  return buffer;
}

export async function stageLoad(input: StageInput, lake: Lake, heartbeat: (table: string) => void): Promise<StageResult> {
  const parts = [...input.parts];
  const writer = await ParquetPartWriter.open();
  try {
    const reference: [TableName, readonly ReferenceRow[]][] = [['dim_user', input.users], ['dim_product', input.products]];
    for (const [table, rows] of reference) {
      heartbeat(table);
      parts.push(await writer.write(referenceTable(table, rows), stagedReferenceKey(input.loadId, table), lake));
    }
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
