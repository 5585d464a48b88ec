import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledFailure, TerminatedFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { progressQuery, type ordersEtl } from '../workflows';
import { STAGED_TABLES, type TableName } from '../core/schema';
import type { PipelineInput, PipelineProgress, PipelineResult } from '../workflows/types';
import { Interrupted, type InterruptSignal, type Interrupts } from './interrupts';
import { formatSchemaChanges, schemaChangesCell } from './schema-changes-output';
import { worstOutcome } from '../core/quality';
import { formatQuality, formatSummary, freshnessText, progressLine } from './output';
import type { TemporalSession } from './temporal';

/** Workflow ids say what they are: the pipeline and when the run was asked for. */
export function runWorkflowId(pipelineId: string, at = new Date()): string {
  return `orders-etl-${pipelineId}-${at.toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z')}`;
}

/** What every run of a pipeline carries, manual or scheduled: its id to search by, its source, warehouse and lake to show. */
export function runTags(input: PipelineInput): { searchAttributes: { PipelineId: string[] }; memo: { source: string; warehouse: string; lake: string } } {
  return { searchAttributes: { PipelineId: [input.pipelineId] }, memo: { source: input.source, warehouse: input.warehouse, lake: input.lake } };
}

/** The running activity as `describe` shows it: its last heartbeat details (its own account of its progress) and attempt. */
export interface PendingActivity {
  detail: unknown;
  attempt: number;
  lastFailure?: string;
  /** Pages the running extracts have written so far (their heartbeats), all partitions. */
  extractPages?: number;
}

/**
 * Of the running activities (a run's partitions run several at once), the one most in trouble: the highest
 * attempt; and the pages the running extracts report.
 */
async function pendingActivity(handle: WorkflowHandle<typeof ordersEtl>): Promise<PendingActivity> {
  const pendings = (await handle.describe()).raw.pendingActivities ?? [];
  const detailOf = (p: (typeof pendings)[number] | undefined): unknown => {
    const payload = p?.heartbeatDetails?.payloads?.[0]?.data;
    return payload ? JSON.parse(Buffer.from(payload).toString('utf8')) : undefined;
  };
  const pending = pendings.reduce<(typeof pendings)[number] | undefined>((worst, p) => ((p.attempt ?? 1) > (worst?.attempt ?? 0) ? p : worst), undefined);
  const extractPages = pendings
    .filter((p) => p.activityType?.name === 'extract')
    .reduce((sum, p) => sum + ((detailOf(p) as { pages?: number } | undefined)?.pages ?? 0), 0);
  return { detail: detailOf(pending), attempt: pending?.attempt ?? 1, lastFailure: pending?.lastFailure?.message ?? undefined, extractPages };
}

/** A stage's progress in its own units: partitions done and pages read, tables written, the load's step. */
function stageDetail(progress: PipelineProgress, { detail, extractPages = 0 }: PendingActivity): string | undefined {
  switch (progress.stage) {
    case 'partitions': {
      const { total = 0, done = 0, running = 0 } = progress.partitions ?? {};
      return `${done} of ${total} done, ${running} running, ${(progress.pages ?? 0) + extractPages} pages read`;
    }
    case 'stage':
      return detail === undefined ? undefined : `writing ${String(detail)} (table ${STAGED_TABLES.indexOf(detail as TableName) + 1} of ${STAGED_TABLES.length})`;
    default:
      return detail === undefined ? undefined : String(detail); // the load's step, as its warehouse names it
  }
}

const ACTIVITY_STAGES: PipelineProgress['stage'][] = ['partitions', 'stage', 'load'];

/** The run's progress as one line: its stage (from its query) and, in an activity's stage, that activity's progress. */
export function progressText(progress: PipelineProgress, activity?: PendingActivity): string {
  if (progress.stage === 'waiting' && progress.heldBy) {
    const { workflowId, pipelineId, loadId } = progress.heldBy;
    return `waiting for ${workflowId} (pipeline ${pipelineId}, load ${loadId}) to finish loading`;
  }
  if (!activity || !ACTIVITY_STAGES.includes(progress.stage)) return progress.stage;
  const shown = stageDetail(progress, activity);
  const line = shown ? `${progress.stage}: ${shown}` : progress.stage;
  return activity.attempt > 1 ? `${line} (attempt ${activity.attempt}: ${activity.lastFailure ?? ''})` : line;
}

async function progressOf(handle: WorkflowHandle<typeof ordersEtl>): Promise<{ progress: PipelineProgress; line: string }> {
  const progress = await handle.query(progressQuery);
  return { progress, line: progressText(progress, ACTIVITY_STAGES.includes(progress.stage) ? await pendingActivity(handle) : undefined) };
}

/** What the run's plan chose, said once: how many partitions, why, and how many run at once. */
export function planText({ total, chosen, parallelism }: NonNullable<PipelineProgress['partitions']>): string {
  return `partitions: ${chosen}; ${Math.min(total, parallelism)} at a time`;
}

/**
 * Reports progress as it changes, until stopped. Stopping aborts the request in flight and waits for it, so no
 * call (or its retry) is left to hit a connection that is closed next.
 */
