import type { Readable } from 'node:stream';
import { csvRecords, CsvSyntaxError, type CsvRecord } from './csv';
import { InvalidInputError } from '../../core/errors';
import { maxBytes, TABLES, type Column, type ReferenceLine, type TableName } from '../../core/schema';
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

/** The file's CSV records, a syntax error as the file's error (terminal); a failed read stays what it is. */
async function* fileRecords(input: Readable, file: string): AsyncGenerator<CsvRecord[]> {
  try {
    yield* csvRecords(input);
  } catch (err) {
    throw err instanceof CsvSyntaxError ? new InvalidInputError(`${file} is not valid CSV: ${err.message}`) : err;
  }
}

/**
 * A reference file's rows as its bytes stream in, with their lines, repeated ids and all (the stage): memory is
 * bounded by what the consumer holds, not by the file. Each record is read through the header (the first record)
 * and becomes a row (or is skipped: `toRow` gives null), each value checked against the column of `table` it goes
 * to: a value too long for any warehouse is the file's error (it names the line and column), not a load that fails
 * at the COPY.
 */
async function* streamCsv<T>(input: Readable, file: string, required: string, table: TableName, toRow: (value: CsvValue) => T | null): AsyncGenerator<ReferenceLine<T>> {
  let header: Map<string, number> | undefined;
  let checked: { column: Column; index: number }[] = [];
  for await (const batch of fileRecords(input, file)) {
    for (const { fields, line } of batch) {
      if (header === undefined) {
        header = new Map(fields.map((name, index) => [name.toLowerCase(), index]));
        if (!header.has(required)) throw new InvalidInputError(`${file} has no "${required}" column`);
        checked = TABLES[table].columns.flatMap((column) => (header!.has(column.name) ? [{ column, index: header!.get(column.name)! }] : []));
        continue;
      }
      for (const { column, index } of checked) {
        const cell = fields[index];
        if (cell === '' || fitsValue(table, column, cell)) continue;
        const limit = column.type === 'money' ? 'DECIMAL(18,2)' : `${maxBytes(table, column.name)} bytes (UTF-8)`;
        throw new InvalidInputError(`${file}, line ${line}, column ${column.name}: the value does not fit ${limit}`);
      }
      const columns = header;
      const row = toRow((name) => {
        const cell = fields[columns.get(name) ?? -1];
        return cell === '' ? undefined : cell;
      });
      if (row !== null) yield { row, line };
    }
  }
}

/** A users file record as its row; none without an id (such rows are skipped). */
function userRow(value: CsvValue): UserRow | null {
  const userId = identifier(value('user_id'));
  if (userId === null) return null;
  const createdAt = value('created_at');
  return { user_id: userId, email: value('email') ?? null, country: value('country') ?? null, created_at: createdAt === undefined ? null : parseIsoDateOrDateTime(createdAt), is_inferred: false };
}

/** A products file record as its row. A price that is not a number becomes NULL. */
function productRow(value: CsvValue): ProductRow | null {
  const sku = identifier(value('sku'));
  if (sku === null) return null;
  const cents = parseMoney(value('price') ?? null);
  return { sku, name: value('name') ?? null, category: value('category') ?? null, price: typeof cents === 'bigint' ? cents : null, is_inferred: false };
}

/**
 * The users reference file (CSV with a header; CRLF and quoted fields welcome) as it streams in: each row with its
 * line, repeated ids included (see ReferenceLine). Rows without an id are skipped. `file` names it in errors.
 */
export function streamUsersCsv(input: Readable, file = 'the users file'): AsyncGenerator<ReferenceLine<UserRow>> {
  return streamCsv(input, file, 'user_id', 'dim_user', userRow);
}

/** The products reference file as it streams in, each row with its line. A price that is not a number is NULL. */
export function streamProductsCsv(input: Readable, file = 'the products file'): AsyncGenerator<ReferenceLine<ProductRow>> {
  return streamCsv(input, file, 'sku', 'dim_product', productRow);
}
