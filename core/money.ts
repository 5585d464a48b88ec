/**
 * Exact money. Amounts become integers of cents (bigint) once, at parse time, rounded half away from zero on
 * the decimal text as written: 10.005 is 1001 cents, although the double nearest 10.005 is a hair below it.
 */

import { JsonNumber } from './json';

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** `-12`, `12.5`, `0.05`: up to 13 integer digits, so the cents stay below 2^53. */
const PLAIN_AMOUNT = /^-?(\d{1,13})(?:\.(\d{1,2}))?$/;

/** Largest magnitude a DECIMAL(18,2) holds, in cents. */
export const MAX_CENTS = 10n ** 18n - 1n;

/** Magnitudes from here on (in cents) are beyond every column: their exact value is never needed. */
const BEYOND_ANY_COLUMN = 10n ** 40n;

/**
 * Decimal text (`12.5`, `-3`, `1e3`, `.5`) to cents, rounded half away from zero; null if not a number. A value
 * of 10^36 or more comes back as a magnitude beyond any column, not exactly (its text could have any length).
 */
export function decimalTextToCents(text: string): bigint | null {
  // Most amounts are plain, with at most two decimals: exact in a double's integer range, no rounding to do.
  const plain = PLAIN_AMOUNT.exec(text);
  if (plain) {
    const cents = Number(plain[1]) * 100 + (plain[2] === undefined ? 0 : Number(plain[2].padEnd(2, '0')));
    return BigInt(text[0] === '-' ? -cents : cents);
  }
  const m = DECIMAL_TEXT.exec(text.trim());
  if (!m) return null;
  const [, sign, intPart, fracPart = '', exp = '0'] = m;
  if (!intPart && !fracPart) return null;
  // Significant digits and where the decimal point falls among them, the exponent applied.
  const leadingZeros = /^0*/.exec(intPart + fracPart)![0].length;
  let digits = (intPart + fracPart).slice(leadingZeros);
  let point = intPart.length - leadingZeros + Number(exp);
  if (digits === '' || point < -2) return 0n;
  const negative = sign === '-';
  if (point > 36) return negative ? -BEYOND_ANY_COLUMN : BEYOND_ANY_COLUMN;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  // Cut after two decimals and round on the next digit.
  const cut = point + 2;
  const padded = digits.padEnd(cut + 1, '0');
  const whole = BigInt(padded.slice(0, cut) || '0');
  const roundUp = padded[cut] >= '5';
  const cents = whole + (roundUp ? 1n : 0n);
  return negative ? -cents : cents;
}

/**
 * A money field from JSON, as cents of any magnitude (see fitsMoneyColumn): a finite number, a JsonNumber (its
 * exact text) or a numeric string; anything else (booleans, objects, blank or non-numeric strings) is
 * `undefined`. null/absent is `null`.
 */
export function parseMoney(value: unknown): bigint | null | undefined {
  if (value === null || value === undefined) return null;
  let cents: bigint | null = null;
  if (typeof value === 'number' && Number.isFinite(value)) cents = numberToCents(value);
  else if (value instanceof JsonNumber) cents = decimalTextToCents(value.text);
  else if (typeof value === 'string') cents = decimalTextToCents(value);
  return cents ?? undefined;
}

/** Below 2^43 doubles are closer than a cent apart, so at most one amount of whole cents rounds to each of them. */
const EXACT_CENTS_BELOW = 2 ** 43;

/**
 * A JSON number's cents: the number's own decimal text (`String(value)`, what the feed wrote unless it wrote more
 * digits than a double keeps) rounded half away from zero. When that text has at most two decimals its cents
 * divide back to the number exactly, which spares the text.
 */
function numberToCents(value: number): bigint | null {
  const cents = Math.round(value * 100);
  if (Math.abs(value) < EXACT_CENTS_BELOW && cents / 100 === value) return BigInt(cents);
  return decimalTextToCents(String(value));
}

/** Whether a DECIMAL(18,2) column holds these cents. */
export function fitsMoneyColumn(cents: bigint): boolean {
  return cents <= MAX_CENTS && cents >= -MAX_CENTS;
}
