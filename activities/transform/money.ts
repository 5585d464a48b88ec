/**
 * Exact money. Amounts become integers of cents (bigint) once, at parse time, rounded half away from zero on
 * the decimal text as written: 10.005 is 1001 cents, although the double nearest 10.005 is a hair below it.
 */

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Largest magnitude a DECIMAL(18,2) holds, in cents. */
export const MAX_CENTS = 10n ** 18n - 1n;

/** Decimal text (`12.5`, `-3`, `1e3`, `.5`) to cents, rounded half away from zero; null if not a number. */
export function decimalTextToCents(text: string): bigint | null {
  const m = DECIMAL_TEXT.exec(text.trim());
  if (!m) return null;
  const [, sign, intPart, fracPart = '', exp = '0'] = m;
  if (!intPart && !fracPart) return null;
  const exponent = Number(exp);
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 40) return null;
  // Move the decimal point by the exponent, then cut after two decimals and round on the next digit.
  let digits = intPart + fracPart;
  let point = intPart.length + exponent;
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  const cut = point + 2;
  const padded = digits.padEnd(cut + 1, '0');
  const whole = BigInt(padded.slice(0, cut) || '0');
  const roundUp = padded[cut] >= '5';
  const cents = whole + (roundUp ? 1n : 0n);
  return sign === '-' ? -cents : cents;
}

/**
 * A money field from JSON: a finite number or a numeric string becomes cents; anything else (booleans,
 * objects, blank or non-numeric strings, out-of-range values) is `undefined`. null/absent is `null`.
 */
export function parseMoney(value: unknown): bigint | null | undefined {
  if (value === null || value === undefined) return null;
  let cents: bigint | null = null;
  if (typeof value === 'number' && Number.isFinite(value)) cents = decimalTextToCents(String(value));
  else if (typeof value === 'string') cents = decimalTextToCents(value);
  if (cents === null || cents > MAX_CENTS || cents < -MAX_CENTS) return undefined;
  return cents;
}

/** Cents to the decimal text a DECIMAL(18,2) column reads: `-12.05`. */
export function formatCents(cents: bigint): string {
  const abs = cents < 0n ? -cents : cents;
  const text = abs.toString().padStart(3, '0');
  return `${cents < 0n ? '-' : ''}${text.slice(0, -2)}.${text.slice(-2)}`;
}
