import path from 'node:path';
import type { QualityResult } from '../../core/quality';
import { redactUrls } from '../../core/redact';
import { STAGED_TABLES } from '../../core/schema';

/**
 * OpenLineage run events (spec 2-0-2) for runs of the pipeline: job = the pipeline, input = its source, outputs =
 * the warehouse tables a load writes. Pure: the same input gives the same event, so a retried emit sends the
 * same JSON (tests/lineage-event.test.ts pins it; tests/openlineage/ holds the schemas it is valid against).
 */

export const SPEC_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const FACETS = 'https://openlineage.io/spec/facets';
const FACET_SCHEMAS = {
  errorMessage: `${FACETS}/1-0-0/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet`,
  outputStatistics: `${FACETS}/1-0-0/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet`,
  dataQualityMetrics: `${FACETS}/1-0-3/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet`,
  dataQualityAssertions: `${FACETS}/1-2-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet`,
};

/** Where lineage tools file the pipelines' jobs. */
export const JOB_NAMESPACE = 'orders-etl';

/** The `producer` of every event and facet: the project at the running version. */
export function lineageProducer(version: string): string {
  return `https://github.com/orders-etl/orders-etl/tree/v${version}`;
}

/** What a completed run reports that lineage carries: its counts and, when checked, its quality. */
export interface LineageRunCounts {
  extracted: number;
  rejected: number;
  rejectedItems: number;
  ordersLoaded: number;
  linesLoaded: number;
  quality?: readonly QualityResult[];
}

/** One transition of a run, as the workflow tells it: the activity turns it into an event. */
export interface LineageTransition {
  eventType: 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';
  /** The workflow's own clock, so a retried emit keeps it. */
  eventTime: string;
  /** The Temporal run id (a UUID): one OpenLineage run per Temporal run. */
  runId: string;
  pipelineId: string;
  source: string;
  /** The warehouse's name (`duckdb:/abs/path` or `redshift:cluster/database`), else the run's spec. */
  warehouse: string;
  /** COMPLETE: the run's result. */
  result?: LineageRunCounts;
  /** FAIL: why (a URL's password in it is redacted, as in alerts). */
  error?: string;
}

export interface DatasetRef {
  namespace: string;
  name: string;
}

type Facet = { _producer: string; _schemaURL: string } & Record<string, unknown>;

export interface RunEvent {
  eventType: LineageTransition['eventType'];
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets?: Record<string, Facet> };
  job: DatasetRef;
  inputs: (DatasetRef & { facets?: Record<string, Facet>; inputFacets?: Record<string, Facet> })[];
  outputs: (DatasetRef & { outputFacets?: Record<string, Facet> })[];
}

/**
 * The source as a dataset: a file is `file` + its absolute path (OpenLineage's naming for local files); an Orders
 * API is its origin + the path of its orders endpoint. Credentials and queries are never part of the name.
 */
export function sourceDataset(source: string): DatasetRef {
  if (!/^https?:\/\//i.test(source)) return { namespace: 'file', name: path.resolve(source) };
  const url = new URL(source);
  return { namespace: `${url.protocol}//${url.host}`, name: `${url.pathname.replace(/\/+$/, '')}/orders` };
}

/**
 * A warehouse table as a dataset: DuckDB's namespace is its file (`duckdb://` + path), Redshift's its cluster or
 * workgroup with `database.schema.table` names (a bare `redshift`: a worker without a Redshift target, which a
 * failed run still names). The tables live in the default schema of each.
 */
export function warehouseDataset(warehouse: string, table: string): DatasetRef {
  if (warehouse === 'redshift') return { namespace: 'redshift', name: `public.${table}` };
  const redshift = /^redshift:([^/]+)\/(.+)$/.exec(warehouse);
  if (redshift) return { namespace: `redshift://${redshift[1]}`, name: `${redshift[2]}.public.${table}` };
  const duckdb = /^duckdb:(.+)$/.exec(warehouse);
  return { namespace: duckdb ? `duckdb://${path.resolve(duckdb[1])}` : warehouse, name: `main.${table}` };
}

/** Rows each table got from a load; the dimensions' merges are not counted, so they carry no statistics. */
function rowsWritten(result: LineageRunCounts): Partial<Record<string, number>> {
  return { dim_order: result.ordersLoaded, fact_sales: result.linesLoaded, rejected_records: result.rejected + result.rejectedItems };
}

/** Quality outcomes as assertions: a warning did not block the load (`warn`), a failure did (`error`). */
function assertions(quality: readonly QualityResult[]) {
  return quality.map(({ check, outcome }) => ({
    assertion: check,
    success: outcome === 'pass',
    ...(outcome === 'pass' ? {} : { severity: outcome === 'warn' ? 'warn' : 'error' }),
  }));
}

export function buildRunEvent(transition: LineageTransition, producer: string): RunEvent {
  const facet = (schemaURL: string, body: Record<string, unknown>): Facet => ({ _producer: producer, _schemaURL: schemaURL, ...body });
  const { result, error } = transition;

  const input: RunEvent['inputs'][number] = sourceDataset(transition.source);
  if (result) {
    input.inputFacets = { dataQualityMetrics: facet(FACET_SCHEMAS.dataQualityMetrics, { rowCount: result.extracted, columnMetrics: {} }) };
    if (result.quality?.length) input.facets = { dataQualityAssertions: facet(FACET_SCHEMAS.dataQualityAssertions, { assertions: assertions(result.quality) }) };
  }
  const written = result ? rowsWritten(result) : {};
  const outputs = STAGED_TABLES.map((table) => {
    const rowCount = written[table];
    const dataset: RunEvent['outputs'][number] = warehouseDataset(transition.warehouse, table);
    if (rowCount !== undefined) dataset.outputFacets = { outputStatistics: facet(FACET_SCHEMAS.outputStatistics, { rowCount }) };
    return dataset;
  });

  return {
    eventType: transition.eventType,
    eventTime: transition.eventTime,
    producer,
    schemaURL: SPEC_URL,
    run: {
      runId: transition.runId,
      ...(error === undefined ? {} : { facets: { errorMessage: facet(FACET_SCHEMAS.errorMessage, { message: redactUrls(error), programmingLanguage: 'TypeScript' }) } }),
    },
    job: { namespace: JOB_NAMESPACE, name: transition.pipelineId },
    inputs: [input],
    outputs,
  };
}
