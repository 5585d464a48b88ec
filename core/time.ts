/**
 * Strict ISO 8601 date-times, independent of the machine's time zone. `Date.parse` is not used: it accepts
 * impossible dates (February 30 becomes March 2) and reads a string without an offset as local time.
 */

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MICROS_PER_DAY = 86_400_000_000;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  return [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): exact for every year, no Date object. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Milliseconds since the epoch of a UTC date-time. (`Date.UTC` alone would read years 0–99 as 1900–1999.) */
function utcMillis(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000;
}

function isValidDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/**
 * Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±hh:mm]` (no offset means UTC) to microseconds since the epoch,
 * or returns null when it is not such a string or names an impossible instant. Digits past microseconds are
 * truncated: the warehouse keeps microseconds.
 */
export function parseIsoDateTime(text: string): number | null {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (!isValidDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const micros = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'));
  const epochMs = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  const total = epochMs * 1000 + micros;
  // Far from 1970 (after 2255, before 1684) a double cannot hold every microsecond: refuse what it would round
  // (9999-12-31T23:59:59.999999Z would become year 10000, which no TIMESTAMP text can name). Within ±2^53 it is exact.
  if (Math.abs(total) <= Number.MAX_SAFE_INTEGER) return total;
  return BigInt(epochMs) * 1000n + BigInt(micros) === BigInt(total) ? total : null;
}

/** Parses a calendar date `YYYY-MM-DD` (or a full date-time) to microseconds, or null. */
export function parseIsoDateOrDateTime(text: string): number | null {
  const m = ISO_DATE.exec(text);
  if (!m) return parseIsoDateTime(text);
  const [year, month, day] = m.slice(1, 4).map(Number);
  return isValidDate(year, month, day) ? utcMillis(year, month, day) * 1000 : null;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` in UTC: the form DuckDB and Redshift read as TIMESTAMP. */
export function formatTimestamp(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // always UTC
  const fraction = String(micros - ms * 1000).padStart(3, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${fraction}`;
}

/** The UTC calendar date of an instant, as days since 1970-01-01 (what a DATE column holds). */
export function epochDay(micros: number): number {
  return Math.floor(micros / MICROS_PER_DAY);
}

/** RFC 3339 in UTC with the fraction only when there is one: what the watermark and the API's `since` use. */
export function formatIso(micros: number): string {
  const text = formatTimestamp(micros).replace(' ', 'T').replace(/\.?0+$/, '');
  return `${text}Z`;
}

/** The later of two instants (RFC 3339), compared as instants: their texts may differ in form (`…:00Z`, `…:00.000Z`). */
export function latestInstant(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  const [x, y] = [parseIsoDateTime(a), parseIsoDateTime(b)];
  if (x === null || y === null) return x === null ? b : a;
  return formatIso(Math.max(x, y));
}
