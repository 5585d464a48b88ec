import { latestInstant } from './time';

/**
 * A load's counts, in the two shapes the stages agree on: what the transform's partitions staged (summed over
 * them; the load's reconciliation checks staging against it) and what the load resolved and applied.
 */

/** What the transform staged: every valid version of an order, and every rejection. */
export interface StagedCounts {
  /** Records read in the window. */
  extracted: number;
  /** Records rejected whole (one row each in rejected_records). */
  rejectedOrders: number;
  /** Valid records: every version of an order (dim_order staging). */
  versions: number;
  /** Valid items of every version (fact_sales staging). */
  versionLines: number;
  /** Rejected items of every version (the load keeps those of each order's latest version). */
  itemRejections: number;
}

/** What a load resolved (the latest version of each order, §4.2) and applied; etl_loads records it. */
export interface LoadOutcome {
  /** Orders whose version of this load is now the stored one. */
  ordersLoaded: number;
  /** Orders whose stored version is newer, so this load's version was not applied. */
  ordersKept: number;
  linesLoaded: number;
  /** Versions of an order that a later one of the same load replaced. */
  duplicates: number;
  /** Rejected items of the latest versions. */
  rejectedItems: number;
}

export const NO_STAGED_COUNTS: StagedCounts = { extracted: 0, rejectedOrders: 0, versions: 0, versionLines: 0, itemRejections: 0 };

/** The counts of a load's partitions, added up: the order of partitions does not matter. */
export function sumStagedCounts(parts: readonly StagedCounts[]): StagedCounts {
  const total = { ...NO_STAGED_COUNTS };
  for (const part of parts) for (const key of Object.keys(total) as (keyof StagedCounts)[]) total[key] += part[key];
  return total;
}

/** What a load records about itself in etl_loads: its run, its window, and what its partitions staged. */
export interface LoadBookkeeping extends StagedCounts {
  loadId: string;
  pipelineId: string;
  source: string;
  startedAt: string;
  sinceTs: string | null;
  untilTs: string | null;
  /** The latest valid created_at of all partitions (RFC 3339), or null when there was none. */
  watermark: string | null;
}

/** A run as its load records it. */
export interface LoadRun {
  loadId: string;
  pipelineId: string;
  source: string;
  startedAt: string;
  since?: string | null;
  until?: string | null;
}

/**
 * The one builder of a load's bookkeeping, from its run and what each partition's transform returned: counts
 * added up, the watermark the latest of theirs. The workflow, the tests and the bench all build it here.
 */
export function loadBookkeeping(run: LoadRun, partitions: readonly { counts: StagedCounts; watermark: string | null }[]): LoadBookkeeping {
  return {
    loadId: run.loadId,
    pipelineId: run.pipelineId,
    source: run.source,
    startedAt: run.startedAt,
    sinceTs: run.since ?? null,
    untilTs: run.until ?? null,
    watermark: partitions.reduce<string | null>((latest, p) => latestInstant(latest, p.watermark), null),
    ...sumStagedCounts(partitions.map((p) => p.counts)),
  };
}
