import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { QualityGateError, TransientSourceError } from '../core/errors';
import type { QualityGates, QualityResult } from '../core/quality';
import { extractOrders, type ExtractInput, type ExtractProgress, type ExtractResult } from './extract/extract';
import { planPartitions, type PartitionPlan, type PlanInput } from './extract/partitions';
import type { SourceMark } from './extract/source-mark';
import type { StagedPart } from '../core/lake-layout';
import type { Lakes, S3Settings } from './lake';
import { stageLoad, type StageInput, type StageResult } from './stage/stage';
import type { TransformInput, TransformProgress, TransformResult } from './transform/transform';
import { stageReferenceInThread, transformInThread, type ReferenceFiles } from './threads';
import { sendAlert, type AlertInput } from './alert/alert';
import { buildRunEvent, lineageProducer, type LineageTransition } from './lineage/lineage-event';
import { createLineageTransport, type LineageSettings } from './lineage/lineage-transport';
import { metrics, timedStage } from './metrics';
import type { LoadBookkeeping, LoadResult, Warehouses } from './warehouse';
import { schemaChangesOf, schemaChangesQuery } from './warehouse/schema-drift-sql';
import { NO_SCHEMA_CHANGES, type ObservedFields, type SchemaChanges } from '../core/schema-drift';
import type { RedshiftTarget } from './warehouse/redshift-warehouse';
import { isRunOpen, requestLock } from './warehouse/warehouse-lock';
import type { PipelineResult, PipelineState } from '../workflows/types';

/** The worker's configuration, validated once at its start (client/config.ts `loadWorkerConfig`). */
export interface ActivityConfig {
  s3: S3Settings;
  /** Absent when the worker has no REDSHIFT_* configuration: a `redshift` run then fails at once, saying so. */
  redshift?: RedshiftTarget;
  /** ALERT_SMTP_URL, ALERT_EMAIL_TO, ALERT_EMAIL_FROM, ALERT_WEBHOOK_URL. */
  alerts: NodeJS.ProcessEnv;
  /** TEMPORAL_UI_URL, for links to a run in alerts. */
  uiUrl?: string;
  /** Authentication to an Orders API (ORDERS_API_TOKEN, ORDERS_API_HEADERS): never in a workflow's input. */
  sourceHeaders: Record<string, string>;
  /** OPENLINEAGE_URL (+ OPENLINEAGE_API_KEY) or OPENLINEAGE_FILE, and the version the events' producer names; absent or neither set: no lineage. */
  lineage?: LineageSettings & { version: string };
}

export interface ActivityDeps {
  /** For the pipeline's state: its earlier runs are in Temporal's visibility store. */
  client: Client;
  namespace: string;
  config: ActivityConfig;
  /** Lakes and warehouses, each opened once (with the process's one S3 and Redshift client) and reused. */
  lakes: Lakes;
  warehouses: Warehouses;
}

/** What every stage activity gets besides its own input: the pipeline it works for (the metrics' `pipeline` label). */
type OfPipeline = { pipelineId: string };

/** Each check of a load, counted by its outcome (the series start at 0 with the pipeline's, startPipelineSeries). */
function countQuality(pipeline: string, results: readonly QualityResult[]): void {
  for (const { check, outcome } of results) metrics.qualityChecks.inc({ pipeline, check, outcome });
}

/**
 * The running activity's heartbeat, bound to its context when it starts (progress callbacks may run outside its
 * async context: a thread's messages, a timer). Heartbeats carry progress (Temporal hands the last one back to a
 * retry or to another worker) and bring cancellation: a cancelled run's activity stops at its next heartbeat
 * instead of running to the end.
 */
function activityHeartbeat(): (details?: unknown) => void {
  const context = Context.current();
  return (details) => {
    context.heartbeat(details);
    context.cancellationSignal.throwIfAborted();
  };
}

