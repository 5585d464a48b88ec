import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  proxyActivities,
  type RetryPolicy,
  setHandler,
  sleep,
  TemporalFailure,
  upsertSearchAttributes,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExtractResult } from '../activities/extract/extract';
import type { Partition } from '../activities/extract/partitions';
import type { TransformResult } from '../activities/transform/transform';
import { loadBookkeeping } from '../core/load-counts';
import { mergeObservedFields } from '../core/schema-drift';
import { causeMessage, NON_RETRYABLE_ERROR_TYPES } from '../core/errors';
import { DEFAULT_QUALITY_GATES, worstOutcome } from '../core/quality';
import { latestInstant } from '../core/time';
import {
  DEFAULT_CHUNK_ROWS,
  DEFAULT_FUTURE_TOLERANCE_SECONDS,
  DEFAULT_PARALLELISM,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type SourceRetryPolicy,
  type WarehouseLoad,
} from './types';
import { withWarehouseLock } from './warehouse-lock';
import { lineageEmitter } from './lineage';
import { alertQualityWarnings, alertSchemaDrift, qualityFailureOf, watchFreshness } from './watching';

/**
 * One run of the pipeline: plan → per partition (extract → transform), fanned out over the task queue → stage →
 * load, exchanging lake keys only (payloads stay tiny). Deterministic orchestration: every effect is an activity.
 * The pipeline's state (watermark, source mark) lives in Temporal: a schedule hands each run the previous result;
 * otherwise it is read from the pipeline's completed runs.
 *
 * The load is ONE warehouse transaction for the whole run, not one per partition: the merge resolves each order's
 * latest version across all partitions (created_at, then stream position), the reconciliation checks the run's
 * totals, and etl_loads gets one row, so the tables move from one consistent state to the next whatever the
 * partitions' number or order of completion, and a failure of any partition loads nothing.
 */

export const progressQuery = defineQuery<PipelineProgress>('progress');

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };

// Heartbeat timeouts are short so a crashed worker's activity moves to another worker within seconds. A
// cancelled run waits until its activity has really stopped, so nothing is still writing when it ends.
const longActivity = {
  startToCloseTimeout: '2h',
  heartbeatTimeout: '20s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
const { transform, stageReference, stage } = proxyActivities<Activities>({ ...longActivity, retry: { ...retry, maximumAttempts: 8 } });
const { load } = proxyActivities<Activities>({ ...longActivity, heartbeatTimeout: '60s', retry: { ...retry, maximumAttempts: 5 } });
const { pipelineState, planPartitions, alert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 5 },
});

/**
 * The load id: sortable by time, readable in the UI, unique per run. Run ids are UUIDv7, whose leading digits
 * are a timestamp shared by runs started together: the random tail is what tells them apart.
 */
