/** What a run of the pipeline is given and returns: plain data, shared by workflow, activities and clients. */

export interface PipelineInput {
  /** Identifies one pipeline (one source into one warehouse): the watermark belongs to it. */
  pipelineId: string;
  /** An Orders API base URL, or the absolute path of a JSON/JSONL file of orders. */
  source: string;
  /** Reference files (absolute paths or s3:// URLs); without one, every id is an inferred member. */
  usersCsv?: string;
  productsCsv?: string;
  /** `duckdb:/abs/path.duckdb` or `redshift`. */
  warehouse: string;
  /** An absolute directory or `s3://bucket/prefix`. */
  lake: string;
  /** Extract from this instant (inclusive); without it, from the pipeline's last watermark minus the lookback. */
  since?: string;
  /** Extract up to this instant (exclusive). */
  until?: string;
  /** How far before the last watermark an incremental run starts again, for late arrivals. Default 0. */
  lookbackSeconds?: number;
  /** Records per API page. Default 500. */
  pageSize?: number;
  /** Records per transform chunk: bounds the worker's memory. Default 50,000. */
  chunkRows?: number;
  /**
   * How far past the run's start a created_at may lie before it counts as a bad clock (quarantined as
   * future_created_at, so it never moves the watermark). Default DEFAULT_FUTURE_TOLERANCE_SECONDS.
   */
  futureToleranceSeconds?: number;
}

/** Five minutes: more than any honest clock skew, far less than a schedule's interval. */
export const DEFAULT_FUTURE_TOLERANCE_SECONDS = 300;

export interface PipelineResult {
  loadId: string;
  pipelineId: string;
  since: string | null;
  until: string | null;
  extracted: number;
  duplicates: number;
  /** Records rejected as a whole (record checks). */
  rejected: number;
  rejectedItems: number;
  ordersLoaded: number;
  ordersKept: number;
  linesLoaded: number;
  /** The pipeline's watermark after this run: the max created_at seen by it and its predecessors. */
  watermark: string | null;
  startedAt: string;
  finishedAt: string;
}

/** Live progress, answered by the workflow's `progress` query. */
export interface PipelineProgress {
  stage: 'starting' | 'extract' | 'transform' | 'stage' | 'load' | 'done' | 'failed';
  loadId: string;
  since: string | null;
  pages?: number;
  extracted?: number;
  orders?: number;
  lines?: number;
  error?: string;
}
