import type { TableName } from './schema';

/**
 * The lake's layout, in one place: every key the pipeline writes or reads is built here. Each zone keeps a
 * load under its own prefix, so loads never mix and a retry rewrites only its own files.
 *
 *   raw/<loadId>/page-NNNNNN.jsonl                extract: one source page a file, one record a line
 *   tables/<loadId>/<table>/part-NNNNNN.jsonl     transform: each table's rows in numbered parts
 *   staged/<loadId>/<table>/part-000001.parquet   stage: one Parquet file a table
 *   staged/<loadId>/<table>.manifest              stage: the COPY manifest that names it
 */

/** Page and part numbers have six digits, so keys sort in their order. */
const sequence = (n: number): string => String(n).padStart(6, '0');

export const rawPrefix = (loadId: string): string => `raw/${loadId}/`;

/** A raw page under the raw prefix the extract reported. */
export const rawPageKey = (prefix: string, page: number): string => `${prefix}page-${sequence(page)}.jsonl`;

export const tablesPrefix = (loadId: string): string => `tables/${loadId}/`;

/** The parts of one table under the tables prefix the transform reported. */
export const tablePartsPrefix = (prefix: string, table: TableName): string => `${prefix}${table}/`;

export const tablePartKey = (prefix: string, table: TableName, part: number): string => `${tablePartsPrefix(prefix, table)}part-${sequence(part)}.jsonl`;

const stagedPrefix = (loadId: string): string => `staged/${loadId}/`;

/** A table's one staged Parquet file. */
export const stagedFileKey = (loadId: string, table: TableName): string => `${stagedPrefix(loadId)}${table}/part-000001.parquet`;

export const stagedManifestKey = (loadId: string, table: TableName): string => `${stagedPrefix(loadId)}${table}.manifest`;

/** A COPY manifest: exactly this load's files, with the content length Redshift needs for Parquet. */
export interface CopyManifest {
  entries: { url: string; mandatory: true; meta: { content_length: number } }[];
}
