/**
 * The data rules of the contract (§4), one named function each, applied in the contract's order. They are
 * pure: the transform streams records through them and arquero assembles the tables.
 */
import { MAX_CENTS, parseMoney } from './money';
import { parseIsoDateTime } from './time';

export type RejectReason =
  | 'malformed_record'
  | 'missing_order_id'
  | 'missing_created_at'
  | 'invalid_created_at'
  | 'missing_user_id'
  | 'invalid_item';

export const REJECT_REASONS: RejectReason[] = [
  'malformed_record',
  'missing_order_id',
  'missing_created_at',
  'invalid_created_at',
  'missing_user_id',
  'invalid_item',
];

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
 * An identifier: a non-blank string, or a finite number (many feeds send numeric ids), as text.
 * Anything else counts as missing: it cannot be a key.
 */
export function identifier(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/** §4.1: the record checks, in order; the first failing one is the record's only reason. */
export function checkRecord(record: unknown): RecordCheck {
  if (!isObject(record)) return { ok: false, reason: 'malformed_record', orderId: null };
  const orderId = identifier(record.order_id);
  if (orderId === null) return { ok: false, reason: 'missing_order_id', orderId: null };
  const rawCreatedAt = record.created_at;
  if (rawCreatedAt === undefined || rawCreatedAt === null || rawCreatedAt === '') {
    return { ok: false, reason: 'missing_created_at', orderId };
  }
  const createdAt = typeof rawCreatedAt === 'string' ? parseIsoDateTime(rawCreatedAt) : null;
  if (createdAt === null) return { ok: false, reason: 'invalid_created_at', orderId };
  const userId = identifier(record.user_id);
  if (userId === null) return { ok: false, reason: 'missing_user_id', orderId };
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

/** §4.3: a quantity is a positive integer, as a JSON integer or a string of digits, that fits an INTEGER. */
export function parseQuantity(value: unknown): number | null {
  let qty: number | null = null;
  if (typeof value === 'number' && Number.isInteger(value)) qty = value;
  else if (typeof value === 'string' && /^\d+$/.test(value)) qty = Number(value);
  return qty !== null && qty >= 1 && qty <= MAX_INT32 ? qty : null;
}

export interface ValidItem {
  lineNumber: number;
  sku: string;
  quantity: number;
  /** Cents, or null when the feed has no price: never filled in from the catalogue. */
  unitPrice: bigint | null;
  lineAmount: bigint | null;
}

export type ItemCheck = { ok: true; value: ValidItem } | { ok: false; lineNumber: number; item: unknown };

/** §4.3: one item of the winning version, with its 1-based position in `items` as received. */
export function checkItem(item: unknown, lineNumber: number): ItemCheck {
  const invalid: ItemCheck = { ok: false, lineNumber, item };
  if (!isObject(item)) return invalid;
  const sku = identifier(item.sku);
  const quantity = parseQuantity(item.qty);
  const unitPrice = parseMoney(item.price);
  if (sku === null || quantity === null || unitPrice === undefined) return invalid;
  const lineAmount = lineAmountOf(quantity, unitPrice);
  if (lineAmount === undefined) return invalid;
  return { ok: true, value: { lineNumber, sku, quantity, unitPrice, lineAmount } };
}

/** quantity × unit price, exact; null without a price, undefined when it overflows DECIMAL(18,2). */
export function lineAmountOf(quantity: number, unitPrice: bigint | null): bigint | null | undefined {
  if (unitPrice === null) return null;
  const amount = BigInt(quantity) * unitPrice;
  return amount > MAX_CENTS || amount < -MAX_CENTS ? undefined : amount;
}

/**
 * §4.4: the items of an order. Missing or null means none; a value that is not an array is itself invalid
 * (`malformed`), so the order loads without items and the value is quarantined, not silently dropped.
 */
export function itemsOf(record: JsonObject): { items: unknown[]; malformed: boolean } {
  if (Array.isArray(record.items)) return { items: record.items, malformed: false };
  return { items: [], malformed: record.items !== undefined && record.items !== null };
}

/** §4.4: `total_amount` is `amount` when it is a number or numeric string, else NULL. */
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
