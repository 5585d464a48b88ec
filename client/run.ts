import type { WorkflowHandle } from '@temporalio/client';
import { progressQuery, type ordersEtl } from '../workflows';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { formatSummary, progressLine } from './output';
import type { TemporalSession } from './temporal';

/** Workflow ids say what they are: the pipeline and when the run was asked for. */
export function runWorkflowId(pipelineId: string, at = new Date()): string {
  return `orders-etl-${pipelineId}-${at.toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z')}`;
}

/** What every run of a pipeline carries, manual or scheduled: its id to search by, its source and warehouse to show. */
export function runTags(input: PipelineInput): { searchAttributes: { PipelineId: string[] }; memo: { source: string; warehouse: string } } {
  return { searchAttributes: { PipelineId: [input.pipelineId] }, memo: { source: input.source, warehouse: input.warehouse } };
}

/** Reports the run's stage (from its query) and the extract's pages (from its heartbeat) as they change. */
function watchProgress(handle: WorkflowHandle<typeof ordersEtl>): () => void {
  let last = '';
  const timer = setInterval(async () => {
    try {
      const progress = await handle.query(progressQuery);
      let line = `${progress.stage}`;
      if (progress.stage === 'extract') {
        const pending = (await handle.describe()).raw.pendingActivities?.[0];
        const payload = pending?.heartbeatDetails?.payloads?.[0]?.data;
        if (payload) {
          const detail = JSON.parse(Buffer.from(payload).toString('utf8')) as { pages?: number; records?: number };
          line += `: ${detail.pages ?? 0} pages, ${detail.records ?? 0} records`;
        }
        if (pending?.attempt && pending.attempt > 1) line += ` (attempt ${pending.attempt}: ${pending.lastFailure?.message ?? ''})`;
      } else if (progress.extracted !== undefined) {
        line += `: ${progress.extracted} records extracted`;
      }
      if (line !== last) progressLine((last = line));
    } catch {
      // The run may not have started its first task yet; the next tick asks again.
    }
  }, 500);
  return () => clearInterval(timer);
}

export async function startRun(session: TemporalSession, input: PipelineInput): Promise<WorkflowHandle<typeof ordersEtl>> {
  return session.client.workflow.start('ordersEtl', {
    taskQueue: session.taskQueue,
    workflowId: runWorkflowId(input.pipelineId),
    args: [input],
    ...runTags(input),
  }) as Promise<WorkflowHandle<typeof ordersEtl>>;
}

/** Starts a run and waits for it, showing progress on stderr. */
export async function runAndWait(session: TemporalSession, input: PipelineInput): Promise<PipelineResult> {
  const handle = await startRun(session, input);
  progressLine(`started ${handle.workflowId} (pipeline ${input.pipelineId})`);
  const stop = watchProgress(handle);
  try {
    return await handle.result();
  } finally {
    stop();
  }
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
    ['duration', `${((Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 1000).toFixed(1)} s`],
  ]);
}
