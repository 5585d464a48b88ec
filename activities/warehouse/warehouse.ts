import type { LoadBookkeeping, LoadOutcome } from '../../core/load-counts';
import type { ObservedFields } from '../../core/schema-drift';
import type { QualityGates, QualityResult } from '../../core/quality';
import type { Lake } from '../lake';

export interface LoadRequest {
  bookkeeping: LoadBookkeeping;
  lake: Lake;
  /** Lake key of each staged table's COPY manifest. */
  manifests: Record<string, string>;
  /** The field paths the load's records had (schema drift); without them the load records none and compares nothing. */
  fields?: ObservedFields;
  /** The pipeline's quality gates: checked inside the load's transaction, a failed one rolls it back. None: no checks. */
  quality?: QualityGates;
}

/** A committed load: what it resolved and applied, and its quality checks when it had gates. */
export type LoadResult = LoadOutcome & { quality?: QualityResult[] };

export type { LoadBookkeeping, LoadOutcome };

export type Row = Record<string, unknown>;

/** A warehouse: DuckDB locally, Redshift in production. Both load the same staged Parquet with the same merge. */
export interface Warehouse {
  /** Identifies the target for people and for the pipeline's identity, e.g. `duckdb:/abs/path.duckdb`. */
  readonly name: string;
  /** Loads one staged load in one transaction: all of it or nothing (QualityGateError when a gate fails). */
  load(request: LoadRequest, heartbeat: (step: string) => void): Promise<LoadResult>;
  /** Runs a read-only query (reports, status). */
  query(sql: string): Promise<Row[]>;
}
