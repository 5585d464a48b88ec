import { inCheckOrder, QUALITY_CHECKS, QUALITY_CHECK_NAMES, VOLUME_MIN_HISTORY, type QualityCheckName, type QualityGates, type QualityLimits, type QualityOutcome, type QualityResult } from '../../core/quality';
import { columnNames, sqlName } from '../../core/schema';
import { sqlLiteral } from '../../core/sql';
import { stagingTable } from './merge-sql';
import type { LoadBookkeeping } from './warehouse';

/**
 * The quality checks of a load (core/quality.ts), as plain SQL both DuckDB and Redshift run inside the load's
 * transaction, after the merge and the reconciliation: each check reads what the load is about to commit (its
 * etl_loads row, the fact and dimension rows of the orders it wrote) and, for volume, the pipeline's earlier loads in
 * etl_loads, in the same transaction. Rates are doubles divided in SQL, so both engines compute the same bits.
 *
 * Each check is a named function giving a query of one row `observed`, or of none when the check cannot be measured
 * for this load (no history yet, no reference file).
 */

const DOUBLE = 'DOUBLE PRECISION';

/** The orders this load wrote (stg_latest: the merge's resolution of versions). */
const WRITTEN = 'SELECT order_id FROM stg_latest WHERE wins';

/** part ÷ whole as a double; 0 when there is no whole (nothing to be wrong about). */
const share = (part: string, whole: string) => `COALESCE(CAST(${part} AS ${DOUBLE}) / NULLIF(${whole}, 0), 0)`;

const countWhere = (condition: string) => `SUM(CASE WHEN ${condition} THEN 1 ELSE 0 END)`;

/** Records rejected whole ÷ records extracted, from the load's own etl_loads row. */
export function rejectionRate(b: LoadBookkeeping): string {
  return `SELECT ${share('rejected_orders', 'extracted')} AS observed FROM etl_loads WHERE load_id = ${sqlLiteral(b.loadId)}`;
}

/** Lines this load wrote without a unit price ÷ lines it wrote. */
export function nullPriceRate(): string {
  return `SELECT ${share(countWhere('unit_price IS NULL'), 'COUNT(*)')} AS observed FROM fact_sales WHERE order_id IN (${WRITTEN})`;
}

/**
 * Inferred members ÷ the dimension's rows this load's orders reference, after the merge; measured only when the load
 * brought that dimension's reference file (without one every member is inferred by design).
 */
function inferredRate(table: 'dim_user' | 'dim_product', key: string, referenced: string): string {
  return (
    `SELECT m.observed FROM (SELECT ${share(countWhere('is_inferred'), 'COUNT(*)')} AS observed FROM ${table} WHERE ${key} IN (${referenced})) m ` +
    `WHERE EXISTS (SELECT 1 FROM ${stagingTable(table)})`
  );
}

export function inferredUserRate(): string {
  return inferredRate('dim_user', 'user_id', `SELECT user_id FROM dim_order WHERE order_id IN (${WRITTEN})`);
}

export function inferredProductRate(): string {
  return inferredRate('dim_product', 'sku', `SELECT sku FROM fact_sales WHERE order_id IN (${WRITTEN})`);
}

/**
 * This load's records extracted ÷ the median of the pipeline's last `window` loads' (etl_loads, newest first; this
 * load excluded, so a retried load measures the same). Measured once there are VOLUME_MIN_HISTORY earlier loads (or
 * the whole window, when shorter) and their median is above 0.
 */
export function volumeRatio(b: LoadBookkeeping, window: number): string {
  const history =
    `SELECT extracted FROM (SELECT extracted, ROW_NUMBER() OVER (ORDER BY started_at DESC, load_id DESC) AS recency FROM etl_loads ` +
    `WHERE pipeline_id = ${sqlLiteral(b.pipelineId)} AND load_id <> ${sqlLiteral(b.loadId)}) h WHERE recency <= ${window}`;
  return (
    `SELECT CAST(e.extracted AS ${DOUBLE}) / m.median AS observed FROM etl_loads e, ` +
    `(SELECT CAST(PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY extracted) AS ${DOUBLE}) AS median, COUNT(*) AS loads FROM (${history}) h) m ` +
    `WHERE e.load_id = ${sqlLiteral(b.loadId)} AND m.loads >= ${Math.min(VOLUME_MIN_HISTORY, window)} AND m.median > 0`
  );
}

const MEASURES: Record<QualityCheckName, (b: LoadBookkeeping, gates: QualityGates) => string> = {
  rejection_rate: rejectionRate,
  volume_low: (b, gates) => volumeRatio(b, gates.volumeWindow),
  volume_high: (b, gates) => volumeRatio(b, gates.volumeWindow),
  null_price_rate: nullPriceRate,
  inferred_user_rate: inferredUserRate,
  inferred_product_rate: inferredProductRate,
};

