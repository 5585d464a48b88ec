/**
 * The data rules of CONTRACT.md §4–§5, one table-driven case per rule and per reason, each a minimal input with
 * its exact expected output. Instants are written as literal microseconds, so the machine's zone cannot matter
 * (the suite is also run with TZ=America/Lima).
 */
import { Readable } from 'node:stream';
import { InvalidInputError } from '../core/errors';
import { JsonNumber } from '../core/json';
import { decimalTextToCents, fitsMoneyColumn, MAX_CENTS, parseMoney } from '../core/money';
import { streamProductsCsv, streamUsersCsv } from '../activities/transform/reference';
import type { ReferenceLine } from '../core/schema';
import {
  checkItem,
  checkRecord,
  currencyOf,
  identifier,
  isNewerVersion,
  parseQuantity,
  promoOf,
  REJECT_REASONS,
  sourceOf,
  totalAmountOf,
  type ItemCheck,
  type RecordCheck,
} from '../activities/transform/rules';
import { epochDay, formatIso, formatTimestamp, parseIsoDateOrDateTime, parseIsoDateTime } from '../core/time';

/**
 * Bigints as `123n` strings before they reach `expect`: a failing assertion holding a bigint cannot be sent back
 * from a jest worker ("Do not know how to serialize a BigInt"), which would hide the diff.
 */
const plain = (v: unknown): unknown =>
  typeof v === 'bigint'
    ? `${v}n`
    : Array.isArray(v)
      ? v.map(plain)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
        : v;

/** 2025-10-01T10:00:00Z in microseconds since the epoch. */
const OCT1_10H = 1_759_312_800_000_000;
const HOUR = 3_600_000_000;
/** The latest believable created_at of these cases: 2025-10-05T08:00:00Z. */
const NOT_AFTER = 1_759_651_200_000_000;
/** `bytes` bytes of UTF-8 in fewer characters: '€' is three bytes. */
const euros = (bytes: number) => '€'.repeat(bytes / 3);

