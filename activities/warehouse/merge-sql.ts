import { TABLES, columnNames, type TableName } from '../../core/schema';
import { sqlLiteral, timestampLiteral } from '../../core/sql';
import type { LoadBookkeeping } from './warehouse';

/**
 * The merge of contract §4.6, as plain SQL both DuckDB and Redshift run, over staging tables `stg_<table>`
 * that hold exactly one load: every valid version of its orders, from all of its partitions, each with its
 * stream position. It runs inside the load's single transaction.
 *
 * `stg_latest` resolves the versions (§4.2): per order, the later created_at wins, and on a tie the later stream
 * position. Because the position is the record's place in the whole stream, the result is the same however the
 * stream was split into partitions and in whatever order they finished. `wins` says whether that version also
 * beats the stored one (ties go to the load: latest version wins).
 */

export const stagingTable = (table: TableName): string => `stg_${table}`;

/** The staged rows of the latest versions (stg_latest as `l`). */
const OF_LATEST = 'JOIN stg_latest l ON l.order_id = s.order_id AND l.stream_position = s.stream_position';

function insertLatest(table: 'dim_order' | 'fact_sales'): string {
  const cols = columnNames(table);
  return `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${cols.map((c) => `s.${c}`).join(', ')} FROM ${stagingTable(table)} s ${OF_LATEST} WHERE l.wins`;
}

/**
 * A dimension: reference rows replace stored ones (of an id the file repeats, its last line's row); ids the latest
 * versions use that neither the reference nor the table has become inferred members (all other columns NULL).
 */
function mergeDimension(table: 'dim_user' | 'dim_product', key: string, used: string): string[] {
  const cols = columnNames(table);
  const nulls = cols.map((c) => (c === key ? `u.${key}` : c === 'is_inferred' ? 'TRUE' : 'NULL'));
  const absent = (from: string) => `NOT EXISTS (SELECT 1 FROM ${from} t WHERE t.${key} = u.${key})`;
  // Each id's last line by a grouped MAX and a join, which spill to disk, rather than a window, which did not.
  const lastLines =
    `${stagingTable(table)} s JOIN (SELECT ${key}, MAX(source_line) AS last_line FROM ${stagingTable(table)} GROUP BY ${key}) l ` +
    `ON l.${key} = s.${key} AND l.last_line = s.source_line`;
  return [
    `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${stagingTable(table)})`,
    `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${cols.map((c) => `s.${c}`).join(', ')} FROM ${lastLines} UNION ALL ` +
      `SELECT ${nulls.join(', ')} FROM (SELECT DISTINCT ${key} FROM (${used}) v) u WHERE ${absent(table)} AND ${absent(stagingTable(table))}`,
  ];
}

/**
 * The statements of one load, in order. `finishedAt` is the SQL expression that stamps the load's row in etl_loads:
 * a timestamp literal, or the database clock.
 */