const doubleLiteral = (value: number | null) => `CAST(${sqlLiteral(value)} AS ${DOUBLE})`;

/**
 * The judgement of `observed` against a check's limits: `outcome` (fail when beyond `fail`, else warn when beyond
 * `warn`, else pass; a value exactly at a limit passes it) and `threshold`, the limit that decided.
 */
export function judgementSql(name: QualityCheckName, observed: string, { warn, fail }: QualityLimits): { outcome: string; threshold: string } {
  const beyond = (limit: number) => `${observed} ${QUALITY_CHECKS[name].bad === 'above' ? '>' : '<'} ${doubleLiteral(limit)}`;
  const levels = ([['fail', fail], ['warn', warn]] as const).filter((level): level is ['fail' | 'warn', number] => level[1] !== null);
  const held = doubleLiteral(warn ?? fail);
  if (levels.length === 0) return { outcome: "'pass'", threshold: held };
  const whens = (value: (outcome: 'fail' | 'warn', limit: number) => string) => levels.map(([outcome, limit]) => `WHEN ${beyond(limit)} THEN ${value(outcome, limit)}`).join(' ');
  return {
    outcome: `CASE ${whens((outcome) => `'${outcome}'`)} ELSE 'pass' END`,
    threshold: `CASE ${whens((_, limit) => doubleLiteral(limit))} ELSE ${held} END`,
  };
}

/** The load's checks, judged: rows `load_id, check, observed, threshold, outcome` (a check not measured has none). */
export function qualityChecksQuery(b: LoadBookkeeping, gates: QualityGates): string {
  return QUALITY_CHECK_NAMES.map((name) => {
    const { outcome, threshold } = judgementSql(name, 'q.observed', gates.checks[name] ?? { warn: null, fail: null });
    return `SELECT ${sqlLiteral(b.loadId)} AS load_id, ${sqlLiteral(name)} AS ${sqlName('check')}, q.observed, ${threshold} AS threshold, ${outcome} AS outcome FROM (${MEASURES[name](b, gates)}) q`;
  }).join(' UNION ALL ');
}

/**
 * Records the load's checks in quality_checks, measuring them in the statement (Redshift's single batch cannot read
 * them first). It refuses a failed check itself: its cast of a text fails (`Could not convert…` / `Invalid digit…`),
 * which is what rolls the batch back. A load run again (a retry after its COMMIT) keeps the rows it has: the checks
 * measure the same.
 */
export function insertQualityChecks(b: LoadBookkeeping, gates: QualityGates): string {
  const cols = columnNames('quality_checks').map(sqlName);
  return (
    `INSERT INTO quality_checks (${cols.join(', ')}) SELECT ${cols.map((c) => `q.${c}`).join(', ')} FROM (${qualityChecksQuery(b, gates)}) q ` +
    `WHERE CAST(CASE WHEN q.outcome = 'fail' THEN 'quality gate failed' ELSE '0' END AS INTEGER) = 0 ` +
    `AND NOT EXISTS (SELECT 1 FROM quality_checks c WHERE c.load_id = ${sqlLiteral(b.loadId)})`
  );
}

/**
 * Records checks already measured and judged (DuckDB's: it reads them before this, within the same transaction), as
 * literals rather than by measuring again. Like insertQualityChecks, a load run again keeps the rows it has.
 */
export function insertQualityResults(loadId: string, results: readonly QualityResult[]): string {
  const cols = columnNames('quality_checks').map(sqlName);
  const rows = results.map((r) => `(${[sqlLiteral(loadId), sqlLiteral(r.check), doubleLiteral(r.observed), doubleLiteral(r.threshold), sqlLiteral(r.outcome)].join(', ')})`);
  return (
    `INSERT INTO quality_checks (${cols.join(', ')}) SELECT * FROM (VALUES ${rows.join(', ')}) AS q (${cols.join(', ')}) ` +
    `WHERE NOT EXISTS (SELECT 1 FROM quality_checks c WHERE c.load_id = ${sqlLiteral(loadId)})`
  );
}

/** qualityChecksQuery's rows (as arrays of plain values) as results, in the checks' order. */
export function qualityResultsOf(rows: readonly (readonly unknown[])[]): QualityResult[] {
  return inCheckOrder(
    rows.map(([, check, observed, threshold, outcome]) => ({
      check: String(check),
      observed: Number(observed),
      threshold: threshold === null ? null : Number(threshold),
      outcome: outcome as QualityOutcome,
    })),
  );
}
