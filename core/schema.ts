/**
 * The one definition of the warehouse tables. The DDL (sql/duckdb, sql/redshift), the Parquet files the stage
 * writes and the columns the transform emits are all derived from it, so they cannot drift apart.
 */

/** Logical column types; each engine and file format maps them in one place below. */
export type ColumnType = 'string' | 'text' | 'int' | 'bigint' | 'money' | 'double' | 'timestamp' | 'date' | 'boolean';

export interface Column {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

export interface TableDef {
  name: TableName;
  columns: Column[];
  /** Natural key: the merge replaces rows by it. */
  key: string[];
  /** Redshift physical design: how rows are spread over slices and ordered on disk (see sql/redshift). */
  redshift: { distStyle: 'KEY' | 'ALL' | 'EVEN'; distKey?: string; sortKey: string[] };
}

/**
 * Longest value, in UTF-8 bytes, of each text type: Redshift's VARCHAR widths. The transform keeps every value
 * within them (value_too_long otherwise), so DuckDB, whose VARCHAR has no width, holds exactly what Redshift can.
 */
export const MAX_BYTES = { string: 256, text: 65_535 } as const;

/** The byte limit of a text column. */
export function maxBytes(table: TableName, column: string): number {
  const limit = TEXT_LIMITS[table].get(column);
  if (limit === undefined) throw new Error(`${table}.${column} is not a text column`);
  return limit;
}

/** `text` cut on a UTF-8 character boundary to at most `limit` bytes (a longer text loses its end). */
export function cutToBytes(text: string, limit: number): string {
  if (text.length * 3 <= limit) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  while ((bytes[end] & 0xc0) === 0x80) end--; // a continuation byte: the character started before it
  return bytes.subarray(0, end).toString('utf8');
}

export type TableName = 'fact_sales' | 'dim_order' | 'dim_user' | 'dim_product' | 'rejected_records' | 'etl_loads' | 'quality_checks' | 'schema_fields' | 'schema_changes';

const col = (name: string, type: ColumnType, nullable = true): Column => ({ name, type, nullable });

export const TABLES: Record<TableName, TableDef> = {
  fact_sales: {
    name: 'fact_sales',
    key: ['order_id', 'line_number'],
    columns: [
      col('order_id', 'string', false),
      col('line_number', 'int', false),
      col('user_id', 'string', false),
      col('sku', 'string', false),
      col('created_at', 'timestamp', false),
      col('order_date', 'date', false),
      col('quantity', 'int', false),
      col('unit_price', 'money'),
      col('line_amount', 'money'),
      col('currency', 'string'),
    ],
    // Facts join dim_order on order_id: co-locate them; most queries filter on date.
    redshift: { distStyle: 'KEY', distKey: 'order_id', sortKey: ['order_date', 'order_id'] },
  },
  dim_order: {
    name: 'dim_order',
    key: ['order_id'],
    columns: [
      col('order_id', 'string', false),
      col('user_id', 'string', false),
      col('created_at', 'timestamp', false),
      col('order_date', 'date', false),
      col('total_amount', 'money'),
      col('currency', 'string'),
      col('source', 'string', false),
      col('promo', 'string'),
      col('item_count', 'int', false),
    ],
    redshift: { distStyle: 'KEY', distKey: 'order_id', sortKey: ['order_date', 'order_id'] },
  },
  dim_user: {
    name: 'dim_user',
    key: ['user_id'],
    columns: [
      col('user_id', 'string', false),
      col('email', 'string'),
      col('country', 'string'),
      col('created_at', 'timestamp'),
      col('is_inferred', 'boolean', false),
    ],
    // Small dimensions are copied to every node so joins never redistribute.
    redshift: { distStyle: 'ALL', sortKey: ['user_id'] },
  },
  dim_product: {
    name: 'dim_product',
    key: ['sku'],
    columns: [
      col('sku', 'string', false),
      col('name', 'string'),
      col('category', 'string'),
      col('price', 'money'),
      col('is_inferred', 'boolean', false),
    ],
    redshift: { distStyle: 'ALL', sortKey: ['sku'] },
  },
  rejected_records: {
    name: 'rejected_records',
    key: [],
    columns: [
      col('load_id', 'string', false),
      col('order_id', 'string'),
      col('line_number', 'int'),
      col('reason', 'string', false),
      col('record', 'text', false),
      col('rejected_at', 'timestamp', false),
    ],
    redshift: { distStyle: 'EVEN', sortKey: ['rejected_at'] },
  },
  etl_loads: {
    name: 'etl_loads',
    key: ['load_id'],
    columns: [
      col('load_id', 'string', false),
      col('pipeline_id', 'string', false),
      col('source', 'string', false),
      col('started_at', 'timestamp', false),
      col('finished_at', 'timestamp', false),
      col('since_ts', 'timestamp'),
      col('until_ts', 'timestamp'),
      col('watermark', 'timestamp'),
      col('extracted', 'bigint', false),
      col('duplicates', 'bigint', false),
      col('rejected_orders', 'bigint', false),
      col('rejected_items', 'bigint', false),
      col('orders_loaded', 'bigint', false),
      col('orders_kept', 'bigint', false),
      col('lines_loaded', 'bigint', false),
    ],
    redshift: { distStyle: 'ALL', sortKey: ['started_at'] },
  },
  // Schema drift (activities/warehouse/schema-drift-sql.ts): the field paths each load saw, and what changed.
  schema_fields: {
    name: 'schema_fields',
    key: ['load_id', 'path'],
    columns: [
      col('load_id', 'string', false),
      col('path', 'string', false),
      // The types other than null ('number', 'number|string'), or 'null' when it only ever was null: what is compared.
      col('json_type', 'string', false),
      col('nullable', 'boolean', false),
      col('records', 'bigint', false),
      // The load saw more paths than it keeps (core/schema-drift): the ones after its last are missing.
      col('truncated', 'boolean', false),
    ],
    redshift: { distStyle: 'ALL', sortKey: ['load_id'] },
  },
  schema_changes: {
    name: 'schema_changes',
    key: ['load_id', 'path'],
    columns: [
      col('load_id', 'string', false),
      col('path', 'string', false),
      col('change', 'string', false),
      col('old_type', 'string'),
      col('new_type', 'string'),
      col('previous_load_id', 'string', false),
      col('detected_at', 'timestamp', false),
    ],
    redshift: { distStyle: 'ALL', sortKey: ['detected_at'] },
  },
  // Only pass and warn: a failed gate rolls its load back, this table with it (see core/quality.ts).
  quality_checks: {
    name: 'quality_checks',
    key: ['load_id', 'check'],
    columns: [
      col('load_id', 'string', false),
      col('check', 'string', false),
      col('observed', 'double', false),
      col('threshold', 'double'),
      col('outcome', 'string', false),
    ],
    redshift: { distStyle: 'ALL', sortKey: ['load_id'] },
  },
};

/** Column names that are reserved words in DuckDB, PostgreSQL and Redshift (`check`): SQL quotes them. */
const RESERVED_NAMES = new Set(['check']);

/** A column's name as SQL writes it. */
export const sqlName = (column: string): string => (RESERVED_NAMES.has(column) ? `"${column}"` : column);

/** Each table's text columns and their byte limits (the transform asks for each value). */
const TEXT_LIMITS = Object.fromEntries(
  Object.values(TABLES).map((t) => [t.name, new Map(t.columns.flatMap((c): [string, number][] => (c.type === 'string' || c.type === 'text' ? [[c.name, MAX_BYTES[c.type]]] : [])))]),
) as Record<TableName, Map<string, number>>;

/**
 * Columns staging adds after a table's own (staged Parquet and `stg_<table>` only, never the warehouse tables).
 * The transform stages every valid version of an order with its stream position; the merge keeps the latest of
 * each order (§4.2) and the item rejections of that version only: a rejection of a whole record has none. The
 * stage streams a reference file's rows as they are, each with its line; of an id the file repeats, the merge keeps
 * the last line's row.
 */
export const STAGING_COLUMNS: Partial<Record<TableName, Column[]>> = {
  dim_user: [col('source_line', 'bigint', false)],
  dim_product: [col('source_line', 'bigint', false)],
  dim_order: [col('stream_position', 'bigint', false)],
  fact_sales: [col('stream_position', 'bigint', false)],
  rejected_records: [col('stream_position', 'bigint')],
};

/** A reference file's row and the line of the file it ends on (staged as `source_line`). */
export interface ReferenceLine<Row> {
  row: Row;
  line: number;
}

/** A table's staged columns: its own, then the staging ones. */
export function stagedColumns(table: TableName): Column[] {
  return [...TABLES[table].columns, ...(STAGING_COLUMNS[table] ?? [])];
}

/** Tables the transform produces and the stage writes as Parquet, in load order. */
export const STAGED_TABLES: TableName[] = ['dim_user', 'dim_product', 'dim_order', 'fact_sales', 'rejected_records'];

export type Dialect = 'duckdb' | 'redshift';

const SQL_TYPES: Record<Dialect, Record<ColumnType, string>> = {
  duckdb: {
    string: 'VARCHAR',
    text: 'VARCHAR',
    int: 'INTEGER',
    bigint: 'BIGINT',
    money: 'DECIMAL(18,2)',
    double: 'DOUBLE',
    timestamp: 'TIMESTAMP',
    date: 'DATE',
    boolean: 'BOOLEAN',
  },
  redshift: {
    string: `VARCHAR(${MAX_BYTES.string})`,
    text: `VARCHAR(${MAX_BYTES.text})`,
    int: 'INTEGER',
    bigint: 'BIGINT',
    money: 'DECIMAL(18,2)',
    double: 'DOUBLE PRECISION',
    timestamp: 'TIMESTAMP',
    date: 'DATE',
    boolean: 'BOOLEAN',
  },
};

export function sqlType(dialect: Dialect, type: ColumnType): string {
  return SQL_TYPES[dialect][type];
}

export function columnNames(table: TableName): string[] {
  return TABLES[table].columns.map((c) => c.name);
}

const columnLines = (dialect: Dialect, columns: Column[]): string[] =>
  columns.map((c) => `  ${sqlName(c.name).padEnd(15)} ${sqlType(dialect, c.type)}${c.nullable ? '' : ' NOT NULL'}`);

const redshiftLayout = ({ distStyle, distKey, sortKey }: TableDef['redshift']): string =>
  `\nDISTSTYLE ${distStyle}${distKey ? `\nDISTKEY (${distKey})` : ''}\nSORTKEY (${sortKey.map(sqlName).join(', ')})`;

/** `CREATE TABLE IF NOT EXISTS` for one table in one dialect. */
export function createTableSql(dialect: Dialect, table: TableName): string {
  const def = TABLES[table];
  const lines = columnLines(dialect, def.columns);
  // Redshift's keys are informational (they guide the planner). DuckDB enforces them with ART indexes that make
  // the merge's deletes ~40x slower, so there the merge and the reconciliation's key check guarantee uniqueness.
  if (def.key.length && dialect === 'redshift') lines.push(`  PRIMARY KEY (${def.key.map(sqlName).join(', ')})`);
  let sql = `CREATE TABLE IF NOT EXISTS ${table} (\n${lines.join(',\n')}\n)`;
  if (dialect === 'redshift') sql += redshiftLayout(def.redshift);
  return `${sql};`;
}

/**
 * Redshift's staging table of one load: the staged columns (the table's, then the staging ones), with the
 * table's distribution and sort keys, so the merge's joins stay co-located. A temp table vanishes with the session.
 */
export function createStagingTableSql(table: TableName, name: string): string {
  return `CREATE TEMP TABLE ${name} (\n${columnLines('redshift', stagedColumns(table)).join(',\n')}\n)${redshiftLayout(TABLES[table].redshift)}`;
}

export function schemaSql(dialect: Dialect): string {
  return [...(Object.keys(TABLES) as TableName[]).map((t) => createTableSql(dialect, t)), `${SCHEMA_VERSION_DDL};`].join('\n\n') + '\n';
}

// ---- Schema versions and migrations ----

/**
 * The version of the layout TABLES defines; every load records it in etl_schema_version. Bump it with every change
 * to TABLES. A change may only add tables or append NULLABLE columns at the END of a table: an older warehouse is
 * then migrated in place (`ALTER TABLE … ADD COLUMN` appends, so stored columns keep the definition's order, which
 * Redshift's COPY of Parquet relies on: it matches columns by position). Any other difference stops the load with
 * what differs, for a migration by hand.
 */
export const SCHEMA_VERSION = 2;

/** One row per version a warehouse was brought to, with when (the same DDL in both dialects). */
const SCHEMA_VERSION_DDL = 'CREATE TABLE IF NOT EXISTS etl_schema_version (\n  version         INTEGER NOT NULL,\n  applied_at      TIMESTAMP NOT NULL\n)';

/** The stored layout: `table_name, column_name` of every table TABLES defines, in column order (both engines and Redshift). */
export const STORED_COLUMNS_SQL =
  `SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = current_database() AND table_schema = current_schema() ` +
  `AND table_name IN (${Object.keys(TABLES).map((t) => `'${t}'`).join(', ')}) ORDER BY table_name, ordinal_position`;

/** The version a warehouse was last brought to: one row, `version` NULL when it predates versioning. */
export const STORED_VERSION_SQL = 'SELECT MAX(version) AS version FROM etl_schema_version';

/** STORED_COLUMNS_SQL's rows as each table's columns in order. */
export function storedColumns(rows: Record<string, unknown>[]): Record<string, string[]> {
  const stored: Record<string, string[]> = {};
  for (const row of rows) (stored[String(row.table_name)] ??= []).push(String(row.column_name));
  return stored;
}

export interface Migration {
  /** What to run, in one transaction, to bring the warehouse to SCHEMA_VERSION; empty when it is there. */
  statements: string[];
  /** Why the warehouse cannot be migrated in place, one line each; the load must stop when there are any. */
  problems: string[];
}

/**
 * The migration from a stored layout (each table's columns in order, from STORED_COLUMNS_SQL, after the
 * `CREATE TABLE IF NOT EXISTS` DDL ran) and stored version to SCHEMA_VERSION. `appliedAt` is an ISO instant.
 */
export function planMigration(dialect: Dialect, stored: Record<string, string[]>, storedVersion: number | null, appliedAt: string): Migration {
  const statements: string[] = [];
  const problems: string[] = [];
  if (storedVersion !== null && storedVersion > SCHEMA_VERSION) {
    problems.push(`the warehouse is at schema version ${storedVersion}, newer than this orders-etl's ${SCHEMA_VERSION}: upgrade orders-etl`);
  }
  for (const def of Object.values(TABLES)) {
    const have = stored[def.name] ?? [];
    const want = def.columns.map((c) => c.name);
    const unknown = have.filter((c) => !want.includes(c));
    if (unknown.length) {
      problems.push(`${def.name} has column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} that schema version ${SCHEMA_VERSION} does not define`);
    } else if (have.some((c, i) => want[i] !== c)) {
      const missing = want.filter((c) => !have.includes(c));
      problems.push(`${def.name} lacks ${missing.join(', ')} before its last column (stored: ${have.join(', ')}): ADD COLUMN would put ${missing.length > 1 ? 'them' : 'it'} out of order`);
    } else {
      for (const c of def.columns.slice(have.length)) {
        if (c.nullable) statements.push(`ALTER TABLE ${def.name} ADD COLUMN ${sqlName(c.name)} ${sqlType(dialect, c.type)}`);
        else problems.push(`${def.name} lacks NOT NULL column ${c.name}, which cannot be added to stored rows`);
      }
    }
  }
  if (storedVersion !== SCHEMA_VERSION) {
    const at = appliedAt.replace('T', ' ').replace(/Z$/, '');
    statements.push(`INSERT INTO etl_schema_version (version, applied_at) VALUES (${SCHEMA_VERSION}, CAST('${at}' AS TIMESTAMP))`);
  }
  return problems.length ? { statements: [], problems } : { statements, problems };
}