function newLoadId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${workflowInfo().runId.replace(/-/g, '').slice(-12)}`;
}

const DEFAULT_SOURCE_RETRY: Required<SourceRetryPolicy> = { initialIntervalMs: 1_000, maximumIntervalMs: 20_000, attemptsWithoutProgress: 15 };

/**
 * The extract, with Temporal's retries for attempts without progress. A call that made progress and then met a
 * transient failure returns where it stopped: the next call, after the initial interval (or the source's
 * Retry-After), starts with a fresh attempt budget. So a flaky source finishes, and one down for good fails after
 * the budget's backoff. When nothing fails, one call does the whole extract (the history stays small).
 */
async function extractAll(request: Parameters<Activities['extract']>[0], policy: SourceRetryPolicy | undefined): Promise<ExtractResult> {
  const { initialIntervalMs, maximumIntervalMs, attemptsWithoutProgress } = { ...DEFAULT_SOURCE_RETRY, ...policy };
  const { extract } = proxyActivities<Activities>({
    ...longActivity,
    retry: { ...retry, initialInterval: initialIntervalMs, maximumInterval: maximumIntervalMs, maximumAttempts: attemptsWithoutProgress },
  });
  let result = await extract(request);
  while (!result.done) {
    log.warn('the source failed after progress: continuing with a fresh attempt budget', { pages: result.pages, error: result.stoppedBy?.message });
    await sleep(result.stoppedBy?.retryAfterMs ?? initialIntervalMs);
    result = await extract({ ...request, resumeFrom: result });
  }
  return result;
}

/**
 * Runs `work` on every item, at most `limit` at a time. After a failure no further item starts, the running ones
 * settle (their activities finish or fail by themselves), and then the first failure is thrown.
 */
async function eachBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lane = async () => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failed) throw failed.error;
  return results;
}

function minusSeconds(iso: string, seconds: number): string {
  return new Date(Date.parse(iso) - seconds * 1000).toISOString();
}

export async function ordersEtl(input: PipelineInput): Promise<PipelineResult> {
  const startedAt = new Date().toISOString();
  const loadId = newLoadId();
  const lastResult = workflowInfo().lastResult as PipelineResult | undefined;
  const progress: PipelineProgress = { stage: 'starting', loadId, since: input.since ?? null };
  setHandler(progressQuery, () => progress);
  upsertSearchAttributes({ PipelineId: [input.pipelineId], LoadId: [loadId], PipelineStage: ['starting'] });
  const lineage = lineageEmitter(input);
  await lineage({ eventType: 'START', eventTime: startedAt });
  const enter = (stageName: PipelineProgress['stage']) => {
    progress.stage = stageName;
    upsertSearchAttributes({ PipelineStage: [stageName] });
  };

  try {
    // An explicit --since is a backfill or a replay: it never moves the pipeline's watermark backwards.
    const prior = lastResult
      ? { watermark: lastResult.watermark, sourceMark: lastResult.sourceMark ?? null, staleAlerted: lastResult.freshness?.alerted ?? false }
      : await pipelineState(input.pipelineId);
    const priorWatermark = prior.watermark;
    const since = input.since ?? (priorWatermark === null ? null : minusSeconds(priorWatermark, input.lookbackSeconds ?? 0));
    progress.since = since;
    log.info('extracting', { loadId, since, until: input.until ?? null });

    enter('plan');
    const plan = await planPartitions({ pipelineId: input.pipelineId, source: input.source, since: since ?? undefined, until: input.until, partitions: input.partitions, sourceMark: prior.sourceMark });
    const parallelism = input.parallelism ?? DEFAULT_PARALLELISM;
    log.info('partitions planned', { loadId, chosen: plan.chosen, parallelism });
    const partitionsProgress = { total: plan.partitions.length, done: 0, running: 0, chosen: plan.chosen, parallelism };
    Object.assign(progress, { partitions: partitionsProgress, pages: 0, extracted: 0, orders: 0, lines: 0 });
    const pagesOf: number[] = plan.partitions.map(() => 0);
    const notAfter = new Date(Date.parse(startedAt) + (input.futureToleranceSeconds ?? DEFAULT_FUTURE_TOLERANCE_SECONDS) * 1000).toISOString();

    // Each partition is its own activities, so any worker polling the queue takes it, and each resumes by itself
    // after a crash (the extract and the transform continue from their last heartbeats).
    const runPartition = async (partition: Partition): Promise<{ extracted: ExtractResult; transformed: TransformResult }> => {
      partitionsProgress.running++;
      try {
        const extracted = await extractAll(
          {
            pipelineId: input.pipelineId,
            loadId,
            lake: input.lake,
            source: input.source,
            since: since ?? undefined,
            until: input.until,
            pageSize: input.pageSize ?? 500,
            requestTimeoutMs: 30_000,
            partition,
            undatedFrom: plan.undatedFrom,
          },
          input.sourceRetry,
        );
        // The pages of finished extracts; a running one's are in its heartbeat (the CLI adds them up).
        pagesOf[partition.index] = extracted.pages;
        progress.pages = pagesOf.reduce((a, b) => a + b, 0);
        const transformed = await transform({
          pipelineId: input.pipelineId,
          loadId,
          lake: input.lake,
          partition: partition.index,
          raw: { prefix: extracted.rawPrefix, pages: extracted.pages, verbatim: extracted.verbatim, base: extracted.base, window: extracted.window },
          rejectedAt: startedAt,
          chunkRows: input.chunkRows ?? DEFAULT_CHUNK_ROWS,
          // From the workflow's own start, so a retried transform judges the same records future.
          notAfter,
        });
        partitionsProgress.done++;
        const { counts } = transformed;
        Object.assign(progress, { extracted: progress.extracted! + counts.extracted, orders: progress.orders! + counts.versions, lines: progress.lines! + counts.versionLines });
        return { extracted, transformed };
      } finally {
        partitionsProgress.running--;
      }
    };
    // The reference files do not depend on the orders: they are staged while the partitions run.
    const referenceParts = input.usersCsv || input.productsCsv ? stageReference({ pipelineId: input.pipelineId, loadId, lake: input.lake, usersCsv: input.usersCsv, productsCsv: input.productsCsv }) : Promise.resolve([]);
    referenceParts.catch(() => undefined); // its failure is thrown where it is awaited, once the partitions settled
    enter('partitions');
    const partitions = await eachBounded(plan.partitions, parallelism, runPartition);
    // Only now that every partition is in: the watermark is the latest of all of them.
    const bookkeeping = loadBookkeeping(
      { loadId, pipelineId: input.pipelineId, source: input.source, startedAt, since, until: input.until },
      partitions.map((p) => p.transformed),
    );
    // A file's partitions are in stream order: the last one read furthest.
    const sourceMark = partitions.at(-1)?.extracted.sourceMark ?? null;

    enter('stage');
    const parts = [...partitions.flatMap((p) => p.transformed.parts), ...(await referenceParts)];
    const staged = await stage({ pipelineId: input.pipelineId, loadId, lake: input.lake, parts });

    // One load at a time per warehouse: this run queues on the warehouse's lock, and says who holds it meanwhile.
    const waiting = (heldBy: WarehouseLoad) => {
      enter('waiting');
      progress.heldBy = heldBy;
    };
    const outcome = await withWarehouseLock({ warehouse: input.warehouse, pipelineId: input.pipelineId, loadId }, waiting, () => {
      enter('load');
      delete progress.heldBy;
      return load({
        pipelineId: input.pipelineId,
        lake: input.lake,
        warehouse: input.warehouse,
        manifests: staged.manifests,
        bookkeeping,
        fields: mergeObservedFields(partitions.map((p) => p.transformed.fields)),
        quality: input.quality ?? DEFAULT_QUALITY_GATES,
      });
    });

    // Staged versions until now; the load resolved them to orders.
    Object.assign(progress, { orders: outcome.ordersLoaded + outcome.ordersKept, lines: outcome.linesLoaded });
    const result: PipelineResult = {
      loadId,
      pipelineId: input.pipelineId,
      since,
      until: input.until ?? null,
      extracted: bookkeeping.extracted,
      duplicates: outcome.duplicates,
      rejected: bookkeeping.rejectedOrders,
      rejectedItems: outcome.rejectedItems,
      ordersLoaded: outcome.ordersLoaded,
      ordersKept: outcome.ordersKept,
      linesLoaded: outcome.linesLoaded,
      watermark: latestInstant(priorWatermark, bookkeeping.watermark),
      sourceMark,
      schemaChanges: outcome.schemaChanges,
      startedAt,
      finishedAt: new Date().toISOString(),
      quality: outcome.quality ?? [],
    };
    enter('done');
    upsertSearchAttributes({
      RecordsExtracted: [result.extracted],
      RecordsLoaded: [result.ordersLoaded],
      RecordsRejected: [result.rejected + result.rejectedItems],
      QualityOutcome: [worstOutcome(result.quality)],
      ...(result.watermark ? { Watermark: [new Date(result.watermark)] } : {}),
    });
    await alertQualityWarnings(result);
    await alertSchemaDrift(result);
    const freshness = await watchFreshness(input, result, prior.staleAlerted);
    if (freshness) result.freshness = freshness;
    upsertMemo({ summary: result });
    await lineage({ eventType: 'COMPLETE', eventTime: result.finishedAt, result });
    return result;
  } catch (err) {
    if (isCancellation(err)) {
      // Cancelled by someone: not a failure to alert about, but its lineage run ends (outside the cancelled scope).
      await CancellationScope.nonCancellable(() => lineage({ eventType: 'ABORT', eventTime: new Date().toISOString() }));
      throw err;
    }
    const message = causeMessage(err);
    progress.stage = 'failed';
    progress.error = message;
    upsertSearchAttributes({ PipelineStage: ['failed'] });
    // A failed quality gate committed nothing, yet the run shows what its checks measured.
    const quality = qualityFailureOf(err);
    if (quality) {
      upsertSearchAttributes({ QualityOutcome: ['fail'] });
      upsertMemo({ quality });
    }
    const info = workflowInfo();
    try {
      await alert({ workflowId: info.workflowId, runId: info.runId, pipelineId: input.pipelineId, error: message, failedAt: new Date().toISOString() });
    } catch (alertError) {
      log.error('the failure alert could not be sent', { error: String(alertError) });
    }
    await lineage({ eventType: 'FAIL', eventTime: new Date().toISOString(), error: message });
    // Temporal failures (an activity's, with its attempts and cause) fail the run as they are.
    if (err instanceof TemporalFailure) throw err;
    throw ApplicationFailure.nonRetryable(message, 'PipelineFailed');
  }
}
