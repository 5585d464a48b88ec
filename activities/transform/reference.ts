import { parse } from 'csv-parse/sync';
import { InvalidInputError } from '../../core/errors';
import { maxBytes, TABLES, type Column, type TableName } from '../../core/schema';
import { fitsMoneyColumn, formatCents, parseMoney } from '../../core/money';
import { fitsColumn, identifier } from './rules';
import { formatTimestamp, parseIsoDateOrDateTime } from '../../core/time';

/** Rows of dim_user / dim_product as the transform emits them (money and time already as text). */
export type UserRow = {
  user_id: string;
  email: string | null;
  country: string | null;
  created_at: string | null;
  is_inferred: boolean;
};

export type ProductRow = {
  sku: string;
  name: string | null;
  category: string | null;
  price: string | null;
  is_inferred: boolean;
};

function fitsValue(table: TableName, column: Column, value: string): boolean {
  if (column.type === 'string' || column.type === 'text') return fitsColumn(table, column.name, value);
  const cents = column.type === 'money' ? parseMoney(value) : null;
  return typeof cents !== 'bigint' || fitsMoneyColumn(cents);
}

/**
 * The rows of a reference file, each value checked against the column of `table` it goes to: a value too long
 * for any warehouse is the file's error (it names the line and column), not a load that fails at the COPY.
 */
function parseCsv(text: string, file: string, required: string, table: TableName): Record<string, string>[] {
  const options = { columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true };
  let records: Record<string, string>[];
  try {
    records = parse(text, options);
  } catch (err) {
    throw new InvalidInputError(`${file} is not valid CSV: ${(err as Error).message}`);
  }
  if (records.length > 0 && !(required in records[0])) throw new InvalidInputError(`${file} has no "${required}" column`);
  records.forEach((record, index) => {
    for (const column of TABLES[table].columns) {
      const value = record[column.name];
      if (value === undefined || value === '' || fitsValue(table, column, value)) continue;
      const limit = column.type === 'money' ? 'DECIMAL(18,2)' : `${maxBytes(table, column.name)} bytes (UTF-8)`;
      // Line numbers cost a third of the parse: they are looked up only for the error.
      const { info } = (parse(text, { ...options, info: true }) as { info: { lines: number } }[])[index];
      throw new InvalidInputError(`${file}, line ${info.lines}, column ${column.name}: the value does not fit ${limit}`);
    }
  });
  return records;
}

const blankToNull = (value: string | undefined): string | null => (value === undefined || value === '' ? null : value);

/** Keeps the last row of each id: a reference file that repeats an id means its latest line. */
function lastById<T>(rows: T[], id: (row: T) => string): T[] {
  return [...new Map(rows.map((row) => [id(row), row])).values()];
}

/**
 * The users reference file (CSV with a header; CRLF and quoted fields welcome). Rows without an id are skipped.
 * `file` names it in errors.
 */
export function parseUsersCsv(text: string, file = 'the users file'): UserRow[] {
  const rows = parseCsv(text, file, 'user_id', 'dim_user').flatMap((r): UserRow[] => {
    const userId = identifier(r.user_id);
    if (userId === null) return [];
    const createdAt = r.created_at ? parseIsoDateOrDateTime(r.created_at) : null;
    return [{ user_id: userId, email: blankToNull(r.email), country: blankToNull(r.country), created_at: createdAt === null ? null : formatTimestamp(createdAt), is_inferred: false }];
  });
  return lastById(rows, (r) => r.user_id);
}

/** The products reference file. A price that is not a number becomes NULL. */
export function parseProductsCsv(text: string, file = 'the products file'): ProductRow[] {
  const rows = parseCsv(text, file, 'sku', 'dim_product').flatMap((r): ProductRow[] => {
    const sku = identifier(r.sku);
    if (sku === null) return [];
    const cents = parseMoney(r.price === '' ? null : r.price);
    return [{ sku, name: blankToNull(r.name), category: blankToNull(r.category), price: typeof cents === 'bigint' ? formatCents(cents) : null, is_inferred: false }];
  });
  return lastById(rows, (r) => r.sku);
}
