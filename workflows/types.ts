/** What a run of the pipeline is given and returns: plain data, shared by workflow, activities and clients. */

import type { SourceMark } from '../activities/extract/source-mark';
import type { SchemaChanges } from '../core/schema-drift';
import type { FreshnessState } from '../core/freshness';
import type { QualityGates, QualityResult } from '../core/quality';

export type { FreshnessState, QualityGates, QualityResult, SourceMark };

/**
 * How the extract retries a failing source request. The budget is for attempts in a row without progress: a
 * page fetched starts a fresh one. Backoff doubles from the initial interval up to the maximum.
 */
export interface SourceRetryPolicy {
  /** Default 1,000 ms (also the pause before continuing after a failure that followed progress). */
  initialIntervalMs?: number;
  /** Default 20,000 ms. */
  maximumIntervalMs?: number;
  /** Default 15: with the defaults a source down for good fails the run after about 3.5 minutes. */
  attemptsWithoutProgress?: number;
}

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
  /**
   * Partitions to split the run into, any worker taking each (see `planPartitions`); default automatic: a file
   * one per 32 MiB, an API one. A JSONL file may yield fewer (boundaries are at lines).
   */
  partitions?: number;
  /** How many partitions run at once. Default DEFAULT_PARALLELISM. */
  parallelism?: number;
  /** Records per transform chunk: bounds the worker's memory. Default DEFAULT_CHUNK_ROWS. */
  chunkRows?: number;
  /** Retries of a failing source request; see `SourceRetryPolicy` for the defaults. */
  sourceRetry?: SourceRetryPolicy;
  /**
   * How far past the run's start a created_at may lie before it counts as a bad clock (quarantined as
   * future_created_at, so it never moves the watermark). Default DEFAULT_FUTURE_TOLERANCE_SECONDS.
   */
  futureToleranceSeconds?: number;
  /** The quality gates every load is held to (core/quality.ts); default DEFAULT_QUALITY_GATES. */
  quality?: QualityGates;
  /**
   * A schedule's freshness limit: a run that leaves the watermark further behind than this alerts, once per breach
   * (core/freshness.ts). Unset: no freshness check.
   */
  freshnessLimitSeconds?: number;
}

/** A worker's activity slots: the heaviest activities hold a chunk in memory; a few at a time keep a 2-core worker responsive. */
export const DEFAULT_WORKER_CONCURRENCY = 4;

/** Partitions running at once unless a run says otherwise: one worker's slots. */
export const DEFAULT_PARALLELISM = DEFAULT_WORKER_CONCURRENCY;

/** Orders a transform chunk holds before it is written (at least a page): bounds a transform's memory. */
export const DEFAULT_CHUNK_ROWS = 25_000;

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
  /** A file source: how far this run read it. The next run quarantines the undated records after it. */
  sourceMark: SourceMark | null;
  /** Fields that appeared, vanished or changed type against the previous load (the first few; schema_changes has all). */
  schemaChanges: SchemaChanges;
  startedAt: string;
  finishedAt: string;
  /** The load's quality checks, in the checks' order. */
  quality: QualityResult[];
  /** With a freshness limit: how far behind the watermark is, and whether this breach was alerted. */
  freshness?: FreshnessState;
}

/** A run's load, as the warehouse's lock queues it and as a waiting run's progress shows the holder. */
export interface WarehouseLoad {
  workflowId: string;
  runId: string;
  pipelineId: string;
  loadId: string;
}

/** What a pipeline's completed runs leave for the next one. */
export interface PipelineState {
  watermark: string | null;
  sourceMark: SourceMark | null;
  /** Whether the current freshness breach was already alerted (the newest run's `freshness.alerted`). */
  staleAlerted: boolean;
}

/** Live progress, answered by the workflow's `progress` query. */
export interface PipelineProgress {
  /**
   * `partitions`: the partitions' extracts and transforms run (`partitions` says how far); `waiting`: staged,
   * waiting for the load holding the warehouse (`heldBy`) to finish.
   */
  stage: 'starting' | 'plan' | 'partitions' | 'stage' | 'waiting' | 'load' | 'done' | 'failed';
  loadId: string;
  since: string | null;
  partitions?: PartitionsProgress;
  /** Raw pages of the partitions whose extract finished (a running extract's are in its heartbeat). */
  pages?: number;
  /** Records read in the window by the partitions transformed so far. */
  extracted?: number;
  orders?: number;
  lines?: number;
  /** While `waiting`: the load that holds the warehouse. */
  heldBy?: WarehouseLoad;
  error?: string;
}

export interface PartitionsProgress {
  total: number;
  /** Extracted and transformed. */
  done: number;
  running: number;
  /** How the count was chosen (`PartitionPlan.chosen`). */
  chosen: string;
  /** How many run at once, at most. */
  parallelism: number;
}