describe('checkRecord (§4.1), reasons in the contract order', () => {
  test('the reasons are declared in the contract order', () => {
    expect(REJECT_REASONS).toEqual([
      'malformed_record',
      'missing_order_id',
      'missing_created_at',
      'invalid_created_at',
      'future_created_at',
      'missing_user_id',
      'value_too_long',
      'invalid_item',
    ]);
  });

  const ok = { order_id: 'o1', created_at: '2025-10-01T10:00:00Z', user_id: 'u1' };
  const rejected = (reason: string, orderId: string | null): RecordCheck => ({ ok: false, reason, orderId } as RecordCheck);

  test.each<[string, unknown, RecordCheck]>([
    // 1. malformed_record
    ['an array is malformed', [ok], rejected('malformed_record', null)],
    ['a string is malformed', 'order o1', rejected('malformed_record', null)],
    ['a number is malformed', 42, rejected('malformed_record', null)],
    ['null is malformed', null, rejected('malformed_record', null)],
    ['true is malformed', true, rejected('malformed_record', null)],
    // 2. missing_order_id
    ['order_id missing', { created_at: ok.created_at, user_id: 'u1' }, rejected('missing_order_id', null)],
    ['order_id null', { ...ok, order_id: null }, rejected('missing_order_id', null)],
    ['order_id empty', { ...ok, order_id: '' }, rejected('missing_order_id', null)],
    ['order_id true is not an id', { ...ok, order_id: true }, rejected('missing_order_id', null)],
    ['order_id an object is not an id', { ...ok, order_id: { id: 1 } }, rejected('missing_order_id', null)],
    ['failing two checks gives only the first reason', { order_id: '', created_at: 'nope' }, rejected('missing_order_id', null)],
    // 3. missing_created_at
    ['created_at missing', { order_id: 'o1', user_id: 'u1' }, rejected('missing_created_at', 'o1')],
    ['created_at null', { ...ok, created_at: null }, rejected('missing_created_at', 'o1')],
    ['created_at empty', { ...ok, created_at: '' }, rejected('missing_created_at', 'o1')],
    ['missing created_at and user_id: the first only', { order_id: 'o1' }, rejected('missing_created_at', 'o1')],
    // 4. invalid_created_at
    ['February 30 is invalid', { ...ok, created_at: '2025-02-30T10:00:00Z' }, rejected('invalid_created_at', 'o1')],
    ['month 13 is invalid', { ...ok, created_at: '2025-13-01T00:00:00Z' }, rejected('invalid_created_at', 'o1')],
    ['a date alone is invalid', { ...ok, created_at: '2025-10-01' }, rejected('invalid_created_at', 'o1')],
    ['free text is invalid', { ...ok, created_at: 'yesterday' }, rejected('invalid_created_at', 'o1')],
    ['a number (epoch) is invalid', { ...ok, created_at: 1_759_312_800_000 }, rejected('invalid_created_at', 'o1')],
    ['a boolean is invalid', { ...ok, created_at: true }, rejected('invalid_created_at', 'o1')],
    ['invalid created_at and missing user_id: the first only', { order_id: 'o1', created_at: '2025-02-30T10:00:00Z' }, rejected('invalid_created_at', 'o1')],
    // 5. future_created_at
    ['created in 2099', { ...ok, created_at: '2099-01-01T00:00:00Z' }, rejected('future_created_at', 'o1')],
    ['one microsecond after notAfter', { ...ok, created_at: '2025-10-05T08:00:00.000001Z' }, rejected('future_created_at', 'o1')],
    ['future and missing user_id: the first only', { order_id: 'o1', created_at: '2099-01-01T00:00:00Z' }, rejected('future_created_at', 'o1')],
    // 5. missing_user_id
    ['user_id missing', { order_id: 'o1', created_at: ok.created_at }, rejected('missing_user_id', 'o1')],
    ['user_id null', { ...ok, user_id: null }, rejected('missing_user_id', 'o1')],
    ['user_id empty', { ...ok, user_id: '' }, rejected('missing_user_id', 'o1')],
    ['user_id false', { ...ok, user_id: false }, rejected('missing_user_id', 'o1')],
    ['missing user_id and a too long promo: the first only', { order_id: 'o1', created_at: ok.created_at, metadata: { promo: 'x'.repeat(300) } }, rejected('missing_user_id', 'o1')],
    // 7. value_too_long: over the column's 256 bytes of UTF-8, or an amount beyond DECIMAL(18,2)
    ['order_id of 257 bytes', { ...ok, order_id: 'o'.repeat(257) }, rejected('value_too_long', 'o'.repeat(257))],
    ['user_id of 258 bytes in 86 characters', { ...ok, user_id: euros(258) }, rejected('value_too_long', 'o1')],
    ['currency of 257 bytes', { ...ok, currency: 'U'.repeat(257) }, rejected('value_too_long', 'o1')],
    ['metadata.source of 257 bytes', { ...ok, metadata: { source: 's'.repeat(257) } }, rejected('value_too_long', 'o1')],
    ['metadata.promo of 257 bytes', { ...ok, metadata: { promo: 'p'.repeat(257) } }, rejected('value_too_long', 'o1')],
    ['amount 10000000000000000 (beyond DECIMAL(18,2))', { ...ok, amount: 1e16 }, rejected('value_too_long', 'o1')],
    ['amount "-10000000000000000.00"', { ...ok, amount: '-10000000000000000.00' }, rejected('value_too_long', 'o1')],
    ['amount 1e400 as sent', { ...ok, amount: new JsonNumber('1E400') }, rejected('value_too_long', 'o1')],
  ])('%s', (_name, record, expected) => {
    expect(checkRecord(record, NOT_AFTER)).toEqual(expected);
  });

  test.each<[string, Record<string, unknown>, string, string, number]>([
    ['Z offset', ok, 'o1', 'u1', OCT1_10H],
    ['no offset is UTC', { ...ok, created_at: '2025-10-01T10:00:00' }, 'o1', 'u1', OCT1_10H],
    ['fraction and +05:30 offset', { ...ok, created_at: '2025-10-01T10:00:00.123+05:30' }, 'o1', 'u1', OCT1_10H - 5.5 * HOUR + 123_000],
    ['negative offset', { ...ok, created_at: '2025-10-01T05:00:00-05:00' }, 'o1', 'u1', OCT1_10H],
    ['numeric order_id and user_id are accepted as text', { ...ok, order_id: 1001, user_id: 7 }, '1001', '7', OCT1_10H],
    ['a 20-digit order_id is its text as sent', { ...ok, order_id: new JsonNumber('12345678901234567890') }, '12345678901234567890', 'u1', OCT1_10H],
    ['created_at exactly notAfter is believable', { ...ok, created_at: '2025-10-05T08:00:00Z' }, 'o1', 'u1', NOT_AFTER],
    ['values of exactly 256 bytes fit', { ...ok, order_id: 'o'.repeat(256), user_id: euros(255), currency: 'c'.repeat(256), metadata: { source: 's'.repeat(256), promo: 'p'.repeat(256) } }, 'o'.repeat(256), euros(255), OCT1_10H],
    ['amount 9999999999999999.99 as sent fits', { ...ok, amount: new JsonNumber('9999999999999999.99') }, 'o1', 'u1', OCT1_10H],
    ['a non-numeric amount is no value to hold (total NULL)', { ...ok, amount: 'a'.repeat(300) }, 'o1', 'u1', OCT1_10H],
  ])('accepts: %s', (_name, record, orderId, userId, createdAt) => {
    expect(checkRecord(record, NOT_AFTER)).toEqual({ ok: true, value: { orderId, userId, createdAt, record } });
  });
});

