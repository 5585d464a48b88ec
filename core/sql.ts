import { formatTimestamp, parseIsoDateTime } from './time';

/**
 * SQL literals, shared by the stage (DuckDB's COPY to Parquet) and both warehouses (the merge, COPY, queries):
 * one quoting rule for every statement the pipeline writes.
 */

export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

/** An ISO instant as a UTC TIMESTAMP literal: a cast of the text would drop its offset (`+05:00`), not apply it. */
export function timestampLiteral(value: string | null): string {
  if (value === null) return 'NULL';
  const micros = parseIsoDateTime(value);
  return `CAST(${sqlLiteral(micros === null ? value : formatTimestamp(micros))} AS TIMESTAMP)`;
}