export function mergeStatements(b: LoadBookkeeping, finishedAt: string): string[] {
  const winners = 'SELECT order_id FROM stg_latest WHERE wins';
  const loadId = sqlLiteral(b.loadId);
  const count = (from: string) => `(SELECT COUNT(*) FROM ${from})`;
  return [
    `CREATE TEMP TABLE stg_latest AS SELECT v.order_id, v.stream_position, v.user_id, (d.order_id IS NULL OR v.created_at >= d.created_at) AS wins ` +
      `FROM (SELECT order_id, stream_position, user_id, created_at, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY created_at DESC, stream_position DESC) AS version_rank ` +
      `FROM ${stagingTable('dim_order')}) v LEFT JOIN dim_order d ON d.order_id = v.order_id WHERE v.version_rank = 1`,
    `DELETE FROM fact_sales WHERE order_id IN (${winners})`,
    `DELETE FROM dim_order WHERE order_id IN (${winners})`,
    insertLatest('dim_order'),
    insertLatest('fact_sales'),
    ...mergeDimension('dim_user', 'user_id', 'SELECT user_id FROM stg_latest'),
    ...mergeDimension('dim_product', 'sku', `SELECT s.sku FROM ${stagingTable('fact_sales')} s ${OF_LATEST}`),
    `DELETE FROM rejected_records WHERE load_id = ${loadId}`,
    `INSERT INTO rejected_records (${columnNames('rejected_records').join(', ')}) SELECT ${columnNames('rejected_records').map((c) => `s.${c}`).join(', ')} ` +
      `FROM ${stagingTable('rejected_records')} s WHERE s.stream_position IS NULL ` +
      `OR EXISTS (SELECT 1 FROM stg_latest l WHERE l.order_id = s.order_id AND l.stream_position = s.stream_position)`,
    `DELETE FROM etl_loads WHERE load_id = ${loadId}`,
    `INSERT INTO etl_loads (${columnNames('etl_loads').join(', ')}) SELECT ${[
      loadId,
      sqlLiteral(b.pipelineId),
      sqlLiteral(b.source),
      timestampLiteral(b.startedAt),
      finishedAt,
      timestampLiteral(b.sinceTs),
      timestampLiteral(b.untilTs),
      timestampLiteral(b.watermark),
      b.extracted,
      `${count(stagingTable('dim_order'))} - ${count('stg_latest')}`,
      b.rejectedOrders,
      count(`${stagingTable('rejected_records')} s ${OF_LATEST}`),
      count('stg_latest WHERE wins'),
      count('stg_latest WHERE NOT wins'),
      count(`${stagingTable('fact_sales')} s ${OF_LATEST} WHERE l.wins`),
    ].join(', ')}`,
  ];
}

/** What a load resolved and applied, read back from its etl_loads row (one row: the LoadOutcome's fields). */
export const outcomeQuery = (loadId: string): string =>
  `SELECT orders_loaded, orders_kept, lines_loaded, duplicates, rejected_items FROM etl_loads WHERE load_id = ${sqlLiteral(loadId)}`;

/** outcomeQuery's row as a LoadOutcome. */
export function outcomeOf(row: readonly unknown[]): { ordersLoaded: number; ordersKept: number; linesLoaded: number; duplicates: number; rejectedItems: number } {
  const [ordersLoaded, ordersKept, linesLoaded, duplicates, rejectedItems] = row.map(Number);
  return { ordersLoaded, ordersKept, linesLoaded, duplicates, rejectedItems };
}

/**
 * Reconciliation (§4.7), read back from staging and etl_loads: every extracted record is a loaded or kept
 * order, a duplicate or a rejection, staging holds exactly what the transforms produced, and no key is doubled. One
 * row, one column `problem`: NULL when it adds up, else what does not.
 */
export function reconciliationQuery(b: LoadBookkeeping): string {
  // Only the orders this load wrote can have gained a duplicate: the check stays cheap on a large warehouse.
  const duplicateKeys = (table: TableName) => {
    const key = TABLES[table].key.join(', ');
    return `(SELECT COUNT(*) FROM (SELECT ${key} FROM ${table} WHERE order_id IN (SELECT order_id FROM stg_latest WHERE wins) GROUP BY ${key} HAVING COUNT(*) > 1) d) <> 0`;
  };
  return `SELECT CASE
  WHEN ${duplicateKeys('dim_order')} THEN 'dim_order has a duplicate order_id'
  WHEN ${duplicateKeys('fact_sales')} THEN 'fact_sales has a duplicate (order_id, line_number)'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('dim_order')}) <> ${b.versions} THEN 'staged orders differ from the transform''s ${b.versions}'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('fact_sales')}) <> ${b.versionLines} THEN 'staged lines differ from the transform''s ${b.versionLines}'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('rejected_records')}) <> ${b.rejectedOrders + b.itemRejections} THEN 'staged rejections differ from the transform''s ${b.rejectedOrders + b.itemRejections}'
  WHEN (SELECT extracted - orders_loaded - orders_kept - duplicates - rejected_orders FROM etl_loads WHERE load_id = ${sqlLiteral(b.loadId)}) <> 0
    THEN 'extracted <> orders loaded + kept + duplicates + rejected orders'
  END AS problem`;
}