describe('identifier', () => {
  test.each<[unknown, string | null]>([
    ['o1', 'o1'],
    [' ', null],
    [1001, '1001'],
    [new JsonNumber('12345678901234567890'), '12345678901234567890'],
    [new JsonNumber('1e3'), '1e3'],
    [true, null],
  ])('%p → %p', (value, expected) => {
    expect(identifier(value)).toBe(expected);
  });
});

describe('isNewerVersion (§4.2)', () => {
  test.each([
    ['a later created_at wins, even earlier in the stream', { createdAt: 2, position: 0 }, { createdAt: 1, position: 9 }, true],
    ['on a tie the later position wins', { createdAt: 1, position: 6 }, { createdAt: 1, position: 5 }, true],
    ['on a tie the earlier position loses', { createdAt: 1, position: 4 }, { createdAt: 1, position: 5 }, false],
    ['an earlier created_at loses, even later in the stream', { createdAt: 0, position: 9 }, { createdAt: 1, position: 0 }, false],
  ])('%s', (_name, candidate, current, expected) => {
    expect(isNewerVersion(candidate, current)).toBe(expected);
  });
});

describe('parseQuantity (§4.3)', () => {
  test.each<[unknown, number | null]>([
    [1, 1],
    ['2', 2],
    ['007', 7],
    [2 ** 31 - 1, 2_147_483_647],
    [0, null],
    ['0', null],
    [-1, null],
    ['-1', null],
    [1.5, null],
    ['1.5', null],
    ['', null],
    [' 2', null],
    [true, null],
    [null, null],
    [undefined, null],
    [[1], null],
    [2 ** 31, 2_147_483_648],
    ['2147483648', 2_147_483_648],
    [new JsonNumber('2.0'), 2],
    [new JsonNumber('1e3'), 1000],
    [new JsonNumber('1.50'), null],
  ])('%p → %p', (value, expected) => {
    expect(parseQuantity(value)).toBe(expected);
  });
});