export function createActivities(deps: ActivityDeps) {
  const { lakes, warehouses } = deps;
  const lineage = deps.config.lineage && createLineageTransport(deps.config.lineage);
  const producer = deps.config.lineage && lineageProducer(deps.config.lineage.version);
  // A run that failed because its warehouse cannot be opened (no Redshift target) still names it in its lineage.
  const warehouseName = (spec: string): string => {
    try {
      return warehouses.open(spec).name;
    } catch {
      return spec;
    }
  };

  return {
    /**
     * What the pipeline's completed runs left: the latest watermark (search attribute `Watermark`) and the
     * newest run's source mark and freshness alert state (memo `summary`).
     */
    async pipelineState(pipelineId: string): Promise<PipelineState> {
      const query = `WorkflowType = 'ordersEtl' AND ExecutionStatus = 'Completed' AND PipelineId = '${pipelineId.replace(/'/g, "\\'")}'`;
      let latest: Date | null = null;
      let sourceMark: SourceMark | null | undefined;
      let staleAlerted: boolean | undefined;
      let seen = 0;
      // Datetime search attributes keep milliseconds: a hair before the true watermark, which the inclusive,
      // idempotent `since` makes safe.
      for await (const execution of deps.client.workflow.list({ query, pageSize: 100 })) {
        const watermark = execution.searchAttributes.Watermark?.[0];
        if (watermark instanceof Date && (latest === null || watermark > latest)) latest = watermark;
        const summary = execution.memo?.summary as Partial<PipelineResult> | undefined;
        sourceMark ??= summary?.sourceMark ?? null;
        staleAlerted ??= summary?.freshness?.alerted ?? false;
        if (++seen >= 100) break; // list is newest first; each run's watermark already includes its predecessors'
      }
      return { watermark: latest === null ? null : latest.toISOString(), sourceMark: sourceMark ?? null, staleAlerted: staleAlerted ?? false };
    },

    /** The run's partitions, with record boundaries found in the file (or time slices of an API's window). */
    planPartitions: timedStage('plan', async (input: PlanInput & OfPipeline): Promise<PartitionPlan> => planPartitions(input)),

    /** One call of the extract: it resumes from its last heartbeat (a retry) or from where an earlier call stopped. */
    extract: timedStage('extract', async (input: ExtractInput & OfPipeline & { lake: string }): Promise<ExtractResult> => {
      const resumeFrom = (Context.current().info.heartbeatDetails as ExtractProgress | undefined) ?? input.resumeFrom;
      if (resumeFrom) Context.current().log.info('resuming extract', { ...resumeFrom });
      try {
        const result = await extractOrders(input, lakes.open(input.lake), activityHeartbeat(), {
          resumeFrom,
          signal: Context.current().cancellationSignal,
          headers: deps.config.sourceHeaders,
        });
        metrics.recordsExtracted.inc({ pipeline: input.pipelineId }, result.records - (resumeFrom?.records ?? 0));
        return result;
      } catch (err) {
        // Retry-After is honoured by asking Temporal for that delay instead of its next backoff step.
        if (err instanceof TransientSourceError && err.retryAfterMs !== undefined) {
          throw ApplicationFailure.create({ type: err.name, message: err.message, nextRetryDelay: err.retryAfterMs });
        }
        throw err;
      }
    }),

    /**
     * One partition's transform, on a thread of its own (partitions side by side use every core): it resumes after
     * the last chunk it heartbeated (a retry, or another worker).
     */
    transform: timedStage('transform', async (input: TransformInput & OfPipeline & { lake: string }): Promise<TransformResult> => {
      const resumeFrom = Context.current().info.heartbeatDetails as TransformProgress | undefined;
      const result = await transformInThread(input, { lake: input.lake, s3: deps.config.s3, resumeFrom, heartbeat: activityHeartbeat() });
      metrics.recordsRejected.inc({ pipeline: input.pipelineId }, result.counts.rejectedOrders - (resumeFrom?.result.counts.rejectedOrders ?? 0));
      return result;
    }),

    /** The reference files' rows as parts of the dimensions (while the partitions run). */
    stageReference: timedStage('reference', async (input: OfPipeline & ReferenceFiles & { lake: string }): Promise<StagedPart[]> =>
      stageReferenceInThread(input, { lake: input.lake, s3: deps.config.s3, heartbeat: activityHeartbeat() }),
    ),

    /** The manifests naming every part of the load, once all are in. */
    stage: timedStage('stage', async (input: StageInput & OfPipeline & { lake: string }): Promise<StageResult> => {
      const result = await stageLoad(input, lakes.open(input.lake), activityHeartbeat());
      metrics.bytesStaged.inc({ pipeline: input.pipelineId }, result.bytes);
      return result;
    }),

    /**
     * The run's one load transaction. A failed quality gate reaches the workflow as a non-retryable failure whose
     * details hold every check's result (the run shows what was measured though nothing was committed).
     */
    load: timedStage('load', async (input: OfPipeline & { bookkeeping: LoadBookkeeping; manifests: Record<string, string>; lake: string; warehouse: string; quality?: QualityGates; fields?: ObservedFields }): Promise<LoadResult & { schemaChanges: SchemaChanges }> => {
      const warehouse = warehouses.open(input.warehouse);
      const pipeline = input.pipelineId;
      let outcome: LoadResult;
      try {
        outcome = await warehouse.load({ bookkeeping: input.bookkeeping, manifests: input.manifests, lake: lakes.open(input.lake), quality: input.quality, fields: input.fields }, activityHeartbeat());
      } catch (err) {
        if (!(err instanceof QualityGateError)) throw err;
        countQuality(pipeline, err.results);
        throw ApplicationFailure.create({ type: err.name, message: err.message, details: [err.results], nonRetryable: true });
      }
      countQuality(pipeline, outcome.quality ?? []);
      metrics.ordersLoaded.inc({ pipeline }, outcome.ordersLoaded);
      metrics.linesLoaded.inc({ pipeline }, outcome.linesLoaded);
      metrics.runs.inc({ pipeline, status: 'loaded' });
      // The schema changes the load recorded, read back once it committed.
      const schemaChanges = input.fields?.fields.length ? schemaChangesOf(await warehouse.query(schemaChangesQuery(input.bookkeeping.loadId))) : NO_SCHEMA_CHANGES;
      return { ...outcome, schemaChanges };
    }),

    /** Queues the calling run's load on its warehouse's lock (a local activity of the pipeline workflow). */
    async requestWarehouseLock(input: { warehouse: string; pipelineId: string; loadId: string }) {
      const { info } = Context.current();
      const load = { ...info.workflowExecution, pipelineId: input.pipelineId, loadId: input.loadId };
      return requestLock(deps.client, warehouses.open(input.warehouse).name, info.taskQueue, load);
    },

    /** For the warehouse lock: whether its holder still runs. */
    async isRunOpen(run: { workflowId: string; runId: string }): Promise<boolean> {
      return isRunOpen(deps.client, run);
    },

    /** Tells people a run failed or wants a look (`kind`), with a link to it in the Web UI when `TEMPORAL_UI_URL` is set. */
    async alert(input: AlertInput): Promise<void> {
      // The alert is retried until delivered: only its first attempt counts the failed run.
      if ((input.kind ?? 'failure') === 'failure' && Context.current().info.attempt === 1) metrics.runs.inc({ pipeline: input.pipelineId, status: 'failed' });
      const ui = deps.config.uiUrl?.replace(/\/+$/, '');
      const uiUrl = ui && `${ui}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(input.workflowId)}/${input.runId}/history`;
      await sendAlert({ ...input, uiUrl }, deps.config.alerts);
    },

    /**
     * Sends one OpenLineage event of a run (a local activity of the pipeline workflow): a no-op without
     * OPENLINEAGE_URL or OPENLINEAGE_FILE. A failure throws so Temporal retries it; the workflow then goes on.
     */
    async emitLineage(transition: LineageTransition): Promise<void> {
      if (!lineage || !producer) return;
      const event = buildRunEvent({ ...transition, warehouse: warehouseName(transition.warehouse) }, producer);
      await lineage.send(event);
      Context.current().log.debug('lineage event sent', { eventType: event.eventType, to: lineage.target });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
