import { formatAge, type FreshnessState } from '../core/freshness';
import { formatObserved, type QualityResult } from '../core/quality';
import { redactUrls } from '../core/redact';

/** What the CLI prints: progress on stderr, results on stdout as readable tables or one JSON object. */

export function progressLine(message: string): void {
  process.stderr.write(`orders-etl: ${redactUrls(message)}\n`);
}

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Control characters as JSON writes them (`\n`, `\u001b`): data never breaks a table or drives the terminal. */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : String(value);
  return String(value);
}

/** Rows as an aligned text table; numbers right-aligned, control characters escaped. */
export function formatTable(rows: Record<string, unknown>[], columns = rows.length ? Object.keys(rows[0]) : []): string {
  if (columns.length === 0) return '(no rows)\n';
  const cells = rows.map((row) => columns.map((c) => escapeControl(cell(row[c]))));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number' || row[c] === null || /^-?\d+(\.\d+)?$/.test(String(row[c]))));
  const widths = columns.map((c, i) => Math.max(escapeControl(c).length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => (numeric[i] ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(columns.map(escapeControl)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n') + '\n';
}

/** A record as a two-column table of label and value. */
export function formatSummary(title: string, entries: [string, unknown][]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return `${title}\n${entries.map(([k, v]) => `  ${k.padEnd(width)}  ${cell(v)}`).join('\n')}\n`;
}

/** A run's quality checks as a table (observed to four significant digits; the exact values are in --json). */
export function formatQuality(results: readonly QualityResult[]): string {
  return formatTable(results.map((r) => ({ check: r.check, observed: formatObserved(r.observed), threshold: r.threshold, outcome: r.outcome })));
}

/** A freshness state in a few words: `fresh (lag 5m 2s, limit 2h 0m)`, `stale (…), alerted`. */
export function freshnessText(f: FreshnessState): string {
  const lag = f.lagSeconds === null ? 'no watermark' : `lag ${formatAge(f.lagSeconds)}`;
  return `${f.stale ? 'stale' : 'fresh'} (${lag}, limit ${formatAge(f.limitSeconds)})${f.stale && f.alerted ? ', alerted' : ''}`;
}