describe('checkItem (§4.3)', () => {
  const rejected = (reason: 'invalid_item' | 'value_too_long', lineNumber: number): ItemCheck => ({ ok: false, lineNumber, reason });
  const invalid = (lineNumber: number) => rejected('invalid_item', lineNumber);
  const tooLong = (lineNumber: number) => rejected('value_too_long', lineNumber);
  test.each<[string, unknown, number, ItemCheck]>([
    ['valid', { sku: 'A', qty: 2, price: 19.99 }, 1, { ok: true, value: { lineNumber: 1, sku: 'A', quantity: 2, unitPrice: 1999n, lineAmount: 3998n } }],
    ['missing price → null unit_price and line_amount', { sku: 'A', qty: 2 }, 3, { ok: true, value: { lineNumber: 3, sku: 'A', quantity: 2, unitPrice: null, lineAmount: null } }],
    ['null price → null unit_price and line_amount', { sku: 'A', qty: 1, price: null }, 1, { ok: true, value: { lineNumber: 1, sku: 'A', quantity: 1, unitPrice: null, lineAmount: null } }],
    ['price as a numeric string', { sku: 'A', qty: '3', price: '19.99' }, 2, { ok: true, value: { lineNumber: 2, sku: 'A', quantity: 3, unitPrice: 1999n, lineAmount: 5997n } }],
    ['3 × 10.005 → 10.01 each, 30.03 the line', { sku: 'A', qty: 3, price: 10.005 }, 1, { ok: true, value: { lineNumber: 1, sku: 'A', quantity: 3, unitPrice: 1001n, lineAmount: 3003n } }],
    ['price "abc" is invalid', { sku: 'A', qty: 1, price: 'abc' }, 1, invalid(1)],
    ['price true is invalid', { sku: 'A', qty: 1, price: true }, 2, invalid(2)],
    ['price an object is invalid', { sku: 'A', qty: 1, price: { amount: 1 } }, 1, invalid(1)],
    ['sku "" is invalid', { sku: '', qty: 1, price: 1 }, 1, invalid(1)],
    ['sku missing is invalid', { qty: 1, price: 1 }, 4, invalid(4)],
    ['qty 0 is invalid', { sku: 'A', qty: 0, price: 1 }, 1, invalid(1)],
    ['qty missing is invalid', { sku: 'A', price: 1 }, 1, invalid(1)],
    ['an item that is a string is invalid', 'A x1', 1, invalid(1)],
    ['an item that is null is invalid', null, 2, invalid(2)],
    ['an item that is an array is invalid', [{ sku: 'A', qty: 1 }], 1, invalid(1)],
    ['a line amount beyond DECIMAL(18,2) is too long', { sku: 'A', qty: 10, price: '9999999999999999.99' }, 1, tooLong(1)],
    ['a price beyond DECIMAL(18,2) is too long', { sku: 'A', qty: 1, price: 1e16 }, 2, tooLong(2)],
    ['a price 9999999999999999.999 as sent is too long (rounds to 10^16)', { sku: 'A', qty: 1, price: new JsonNumber('9999999999999999.999') }, 1, tooLong(1)],
    ['a qty above INTEGER is too long', { sku: 'A', qty: 2 ** 31, price: 1 }, 3, tooLong(3)],
    ['a 20-digit qty as sent is too long', { sku: 'A', qty: new JsonNumber('12345678901234567890') }, 1, tooLong(1)],
    ['a sku of 257 bytes is too long', { sku: 's'.repeat(257), qty: 1 }, 1, tooLong(1)],
    ['a sku of 258 bytes in 86 characters is too long', { sku: euros(258), qty: 1 }, 1, tooLong(1)],
    ['invalid and too long: invalid_item first', { sku: 's'.repeat(300), qty: 0 }, 1, invalid(1)],
    ['a 256-byte sku and the largest price fit', { sku: euros(255), qty: 1, price: new JsonNumber('9999999999999999.99') }, 1, { ok: true, value: { lineNumber: 1, sku: euros(255), quantity: 1, unitPrice: MAX_CENTS, lineAmount: MAX_CENTS } }],
    ['a 20-digit sku as sent', { sku: new JsonNumber('12345678901234567891'), qty: 1 }, 1, { ok: true, value: { lineNumber: 1, sku: '12345678901234567891', quantity: 1, unitPrice: null, lineAmount: null } }],
  ])('%s', (_name, item, lineNumber, expected) => {
    expect(plain(checkItem(item, lineNumber))).toStrictEqual(plain(expected));
  });
});

describe('order fields (§4.4)', () => {
  test.each<[unknown, bigint | null]>([
    [10.5, 1050n],
    ['12.345', 1235n],
    [0, 0n],
    [undefined, null],
    [null, null],
    ['abc', null],
    [true, null],
  ])('totalAmountOf amount=%p → %p', (amount, expected) => {
    expect(plain(totalAmountOf(amount === undefined ? {} : { amount }))).toStrictEqual(plain(expected));
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['metadata.source', { metadata: { source: 'web' } }, 'web'],
    ['metadata missing', {}, 'unknown'],
    ['metadata null', { metadata: null }, 'unknown'],
    ['metadata not an object', { metadata: 'web' }, 'unknown'],
    ['source missing', { metadata: { promo: 'X' } }, 'unknown'],
    ['source empty', { metadata: { source: '' } }, 'unknown'],
    ['source not a string', { metadata: { source: 5 } }, 'unknown'],
  ])('sourceOf: %s', (_name, record, expected) => {
    expect(sourceOf(record)).toBe(expected);
  });

  test.each<[string, Record<string, unknown>, string | null]>([
    ['metadata.promo', { metadata: { promo: 'SUMMER10' } }, 'SUMMER10'],
    ['promo empty', { metadata: { promo: '' } }, null],
    ['promo null', { metadata: { promo: null } }, null],
    ['metadata missing', {}, null],
    ['metadata null', { metadata: null }, null],
  ])('promoOf: %s', (_name, record, expected) => {
    expect(promoOf(record)).toBe(expected);
  });

  test.each<[string, Record<string, unknown>, string | null]>([
    ['as sent', { currency: 'USD' }, 'USD'],
    ['empty', { currency: '' }, null],
    ['missing', {}, null],
    ['not a string', { currency: 978 }, null],
  ])('currencyOf: %s', (_name, record, expected) => {
    expect(currencyOf(record)).toBe(expected);
  });
});

