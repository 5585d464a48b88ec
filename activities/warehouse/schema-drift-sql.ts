import { columnNames } from '../../core/schema';
import { comparedType, NO_SCHEMA_CHANGES, MAX_REPORTED_SCHEMA_CHANGES, type ObservedFields, type SchemaChangeKind, type SchemaChanges } from '../../core/schema-drift';
import { sqlLiteral } from '../../core/sql';
import type { LoadBookkeeping } from '../../core/load-counts';
import type { Row } from './warehouse';

/**
 * Schema drift, as plain SQL DuckDB and Redshift both run inside the load's one transaction, after the merge (so
 * after the load's etl_loads row, whose finished_at stamps the changes):
 *
 * 1. schema_fields gets the paths this load saw (core/schema-drift), one row each, with the type it is
 *    compared by (`comparedType`), whether null was seen too, and in how many records.
 * 2. schema_changes gets what differs from the previous load: the last committed load of the same pipeline that
 *    recorded fields (a load that saw no record records none and is never a previous load). A path only in this
 *    load is `added`, only in the previous one `removed`, in both with another type `type_changed`. The first
 *    load has no previous one: it records its fields and reports no change.
 *
 * A truncated set (beyond the cap) lacks the paths after its last: then no path is called removed (when this load
 * is truncated) or added (when the previous one was), as the cut, not the feed, may have dropped it.
 *
 * Both statements insert only when the load has no rows there yet, so a load retried after its commit writes
 * nothing twice; the same load id always compares with the same previous load, as that one excludes itself.
 */

/**
 * A text literal that means the same in every engine: Redshift reads a backslash in a literal as an escape (it
 * doubles them in QUOTE_LITERAL), DuckDB and PostgreSQL as itself. A path is a feed's member names, so a backslash
 * is spelled CHR(92), which all three read alike.
 */
export function portableText(value: string): string {
  return value.split('\\').map(sqlLiteral).join(' || CHR(92) || ');
}

/** The previous load of `b`'s pipeline (see above): one row `load_id`, or none. */
function previousLoad(b: LoadBookkeeping): string {
  return (
    `(SELECT load_id FROM etl_loads WHERE pipeline_id = ${sqlLiteral(b.pipelineId)} AND load_id <> ${sqlLiteral(b.loadId)} ` +
    'AND load_id IN (SELECT load_id FROM schema_fields) ORDER BY finished_at DESC, load_id DESC LIMIT 1)'
  );
}

function insertFields(b: LoadBookkeeping, observed: ObservedFields): string {
  const loadId = sqlLiteral(b.loadId);
  const rows = observed.fields.map(({ path, types, records }, i) => {
    const values = [portableText(path), sqlLiteral(comparedType(types)), types.includes('null') ? 'TRUE' : 'FALSE', records];
    return i === 0 ? `SELECT ${values.map((v, k) => `${v} AS ${['path', 'json_type', 'nullable', 'records'][k]}`).join(', ')}` : `SELECT ${values.join(', ')}`;
  });
  return (
    `INSERT INTO schema_fields (${columnNames('schema_fields').join(', ')}) SELECT ${loadId}, f.path, f.json_type, f.nullable, f.records, ${observed.truncated ? 'TRUE' : 'FALSE'} ` +
    `FROM (${rows.join(' UNION ALL ')}) f WHERE NOT EXISTS (SELECT 1 FROM schema_fields s WHERE s.load_id = ${loadId})`
  );
}

function insertChanges(b: LoadBookkeeping, observed: ObservedFields): string {
  const loadId = sqlLiteral(b.loadId);
  const ofPrevious = `schema_fields f JOIN ${previousLoad(b)} pl ON pl.load_id = f.load_id`;
  const found = [
    "(d.change = 'added' AND d.previous_truncated = 0)",
    ...(observed.truncated ? [] : ["d.change = 'removed'"]),
    "(d.change = 'type_changed' AND d.old_type <> d.new_type)",
  ];
  return (
    `INSERT INTO schema_changes (${columnNames('schema_changes').join(', ')}) ` +
    `SELECT ${loadId}, d.path, d.change, d.old_type, d.new_type, d.previous_load_id, e.finished_at FROM (` +
    `SELECT COALESCE(c.path, p.path) AS path, CASE WHEN p.path IS NULL THEN 'added' WHEN c.path IS NULL THEN 'removed' ELSE 'type_changed' END AS change, ` +
    'p.json_type AS old_type, c.json_type AS new_type, prev.load_id AS previous_load_id, prev.truncated AS previous_truncated ' +
    `FROM (SELECT path, json_type FROM schema_fields WHERE load_id = ${loadId}) c ` +
    `FULL JOIN (SELECT f.path, f.json_type FROM ${ofPrevious}) p ON p.path = c.path ` +
    `CROSS JOIN (SELECT f.load_id, MAX(CASE WHEN f.truncated THEN 1 ELSE 0 END) AS truncated FROM ${ofPrevious} GROUP BY f.load_id) prev` +
    `) d CROSS JOIN (SELECT finished_at FROM etl_loads WHERE load_id = ${loadId}) e ` +
    `WHERE (${found.join(' OR ')}) AND NOT EXISTS (SELECT 1 FROM schema_changes s WHERE s.load_id = ${loadId})`
  );
}

/** The statements of a load's schema drift, after mergeStatements; none for a load whose records had no fields. */
export function schemaDriftStatements(b: LoadBookkeeping, observed: ObservedFields | undefined): string[] {
  if (!observed?.fields.length) return [];
  return [insertFields(b, observed), insertChanges(b, observed)];
}

/** A load's changes, read back after its commit: the first MAX_REPORTED_SCHEMA_CHANGES in path order, with the total. */
export const schemaChangesQuery = (loadId: string): string =>
  `SELECT path, change, old_type, new_type, previous_load_id, COUNT(*) OVER () AS total FROM schema_changes WHERE load_id = ${sqlLiteral(loadId)} ` +
  `ORDER BY path, change LIMIT ${MAX_REPORTED_SCHEMA_CHANGES}`;

/** schemaChangesQuery's rows as SchemaChanges. */
export function schemaChangesOf(rows: Row[]): SchemaChanges {
  if (!rows.length) return NO_SCHEMA_CHANGES;
  return {
    previousLoadId: String(rows[0].previous_load_id),
    total: Number(rows[0].total),
    changes: rows.map((r) => ({
      path: String(r.path),
      change: r.change as SchemaChangeKind,
      oldType: r.old_type === null ? null : String(r.old_type),
      newType: r.new_type === null ? null : String(r.new_type),
    })),
  };
}
