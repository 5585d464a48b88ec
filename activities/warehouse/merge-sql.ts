import { TABLES, columnNames, type TableName } from '../../core/schema';
import { sqlLiteral, timestampLiteral } from '../../core/sql';
import type { LoadBookkeeping } from './warehouse';

/**
 * The merge of contract §4.6, as plain SQL both DuckDB and Redshift run, over staging tables `stg_<table>`
 * that hold exactly one load. It runs inside the load's single transaction.
 */

export const stagingTable = (table: TableName): string => `stg_${table}`;

function insertFromStaging(table: TableName, where: string): string {
  const cols = columnNames(table).join(', ');
  return `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM ${stagingTable(table)} s WHERE ${where}`;
}

/** A dimension: reference rows replace stored ones; inferred members only fill ids the table lacks. */
function mergeDimension(table: 'dim_user' | 'dim_product', key: string): string[] {
  return [
    `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${stagingTable(table)} WHERE NOT is_inferred)`,
    insertFromStaging(table, `NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.${key} = s.${key})`),
  ];
}

/** The statements of one load, in order. `finishedAt` stamps the load's row in etl_loads. */
export function mergeStatements(b: LoadBookkeeping, finishedAt: string): string[] {
  const winners = 'SELECT order_id FROM stg_winners';
  const loadId = sqlLiteral(b.loadId);
  return [
    // An order's staged version wins unless the stored one is newer (ties go to the load: latest version wins).
    `CREATE TEMP TABLE stg_winners AS SELECT s.order_id FROM ${stagingTable('dim_order')} s ` +
      `LEFT JOIN dim_order d ON d.order_id = s.order_id WHERE d.order_id IS NULL OR s.created_at >= d.created_at`,
    `DELETE FROM fact_sales WHERE order_id IN (${winners})`,
    `DELETE FROM dim_order WHERE order_id IN (${winners})`,
    insertFromStaging('dim_order', `s.order_id IN (${winners})`),
    insertFromStaging('fact_sales', `s.order_id IN (${winners})`),
    ...mergeDimension('dim_user', 'user_id'),
    ...mergeDimension('dim_product', 'sku'),
    `DELETE FROM rejected_records WHERE load_id = ${loadId}`,
    insertFromStaging('rejected_records', 'TRUE'),
    `DELETE FROM etl_loads WHERE load_id = ${loadId}`,
    `INSERT INTO etl_loads (${columnNames('etl_loads').join(', ')}) SELECT ${[
      loadId,
      sqlLiteral(b.pipelineId),
      sqlLiteral(b.source),
      timestampLiteral(b.startedAt),
      timestampLiteral(finishedAt),
      timestampLiteral(b.sinceTs),
      timestampLiteral(b.untilTs),
      timestampLiteral(b.watermark),
      b.extracted,
      b.duplicates,
      b.rejectedOrders,
      b.rejectedItems,
      `(SELECT COUNT(*) FROM stg_winners)`,
      `(SELECT COUNT(*) FROM ${stagingTable('dim_order')}) - (SELECT COUNT(*) FROM stg_winners)`,
      `(SELECT COUNT(*) FROM ${stagingTable('fact_sales')} WHERE order_id IN (${winners}))`,
    ].join(', ')}`,
  ];
}

/**
 * Reconciliation (§4.7), read back from staging and etl_loads: every extracted record is a loaded or kept
 * order, a duplicate or a rejection, staging holds exactly what the transform produced, and no key is doubled. One row, one
 * column `problem`: NULL when it adds up, else what does not.
 */
export function reconciliationQuery(b: LoadBookkeeping): string {
  // Only the orders this load wrote can have gained a duplicate: the check stays cheap on a large warehouse.
  const duplicateKeys = (table: TableName) => {
    const key = TABLES[table].key.join(', ');
    return `(SELECT COUNT(*) FROM (SELECT ${key} FROM ${table} WHERE order_id IN (SELECT order_id FROM stg_winners) GROUP BY ${key} HAVING COUNT(*) > 1) d) <> 0`;
  };
  return `SELECT CASE
  WHEN ${duplicateKeys('dim_order')} THEN 'dim_order has a duplicate order_id'
  WHEN ${duplicateKeys('fact_sales')} THEN 'fact_sales has a duplicate (order_id, line_number)'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('dim_order')}) <> ${b.orders} THEN 'staged orders differ from the transform''s ${b.orders}'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('fact_sales')}) <> ${b.lines} THEN 'staged lines differ from the transform''s ${b.lines}'
  WHEN (SELECT COUNT(*) FROM ${stagingTable('rejected_records')}) <> ${b.rejectedOrders + b.rejectedItems} THEN 'staged rejections differ from the transform''s ${b.rejectedOrders + b.rejectedItems}'
  WHEN (SELECT extracted - orders_loaded - orders_kept - duplicates - rejected_orders FROM etl_loads WHERE load_id = ${sqlLiteral(b.loadId)}) <> 0
    THEN 'extracted <> orders loaded + kept + duplicates + rejected orders'
  END AS problem`;
}