describe('money (§5)', () => {
  test.each<[string, bigint | null]>([
    ['10.005', 1001n],
    ['-10.005', -1001n],
    ['1.005', 101n],
    ['2.675', 268n],
    ['0.285', 29n],
    ['8.075', 808n],
    ['0.004', 0n],
    ['0.005', 1n],
    ['-0.005', -1n],
    ['19.99', 1999n],
    ['20', 2000n],
    ['1e3', 100000n],
    ['1.5e-1', 15n],
    ['.5', 50n],
    ['5.', 500n],
    ['abc', null],
    ['', null],
    ['.', null],
    ['1.2.3', null],
    ['12,50', null],
    ['0.0001', 0n],
    ['1e-50', 0n],
    ['0e100', 0n],
    ['00012.5', 1250n],
    ['1e34', 10n ** 36n],
    ['1e36', 10n ** 40n],
    ['-1e999999', -(10n ** 40n)],
  ])('decimalTextToCents(%p) → %p', (text, expected) => {
    expect(plain(decimalTextToCents(text))).toStrictEqual(plain(expected));
  });

  test.each<[unknown, bigint | null | undefined]>([
    [19.99, 1999n],
    [10.005, 1001n],
    [-2.675, -268n],
    [7, 700n],
    ['19.99', 1999n],
    ['1.005', 101n],
    [true, undefined],
    [false, undefined],
    [null, null],
    [undefined, null],
    ['abc', undefined],
    ['', undefined],
    [{}, undefined],
    [[1], undefined],
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    ['9999999999999999.99', MAX_CENTS],
    ['-9999999999999999.99', -MAX_CENTS],
    ['10000000000000000', 1_000_000_000_000_000_000n],
    [1e16, 1_000_000_000_000_000_000n],
    [new JsonNumber('9999999999999999.99'), MAX_CENTS],
    [new JsonNumber('1.50'), 150n],
    [new JsonNumber('-0'), 0n],
    [new JsonNumber('1E400'), 10n ** 40n],
  ])('parseMoney(%p) → %p', (value, expected) => {
    expect(plain(parseMoney(value))).toStrictEqual(plain(expected));
  });

  test.each<[bigint, boolean]>([
    [MAX_CENTS, true],
    [-MAX_CENTS, true],
    [MAX_CENTS + 1n, false],
    [-MAX_CENTS - 1n, false],
  ])('fitsMoneyColumn(%p) → %p', (cents, expected) => {
    expect(fitsMoneyColumn(cents)).toBe(expected);
  });
});

