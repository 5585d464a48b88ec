import { parse } from 'csv-parse/sync';
import { InvalidInputError } from '../errors';
import { formatCents, parseMoney } from './money';
import { identifier } from './rules';
import { formatTimestamp, parseIsoDateOrDateTime } from './time';

/** Rows of dim_user / dim_product as the transform emits them (money and time already as text). */
export interface UserRow {
  user_id: string;
  email: string | null;
  country: string | null;
  created_at: string | null;
  is_inferred: boolean;
}

export interface ProductRow {
  sku: string;
  name: string | null;
  category: string | null;
  price: string | null;
  is_inferred: boolean;
}

function parseCsv(text: string, what: string, required: string): Record<string, string>[] {
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    throw new InvalidInputError(`the ${what} file is not valid CSV: ${(err as Error).message}`);
  }
  if (rows.length > 0 && !(required in rows[0])) throw new InvalidInputError(`the ${what} file has no "${required}" column`);
  return rows;
}

const blankToNull = (value: string | undefined): string | null => (value === undefined || value === '' ? null : value);

/** Keeps the last row of each id: a reference file that repeats an id means its latest line. */
function lastById<T>(rows: T[], id: (row: T) => string): T[] {
  return [...new Map(rows.map((row) => [id(row), row])).values()];
}

/** The users reference file (CSV with a header; CRLF and quoted fields welcome). Rows without an id are skipped. */
export function parseUsersCsv(text: string): UserRow[] {
  const rows = parseCsv(text, 'users', 'user_id').flatMap((r): UserRow[] => {
    const userId = identifier(r.user_id);
    if (userId === null) return [];
    const createdAt = r.created_at ? parseIsoDateOrDateTime(r.created_at) : null;
    return [{ user_id: userId, email: blankToNull(r.email), country: blankToNull(r.country), created_at: createdAt === null ? null : formatTimestamp(createdAt), is_inferred: false }];
  });
  return lastById(rows, (r) => r.user_id);
}

/** The products reference file. A price that is not a number becomes NULL. */
export function parseProductsCsv(text: string): ProductRow[] {
  const rows = parseCsv(text, 'products', 'sku').flatMap((r): ProductRow[] => {
    const sku = identifier(r.sku);
    if (sku === null) return [];
    const cents = parseMoney(r.price === '' ? null : r.price);
    return [{ sku, name: blankToNull(r.name), category: blankToNull(r.category), price: typeof cents === 'bigint' ? formatCents(cents) : null, is_inferred: false }];
  });
  return lastById(rows, (r) => r.sku);
}
