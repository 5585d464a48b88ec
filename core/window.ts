import { parseIsoDateTime } from './time';

/** A `created_at` window in microseconds: since inclusive, until exclusive. */
export interface Window {
  since?: number;
  until?: number;
  /**
   * A windowed read also takes the records without a valid `created_at` (missing, invalid, not JSON) that start
   * at this stream position or later: they are new since an earlier read, and must be quarantined once.
   */
  undatedFrom?: number;
}

/**
 * Whether a record (parsed; anything for a text that is not JSON) at a stream position belongs to a window:
 * its valid created_at is within it, or it has none and is new since `undatedFrom`. No window takes everything.
 */
export function inWindow(record: unknown, position: number, window: Window): boolean {
  if (window.since === undefined && window.until === undefined) return true;
  const value = (record as { created_at?: unknown } | null)?.created_at;
  const at = typeof value === 'string' ? parseIsoDateTime(value) : null;
  if (at === null) return window.undatedFrom !== undefined && position >= window.undatedFrom;
  return (window.since === undefined || at >= window.since) && (window.until === undefined || at < window.until);
}
