import { parse } from 'csv-parse/sync';
import { InvalidInputError } from '../../core/errors';
import { maxBytes, TABLES, type Column, type TableName } from '../../core/schema';
import { fitsMoneyColumn, parseMoney } from '../../core/money';
import { fitsColumn, identifier } from './rules';
import { parseIsoDateOrDateTime } from '../../core/time';

/** Rows of dim_user / dim_product from the reference files, typed as their columns: µs since the epoch, cents. */
export type UserRow = {
  user_id: string;
  email: string | null;
  country: string | null;
  /** UTC, microseconds since the epoch. */
  created_at: number | null;
  is_inferred: boolean;
};

export type ProductRow = {
  sku: string;
  name: string | null;
  category: string | null;
  /** Cents. */
  price: bigint | null;
  is_inferred: boolean;
};

function fitsValue(table: TableName, column: Column, value: string): boolean {
  if (column.type === 'string' || column.type === 'text') return fitsColumn(table, column.name, value);
  const cents = column.type === 'money' ? parseMoney(value) : null;
  return typeof cents !== 'bigint' || fitsMoneyColumn(cents);
}

/** A reference file's records, each a lookup of its (trimmed, blank = undefined) value by column name. */
type CsvValue = (column: string) => string | undefined;

/**
 * The records of a reference file, each value checked against the column of `table` it goes to: a value too long
 * for any warehouse is the file's error (it names the line and column), not a load that fails at the COPY.
 * Records are parsed as arrays (objects per record cost a third of the parse) and read through the header.
 */
function parseCsv<T>(text: string, file: string, required: string, table: TableName, toRow: (value: CsvValue) => T | null): T[] {
  const options = { bom: true, skip_empty_lines: true, trim: true };
  let records: string[][];
  try {
    records = parse(text, options);
  } catch (err) {
    throw new InvalidInputError(`${file} is not valid CSV: ${(err as Error).message}`);
  }
  if (records.length === 0) return [];
  const header = new Map(records[0].map((name, index) => [name.toLowerCase(), index]));
  if (!header.has(required)) throw new InvalidInputError(`${file} has no "${required}" column`);
  const checked = TABLES[table].columns.flatMap((column) => (header.has(column.name) ? [{ column, index: header.get(column.name)! }] : []));
  const rows: T[] = [];
  for (let r = 1; r < records.length; r++) {
    const record = records[r];
    for (const { column, index } of checked) {
      const cell = record[index];
      if (cell === undefined || cell === '' || fitsValue(table, column, cell)) continue;
      const limit = column.type === 'money' ? 'DECIMAL(18,2)' : `${maxBytes(table, column.name)} bytes (UTF-8)`;
      // Line numbers cost a third of the parse: they are looked up only for the error.
      const { info } = (parse(text, { ...options, info: true }) as unknown as { info: { lines: number } }[])[r];
      throw new InvalidInputError(`${file}, line ${info.lines}, column ${column.name}: the value does not fit ${limit}`);
    }
    const row = toRow((name) => {
      const cell = record[header.get(name) ?? -1];
      return cell === '' ? undefined : cell;
    });
    if (row !== null) rows.push(row);
  }
  return rows;
}

/** Keeps the last row of each id: a reference file that repeats an id means its latest line. */
function lastById<T>(rows: T[], id: (row: T) => string): T[] {
  return [...new Map(rows.map((row) => [id(row), row])).values()];
}

/**
 * The users reference file (CSV with a header; CRLF and quoted fields welcome). Rows without an id are skipped.
 * `file` names it in errors.
 */
export function parseUsersCsv(text: string, file = 'the users file'): UserRow[] {
  const rows = parseCsv(text, file, 'user_id', 'dim_user', (value): UserRow | null => {
    const userId = identifier(value('user_id'));
    if (userId === null) return null;
    const createdAt = value('created_at');
    return { user_id: userId, email: value('email') ?? null, country: value('country') ?? null, created_at: createdAt === undefined ? null : parseIsoDateOrDateTime(createdAt), is_inferred: false };
  });
  return lastById(rows, (r) => r.user_id);
}

/** The products reference file. A price that is not a number becomes NULL. */
export function parseProductsCsv(text: string, file = 'the products file'): ProductRow[] {
  const rows = parseCsv(text, file, 'sku', 'dim_product', (value): ProductRow | null => {
    const sku = identifier(value('sku'));
    if (sku === null) return null;
    const cents = parseMoney(value('price') ?? null);
    return { sku, name: value('name') ?? null, category: value('category') ?? null, price: typeof cents === 'bigint' ? cents : null, is_inferred: false };
  });
  return lastById(rows, (r) => r.sku);
}
