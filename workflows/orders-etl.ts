import {
  ActivityCancellationType,
  ApplicationFailure,
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
import type { ExtractInput, ExtractResult } from '../activities/extract/extract';
import { NON_RETRYABLE_ERROR_TYPES } from '../core/errors';
import { formatIso, parseIsoDateTime } from '../core/time';
import {
  DEFAULT_FUTURE_TOLERANCE_SECONDS,
  type PipelineInput,
  type PipelineProgress,
  type PipelineResult,
  type SourceRetryPolicy,
  type WarehouseLoad,
} from './types';
import { withWarehouseLock } from './warehouse-lock';

/**
 * One run of the pipeline: extract → transform → stage → load, exchanging lake keys only (payloads stay tiny).
 * Deterministic orchestration: every effect is an activity. The pipeline's state (watermark, source mark) lives in
 * Temporal: a schedule hands each run the previous result; otherwise it is read from the pipeline's completed runs.
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
const { transform, stage } = proxyActivities<Activities>({ ...longActivity, retry: { ...retry, maximumAttempts: 8 } });
const { load } = proxyActivities<Activities>({ ...longActivity, heartbeatTimeout: '60s', retry: { ...retry, maximumAttempts: 5 } });
const { pipelineState, alert } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 5 },
});

/** The later of two watermarks, compared as instants: their texts may differ in form (`…:00Z`, `…:00.000Z`, `…:00.5Z`). */
function maxIso(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  const [x, y] = [parseIsoDateTime(a), parseIsoDateTime(b)];
  if (x === null || y === null) return x === null ? b : a;
  return formatIso(Math.max(x, y));
}

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
async function extractAll(request: ExtractInput & { lake: string }, policy: SourceRetryPolicy | undefined, onCall: (call: ExtractResult) => void): Promise<ExtractResult> {
  const { initialIntervalMs, maximumIntervalMs, attemptsWithoutProgress } = { ...DEFAULT_SOURCE_RETRY, ...policy };
  const { extract } = proxyActivities<Activities>({
    ...longActivity,
    retry: { ...retry, initialInterval: initialIntervalMs, maximumInterval: maximumIntervalMs, maximumAttempts: attemptsWithoutProgress },
  });
  let result = await extract(request);
  onCall(result);
  while (!result.done) {
    log.warn('the source failed after progress: continuing with a fresh attempt budget', { pages: result.pages, error: result.stoppedBy?.message });
    await sleep(result.stoppedBy?.retryAfterMs ?? initialIntervalMs);
    result = await extract({ ...request, resumeFrom: result });
    onCall(result);
  }
  return result;
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
  const enter = (stageName: PipelineProgress['stage']) => {
    progress.stage = stageName;
    upsertSearchAttributes({ PipelineStage: [stageName] });
  };

  try {
    // An explicit --since is a backfill or a replay: it never moves the pipeline's watermark backwards.
    const prior = lastResult ? { watermark: lastResult.watermark, sourceMark: lastResult.sourceMark ?? null } : await pipelineState(input.pipelineId);
    const priorWatermark = prior.watermark;
    const since = input.since ?? (priorWatermark === null ? null : minusSeconds(priorWatermark, input.lookbackSeconds ?? 0));
    progress.since = since;
    log.info('extracting', { loadId, since, until: input.until ?? null });

    enter('extract');
    const extracted = await extractAll(
      {
        loadId,
        lake: input.lake,
        source: input.source,
        since: since ?? undefined,
        until: input.until,
        pageSize: input.pageSize ?? 500,
        requestTimeoutMs: 30_000,
        sourceMark: prior.sourceMark,
      },
      input.sourceRetry,
      (call) => Object.assign(progress, { pages: call.pages, extracted: call.records }),
    );

    enter('transform');
    const transformed = await transform({
      loadId,
      lake: input.lake,
      partition: 0,
      raw: { prefix: extracted.rawPrefix, pages: extracted.pages, verbatim: false, base: 0 },
      rejectedAt: startedAt,
      chunkRows: input.chunkRows ?? 50_000,
      // From the workflow's own start, so a retried transform judges the same records future.
      notAfter: new Date(Date.parse(startedAt) + (input.futureToleranceSeconds ?? DEFAULT_FUTURE_TOLERANCE_SECONDS) * 1000).toISOString(),
    });
    const { counts } = transformed;
    Object.assign(progress, { orders: counts.versions, lines: counts.versionLines });

    enter('stage');
    const staged = await stage({ loadId, lake: input.lake, parts: transformed.parts, usersCsv: input.usersCsv, productsCsv: input.productsCsv });

    // One load at a time per warehouse: this run queues on the warehouse's lock, and says who holds it meanwhile.
    const waiting = (heldBy: WarehouseLoad) => {
      enter('waiting');
      progress.heldBy = heldBy;
    };
    const outcome = await withWarehouseLock({ warehouse: input.warehouse, pipelineId: input.pipelineId, loadId }, waiting, () => {
      enter('load');
      delete progress.heldBy;
      return load({
        lake: input.lake,
        warehouse: input.warehouse,
        manifests: staged.manifests,
        bookkeeping: {
          loadId,
          pipelineId: input.pipelineId,
          source: input.source,
          startedAt,
          sinceTs: since,
          untilTs: input.until ?? null,
          watermark: transformed.watermark,
          ...counts,
        },
      });
    });

    const result: PipelineResult = {
      loadId,
      pipelineId: input.pipelineId,
      since,
      until: input.until ?? null,
      extracted: counts.extracted,
      duplicates: outcome.duplicates,
      rejected: counts.rejectedOrders,
      rejectedItems: outcome.rejectedItems,
      ordersLoaded: outcome.ordersLoaded,
      ordersKept: outcome.ordersKept,
      linesLoaded: outcome.linesLoaded,
      watermark: maxIso(priorWatermark, transformed.watermark),
      sourceMark: extracted.sourceMark ?? null,
      startedAt,
      finishedAt: new Date().toISOString(),
    };
    enter('done');
    upsertSearchAttributes({
      RecordsExtracted: [result.extracted],
      RecordsLoaded: [result.ordersLoaded],
      RecordsRejected: [result.rejected + result.rejectedItems],
      ...(result.watermark ? { Watermark: [new Date(result.watermark)] } : {}),
    });
    upsertMemo({ summary: result });
    return result;
  } catch (err) {
    if (isCancellation(err)) throw err; // cancelled by someone: not a failure to alert about
    const message = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    progress.stage = 'failed';
    progress.error = message;
    upsertSearchAttributes({ PipelineStage: ['failed'] });
    const info = workflowInfo();
    try {
      await alert({ workflowId: info.workflowId, runId: info.runId, pipelineId: input.pipelineId, error: message, failedAt: new Date().toISOString() });
    } catch (alertError) {
      log.error('the failure alert could not be sent', { error: String(alertError) });
    }
    // Temporal failures (an activity's, with its attempts and cause) fail the run as they are.
    if (err instanceof TemporalFailure) throw err;
    throw ApplicationFailure.nonRetryable(message, 'PipelineFailed');
  }
}
