/**
 * Freshness of a pipeline: how far its data lags behind the clock. "Stale" means the WATERMARK (the latest
 * `created_at` loaded) is older than the limit when a run completes, as dbt's source freshness judges a source's
 * newest row: a run that succeeds but finds nothing new leaves the pipeline stale, which is the case a failure alert
 * never reports. Time since the last successful run is shown by `status`, not alerted: a run that fails alerts by
 * itself, and a schedule that stops running runs nothing that could alert.
 *
 * One alert per breach: each run hands the next whether it alerted (PipelineResult.freshness, the schedule's last
 * completion result), so a stale pipeline alerts at its first stale run and again only after a fresh one.
 */

export interface FreshnessState {
  limitSeconds: number;
  /** The run's end minus the watermark, in whole seconds; null without a watermark. */
  lagSeconds: number | null;
  /** Beyond the limit, or without a watermark at all (nothing loaded yet is not fresh). */
  stale: boolean;
  /** This breach was alerted, by this run or an earlier one: the next stale run stays silent. */
  alerted: boolean;
}

/** The freshness of a pipeline at `at`, and whether this run must alert (`alert`: a breach no run has alerted yet). */
export function judgeFreshness(limitSeconds: number, watermark: string | null, at: string, alreadyAlerted: boolean): { state: FreshnessState; alert: boolean } {
  const lagSeconds = watermark === null ? null : Math.floor((Date.parse(at) - Date.parse(watermark)) / 1000);
  const stale = lagSeconds === null || lagSeconds > limitSeconds;
  return { state: { limitSeconds, lagSeconds, stale, alerted: stale && alreadyAlerted }, alert: stale && !alreadyAlerted };
}

const UNITS = [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const;

/** A span of seconds for people, in its largest unit and the next: `45s`, `12m 5s`, `3h 0m`, `2d 4h`. */
export function formatAge(seconds: number): string {
  const total = Math.abs(Math.floor(seconds));
  const first = UNITS.findIndex(([, size]) => total >= size);
  const shown = first < 0 ? UNITS.slice(-1) : UNITS.slice(first, first + 2);
  return (seconds < 0 ? '-' : '') + shown.map(([unit, size], i) => `${Math.floor((i === 0 ? total : total % shown[0][1]) / size)}${unit}`).join(' ');
}
