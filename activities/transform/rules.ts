/**
 * The data rules of the contract (§4), one named function each, applied in the contract's order. They are
 * pure: the transform streams records through them into typed columns, which arquero holds as each chunk's tables.
 */
import { JsonNumber } from '../../core/json';
import { maxBytes, type TableName } from '../../core/schema';
import { fitsMoneyColumn, parseMoney } from '../../core/money';
import { parseIsoDateTime } from '../../core/time';

export type RejectReason =
  | 'malformed_record'
  | 'missing_order_id'
  | 'missing_created_at'
  | 'invalid_created_at'
  | 'future_created_at'
  | 'missing_user_id'
  | 'value_too_long'
  | 'invalid_item';

export const REJECT_REASONS: RejectReason[] = [
  'malformed_record',
  'missing_order_id',
  'missing_created_at',
  'invalid_created_at',
  'future_created_at',
  'missing_user_id',
  'value_too_long',
  'invalid_item',
];

/** The reasons an item (a line) of a winning version is rejected for. */
export type ItemRejectReason = Extract<RejectReason, 'invalid_item' | 'value_too_long'>;

type JsonObject = Record<string, unknown>;

/** A record that passed the record checks: the fields every later rule relies on. */
export interface ValidRecord {
  orderId: string;
  userId: string;
  /** `created_at` in microseconds since the epoch, UTC. */
  createdAt: number;
  record: JsonObject;
}

export type RecordCheck = { ok: true; value: ValidRecord } | { ok: false; reason: RejectReason; orderId: string | null };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An identifier: a non-blank string, or a number (many feeds send numeric ids) as its text as sent
 * (parseJson keeps 12345678901234567890 as a JsonNumber). Anything else counts as missing: it cannot be a key.
 */
export function identifier(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value instanceof JsonNumber) return value.text;
  return null;
}

/** Whether a text column holds this value: its UTF-8 bytes within the column's limit. */
export function fitsColumn(table: TableName, column: string, value: string | null): boolean {
  if (value === null) return true;
  const limit = maxBytes(table, column);
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most values fit without counting their bytes.
  return value.length * 3 <= limit || Buffer.byteLength(value, 'utf8') <= limit;
}

/** Whether every value of an order fits the column it goes to (amount: DECIMAL(18,2)). */
export function orderValuesFit(orderId: string, userId: string, record: JsonObject): boolean {
  const amount = parseMoney(record.amount);
  return (
    fitsColumn('dim_order', 'order_id', orderId) &&
    fitsColumn('dim_order', 'user_id', userId) &&
    fitsColumn('dim_order', 'currency', currencyOf(record)) &&
    fitsColumn('dim_order', 'source', sourceOf(record)) &&
    fitsColumn('dim_order', 'promo', promoOf(record)) &&
    (typeof amount !== 'bigint' || fitsMoneyColumn(amount))
  );
}

/**
 * §4.1: the record checks, in order; the first failing one is the record's only reason. `notAfter` (µs since
 * the epoch) is the latest believable created_at: a later one is a bad clock, kept out so it never moves the
 * watermark; a later run takes the record once its time has come.
 */
export function checkRecord(record: unknown, notAfter: number): RecordCheck {
  if (!isObject(record)) return { ok: false, reason: 'malformed_record', orderId: null };
  const orderId = identifier(record.order_id);
  if (orderId === null) return { ok: false, reason: 'missing_order_id', orderId: null };
  const rawCreatedAt = record.created_at;
  if (rawCreatedAt === undefined || rawCreatedAt === null || rawCreatedAt === '') {
    return { ok: false, reason: 'missing_created_at', orderId };
  }
  const createdAt = typeof rawCreatedAt === 'string' ? parseIsoDateTime(rawCreatedAt) : null;
  if (createdAt === null) return { ok: false, reason: 'invalid_created_at', orderId };
  if (createdAt > notAfter) return { ok: false, reason: 'future_created_at', orderId };
  const userId = identifier(record.user_id);
  if (userId === null) return { ok: false, reason: 'missing_user_id', orderId };
  if (!orderValuesFit(orderId, userId, record)) return { ok: false, reason: 'value_too_long', orderId };
  return { ok: true, value: { orderId, userId, createdAt, record } };
}