describe('time', () => {
  test.each<[string, number | null]>([
    ['2025-10-01T10:00:00Z', OCT1_10H],
    ['2025-10-01T10:00:00', OCT1_10H],
    ['2025-10-01T10:00:00.123+05:30', OCT1_10H - 5.5 * HOUR + 123_000],
    ['2025-10-01T10:00:00.123456Z', OCT1_10H + 123_456],
    ['2025-10-01T10:00:00.1234567Z', OCT1_10H + 123_456],
    ['2025-10-01T05:00:00-05:00', OCT1_10H],
    ['2024-02-29T00:00:00Z', 1_709_164_800_000_000],
    ['1969-12-31T23:59:59.5Z', -500_000],
    ['0050-01-01T00:00:00Z', -60_589_296_000_000_000],
    ['9999-12-31T23:59:59Z', 253_402_300_799_000_000],
    ['2255-06-05T23:47:34.740991Z', Number.MAX_SAFE_INTEGER],
    // A double cannot hold these microseconds: refused rather than silently rounded (here into year 10000).
    ['9999-12-31T23:59:59.999999Z', null],
    ['2300-01-01T00:00:00.000001Z', null],
    ['2025-02-29T00:00:00Z', null],
    ['2025-02-30T10:00:00Z', null],
    ['2025-13-01T00:00:00Z', null],
    ['2025-04-31T00:00:00Z', null],
    ['2025-10-01T24:00:00Z', null],
    ['2025-10-01T10:60:00Z', null],
    ['2025-10-01T10:00:60Z', null],
    ['2025-10-01T10:00:00+24:00', null],
    ['2025-10-01', null],
    ['2025-10-01 10:00:00Z', null],
    ['2025-10-01T10:00Z', null],
    ['2025-10-01T10:00:00z', null],
    ['', null],
  ])('parseIsoDateTime(%p) → %p', (text, expected) => {
    expect(parseIsoDateTime(text)).toBe(expected);
  });

  test('parseIsoDateOrDateTime reads a calendar date as its UTC midnight', () => {
    expect(parseIsoDateOrDateTime('2025-10-01')).toBe(OCT1_10H - 10 * HOUR);
    expect(parseIsoDateOrDateTime('2025-02-30')).toBeNull();
    expect(parseIsoDateOrDateTime('2025-10-01T10:00:00Z')).toBe(OCT1_10H);
  });

  test.each<[number, string]>([
    [OCT1_10H, '2025-10-01 10:00:00.000000'],
    [OCT1_10H + 123_456, '2025-10-01 10:00:00.123456'],
    [OCT1_10H + 7, '2025-10-01 10:00:00.000007'],
    [-500_000, '1969-12-31 23:59:59.500000'],
    [253_402_300_799_000_000, '9999-12-31 23:59:59.000000'],
  ])('formatTimestamp(%p) → %p', (micros, expected) => {
    expect(formatTimestamp(micros)).toBe(expected);
  });

  test.each<[string, string]>([
    ['2025-10-01T23:30:00-05:00', '2025-10-02'],
    ['2025-10-01T00:30:00+05:00', '2025-09-30'],
    ['2025-10-01T23:59:59.999999Z', '2025-10-01'],
    ['2025-10-01T00:00:00Z', '2025-10-01'],
    ['1969-12-31T23:59:59.5Z', '1969-12-31'],
  ])('epochDay of %p is the UTC date %p', (text, expected) => {
    expect(epochDay(parseIsoDateTime(text)!)).toBe(Date.parse(`${expected}T00:00:00Z`) / 86_400_000);
  });

  test.each<[number, string]>([
    [OCT1_10H, '2025-10-01T10:00:00Z'],
    [OCT1_10H + 10 * 60_000_000, '2025-10-01T10:10:00Z'],
    [OCT1_10H + 123_000, '2025-10-01T10:00:00.123Z'],
    [OCT1_10H + 100_000, '2025-10-01T10:00:00.1Z'],
    [OCT1_10H + 123_456, '2025-10-01T10:00:00.123456Z'],
    [OCT1_10H + 10_000_000, '2025-10-01T10:00:10Z'],
  ])('formatIso(%p) → %p', (micros, expected) => {
    expect(formatIso(micros)).toBe(expected);
  });
});