function watchProgress(handle: WorkflowHandle<typeof ordersEtl>): { stop(): Promise<void> } {
  const stopped = new AbortController();
  let request = new AbortController();
  const watching = (async () => {
    let last = '';
    let planned = false;
    while (!stopped.signal.aborted) {
      request = new AbortController();
      try {
        const { progress, line } = await handle.client.connection.withAbortSignal(request.signal, () => progressOf(handle));
        if (stopped.signal.aborted) break;
        if (progress.partitions && !planned) progressLine(planText(progress.partitions));
        planned ||= progress.partitions !== undefined;
        if (line !== last) progressLine((last = line));
      } catch {
        // The run may not have started its first task yet; the next tick asks again.
      }
      await sleep(500, undefined, { signal: stopped.signal }).catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      stopped.abort();
      request.abort();
      await watching;
    },
  };
}

export async function startRun(session: TemporalSession, input: PipelineInput): Promise<WorkflowHandle<typeof ordersEtl>> {
  return session.client.workflow.start('ordersEtl', {
    taskQueue: session.taskQueue,
    workflowId: runWorkflowId(input.pipelineId),
    args: [input],
    ...runTags(input),
  }) as Promise<WorkflowHandle<typeof ordersEtl>>;
}

/** Starts a run and waits for it, showing progress on stderr. A signal cancels it (see stopRun). */
export async function runAndWait(session: TemporalSession, input: PipelineInput, interrupts: Interrupts): Promise<PipelineResult> {
  if (interrupts.received) throw new Interrupted(interrupts.received, 'before the run started');
  const handle = await startRun(session, input);
  progressLine(`started ${handle.workflowId} (pipeline ${input.pipelineId})`);
  const result = handle.result();
  const watching = watchProgress(handle);
  let signal: InterruptSignal | undefined;
  try {
    signal = await Promise.race([result.then(() => undefined), interrupts.after(1)]);
  } finally {
    await watching.stop();
  }
  if (signal === undefined) return result;
  throw await stopRun(handle, result, signal, interrupts);
}

/** How long an interrupted command waits for its cancelled run: a running activity learns of it at its next heartbeat. */
const CANCEL_WAIT_MS = 25_000;

/**
 * Cancels the run and waits for it to end, so nothing of it keeps running; after CANCEL_WAIT_MS, or at a
 * second signal, it is terminated instead. Returns what to report.
 */
async function stopRun(handle: WorkflowHandle<typeof ordersEtl>, result: Promise<PipelineResult>, signal: InterruptSignal, interrupts: Interrupts): Promise<Interrupted> {
  const end = result.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  progressLine(`cancelling run ${handle.workflowId}: waiting up to ${CANCEL_WAIT_MS / 1000} s for it to stop (Ctrl-C again terminates it now)`);
  await handle.cancel().catch(() => undefined); // it may have ended meanwhile: `end` tells
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = await Promise.race([
    end.then(() => undefined),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`it did not stop within ${CANCEL_WAIT_MS / 1000} s`), CANCEL_WAIT_MS))),
    interrupts.after(2).then(() => 'interrupted again'),
  ]);
  clearTimeout(timer);
  if (gaveUp) await handle.terminate(`orders-etl was interrupted (${signal}) and ${gaveUp}`).catch(() => undefined);
  return new Interrupted(signal, `run ${handle.workflowId} ${howItEnded(await end, gaveUp)}`);
}

function howItEnded(end: { value: PipelineResult } | { error: unknown }, gaveUp: string | undefined): string {
  if ('value' in end) return `completed before it could be cancelled (load ${end.value.loadId})`;
  const { error } = end;
  if (error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure) return 'cancelled';
  if (error instanceof WorkflowFailedError && error.cause instanceof TerminatedFailure) return `terminated (${gaveUp ?? 'by someone else'})`;
  const failure = error instanceof Error ? (error.cause instanceof Error ? error.cause : error) : undefined;
  return `failed: ${failure?.message ?? String(error)}`;
}

export function formatRunSummary(result: PipelineResult): string {
  return formatSummary(`load ${result.loadId}`, [
    ['pipeline', result.pipelineId],
    ['since', result.since ?? '(full extract)'],
    ['until', result.until ?? '(open)'],
    ['extracted', result.extracted],
    ['duplicates', result.duplicates],
    ['rejected', result.rejected],
    ['rejected items', result.rejectedItems],
    ['orders loaded', result.ordersLoaded],
    ['orders kept', result.ordersKept],
    ['lines loaded', result.linesLoaded],
    ['watermark', result.watermark ?? '(none)'],
    ['schema changes', schemaChangesCell(result.schemaChanges)],
    ['duration', `${((Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 1000).toFixed(1)} s`],
    ['quality', worstOutcome(result.quality)],
    ...(result.freshness ? [['freshness', freshnessText(result.freshness)] as [string, string]] : []),
  ]) + (result.quality.length ? `\n${formatQuality(result.quality)}` : '') + formatSchemaChanges(result.schemaChanges, result.loadId);
}