/** Where a record stands in the stream, for the tie-break of §4.2. */
export interface Version {
  createdAt: number;
  position: number;
}

/** §4.2: the later `created_at` wins; on a tie the record later in the stream wins. */
export function isNewerVersion(candidate: Version, current: Version): boolean {
  return candidate.createdAt > current.createdAt || (candidate.createdAt === current.createdAt && candidate.position > current.position);
}

const MAX_INT32 = 2_147_483_647;

/** §4.3: a quantity is a positive integer, as a JSON integer or a string of digits (checkItem: within INTEGER). */
export function parseQuantity(value: unknown): number | null {
  let qty: number | null = null;
  if (value instanceof JsonNumber) qty = Number(value.text);
  else if (typeof value === 'number') qty = value;
  else if (typeof value === 'string' && /^\d+$/.test(value)) qty = Number(value);
  return qty !== null && Number.isInteger(qty) && qty >= 1 ? qty : null;
}

export interface ValidItem {
  lineNumber: number;
  sku: string;
  quantity: number;
  /** Cents, or null when the feed has no price: never filled in from the catalogue. */
  unitPrice: bigint | null;
  lineAmount: bigint | null;
}

export type ItemCheck = { ok: true; value: ValidItem } | { ok: false; lineNumber: number; reason: ItemRejectReason };

/**
 * §4.3: one item of the winning version, with its 1-based position in `items` as received: invalid_item when a
 * field is missing or of the wrong kind, else value_too_long when a value does not fit its fact_sales column.
 */
export function checkItem(item: unknown, lineNumber: number): ItemCheck {
  const rejected = (reason: ItemRejectReason): ItemCheck => ({ ok: false, lineNumber, reason });
  if (!isObject(item)) return rejected('invalid_item');
  const sku = identifier(item.sku);
  const quantity = parseQuantity(item.qty);
  const unitPrice = parseMoney(item.price);
  if (sku === null || quantity === null || unitPrice === undefined) return rejected('invalid_item');
  const lineAmount = lineAmountOf(quantity, unitPrice);
  const fits = (cents: bigint | null) => cents === null || fitsMoneyColumn(cents);
  if (!fitsColumn('fact_sales', 'sku', sku) || quantity > MAX_INT32 || !fits(unitPrice) || !fits(lineAmount)) return rejected('value_too_long');
  return { ok: true, value: { lineNumber, sku, quantity, unitPrice, lineAmount } };
}

/** quantity × unit price, exact; null without a price. */
export function lineAmountOf(quantity: number, unitPrice: bigint | null): bigint | null {
  return unitPrice === null ? null : BigInt(quantity) * unitPrice;
}

/**
 * §4.4: the items of an order. Missing or null means none; a value that is not an array is itself invalid
 * (`malformed`), so the order loads without items and the value is quarantined, not silently dropped.
 */
export function itemsOf(record: JsonObject): { items: unknown[]; malformed: boolean } {
  if (Array.isArray(record.items)) return { items: record.items, malformed: false };
  return { items: [], malformed: record.items !== undefined && record.items !== null };
}

/** §4.4: `total_amount` is `amount` when it is a number or numeric string, else NULL (checkRecord refused one beyond DECIMAL(18,2)). */
export function totalAmountOf(record: JsonObject): bigint | null {
  return parseMoney(record.amount) ?? null;
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** §4.4: `metadata.source` when a non-empty string, else 'unknown'. */
export function sourceOf(record: JsonObject): string {
  return (isObject(record.metadata) && nonEmptyString(record.metadata.source)) || 'unknown';
}

/** §4.4: `metadata.promo` when non-empty, else NULL. */
export function promoOf(record: JsonObject): string | null {
  return isObject(record.metadata) ? nonEmptyString(record.metadata.promo) : null;
}

/** The currency as sent when it is a non-empty string, else NULL (never assumed). */
export function currencyOf(record: JsonObject): string | null {
  return nonEmptyString(record.currency);
}
