import type { TableName } from './schema';

/**
 * The lake's layout, in one place: every key the pipeline writes or reads is built here. Each zone keeps a
 * load under its own prefix, so loads never mix and a retry rewrites only its own files.
 *
 *   raw/<loadId>/pNNNN/page-NNNNNN.jsonl            extract: a partition's source pages, as received
 *   staged/<loadId>/<table>/pNNNN-NNNNNN.parquet    transform: a partition's Parquet parts, a chunk each
 *   staged/<loadId>/<table>/reference-NNNNNN.parquet  stage: the reference rows of dim_user / dim_product, a chunk each
 *   staged/<loadId>/<table>.manifest                stage: the COPY manifest naming all of a table's parts
 */

/** Partition numbers have four digits, page and part numbers six, so keys sort in their order. */
const sequence = (n: number, digits = 6): string => String(n).padStart(digits, '0');

/** The raw pages of one partition of a load. */
export const rawPrefix = (loadId: string, partition = 0): string => `raw/${loadId}/p${sequence(partition, 4)}/`;

/** A raw page under the raw prefix the extract reported. */
export const rawPageKey = (prefix: string, page: number): string => `${prefix}page-${sequence(page)}.jsonl`;

const stagedPrefix = (loadId: string): string => `staged/${loadId}/`;

/** One chunk's Parquet part of a table, written by a partition's transform. */
export const stagedPartKey = (loadId: string, table: TableName, partition: number, part: number): string =>
  `${stagedPrefix(loadId)}${table}/p${sequence(partition, 4)}-${sequence(part)}.parquet`;

/** A chunk of the reference rows (users, products files) of a dimension, or an empty part of a table nothing else filled. */
export const stagedReferenceKey = (loadId: string, table: TableName, part = 1): string => `${stagedPrefix(loadId)}${table}/reference-${sequence(part)}.parquet`;

export const stagedManifestKey = (loadId: string, table: TableName): string => `${stagedPrefix(loadId)}${table}.manifest`;

/** A staged Parquet file: what a manifest lists. */
export interface StagedPart {
  table: TableName;
  key: string;
  bytes: number;
  rows: number;
}

/** A COPY manifest: exactly this load's files, with the content length Redshift needs for Parquet. */
export interface CopyManifest {
  entries: { url: string; mandatory: true; meta: { content_length: number } }[];
}