describe('reference CSVs (§4.5)', () => {
  /** A reference file's rows as the stage streams them, read from `chunks` of its bytes. */
  async function rowsOf<T>(read: (input: Readable, file?: string) => AsyncIterable<ReferenceLine<T>>, csv: string | Buffer[], file?: string): Promise<T[]> {
    const rows: T[] = [];
    for await (const { row } of read(Readable.from(typeof csv === 'string' ? [Buffer.from(csv)] : csv), file)) rows.push(row);
    return rows;
  }
  const users = (csv: string, file?: string) => rowsOf(streamUsersCsv, csv, file);
  const products = (csv: string, file?: string) => rowsOf(streamProductsCsv, csv, file);

  test('users: BOM, CRLF, a quoted comma, a repeated id (every line: the merge keeps the last), a row without id skipped', async () => {
    const csv = [
      '\uFEFFuser_id,email,created_at,country',
      'u1,first@example.com,2024-01-05,PE',
      ',nobody@example.com,2024-01-01,US',
      '"u2","smith@example.com",2024-02-01T10:00:00-05:00,"Lima, PE"',
      'u1,second@example.com,,CO',
      '',
    ].join('\r\n');
    expect(await users(csv)).toEqual([
      { user_id: 'u1', email: 'first@example.com', country: 'PE', created_at: Date.parse('2024-01-05T00:00:00Z') * 1000, is_inferred: false },
      { user_id: 'u2', email: 'smith@example.com', country: 'Lima, PE', created_at: Date.parse('2024-02-01T15:00:00Z') * 1000, is_inferred: false },
      { user_id: 'u1', email: 'second@example.com', country: 'CO', created_at: null, is_inferred: false },
    ]);
  });

  test('users: columns in any order, a date becomes its UTC midnight, blanks are NULL', async () => {
    expect(await users('country,user_id,created_at,email\nAR,u3,2025-01-01,\n')).toEqual([
      { user_id: 'u3', email: null, country: 'AR', created_at: Date.parse('2025-01-01T00:00:00Z') * 1000, is_inferred: false },
    ]);
  });

  test('a reference value too long for its column is refused in one line naming file, line and column', async () => {
    await expect(users(`user_id,email\nu1,a@example.com\nu2,${'e'.repeat(257)}\n`, 'users file /x/users.csv')).rejects.toThrow(
      new InvalidInputError('users file /x/users.csv, line 3, column email: the value does not fit 256 bytes (UTF-8)'),
    );
    await expect(products(`sku,name\n${euros(258)},n\n`)).rejects.toThrow(new InvalidInputError('the products file, line 2, column sku: the value does not fit 256 bytes (UTF-8)'));
    await expect(products('sku,price\nA,1\nB,10000000000000000\n')).rejects.toThrow(new InvalidInputError('the products file, line 3, column price: the value does not fit DECIMAL(18,2)'));
    expect(await users(`user_id,email\nu1,${euros(255)}\n`)).toEqual([{ user_id: 'u1', email: euros(255), country: null, created_at: null, is_inferred: false }]);
  });

  test('each row comes with the line it ends on, whatever the chunks the bytes arrive in', async () => {
    const bytes = Buffer.from('\uFEFFuser_id,email\nu1,first@example.com\n\n,nobody@example.com\n"u2","two\nlines"\nu1,second@example.com\n');
    const lines = async (chunks: Buffer[]) => {
      const out: [string, number][] = [];
      for await (const { row, line } of streamUsersCsv(Readable.from(chunks))) out.push([row.user_id, line]);
      return out;
    };
    const expected = [['u1', 2], ['u2', 6], ['u1', 7]];
    expect(await lines([bytes])).toEqual(expected);
    // Split inside the BOM, a quoted field and a line break: the same rows and lines.
    expect(await lines([bytes.subarray(0, 2), bytes.subarray(2, 40), bytes.subarray(40, 68), bytes.subarray(68)])).toEqual(expected);
    expect((await rowsOf(streamUsersCsv, [bytes.subarray(0, 68), bytes.subarray(68)]))[1]).toEqual({ user_id: 'u2', email: 'two\nlines', country: null, created_at: null, is_inferred: false });
  });

  test('a file without a user_id column is refused, and so is one that is not CSV; a failed read stays what it was', async () => {
    await expect(users('id,email\n1,a@example.com\n')).rejects.toThrow(new InvalidInputError('the users file has no "user_id" column'));
    await expect(users('user_id,email\nu1,"open\n')).rejects.toThrow(new InvalidInputError('the users file is not valid CSV: Quote Not Closed: the parsing is finished with an opening quote at line 2'));
    // A lake error may be retried: it is not the file's fault.
    const failing = new Readable({ read() { this.destroy(new Error('connection reset')); } });
    await expect(rowsOf(streamUsersCsv, [])).resolves.toEqual([]);
    await expect((async () => { for await (const row of streamUsersCsv(failing)) void row; })()).rejects.toThrow(new Error('connection reset'));
  });

  test('products: a non-numeric price is NULL, prices are rounded half away from zero', async () => {
    const csv = 'sku,name,category,price\r\nA,"Widget, large",tools,19.99\r\nB,Gadget,,abc\r\nC,Thing,toys,\r\nD,Dice,games,10.005\r\n';
    expect(await products(csv)).toEqual([
      { sku: 'A', name: 'Widget, large', category: 'tools', price: 1999n, is_inferred: false },
      { sku: 'B', name: 'Gadget', category: null, price: null, is_inferred: false },
      { sku: 'C', name: 'Thing', category: 'toys', price: null, is_inferred: false },
      { sku: 'D', name: 'Dice', category: 'games', price: 1001n, is_inferred: false },
    ]);
  });
});
