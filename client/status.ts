import path from 'node:path';
import type { Client } from '@temporalio/client';
import { integer, parseFlag, type EnvConfig } from './config';
import { escapeControl, formatSummary, formatTable } from './output';
import { sourceSpec, warehouseSpec } from './pipeline-options';
import { openTemporal } from './temporal';

export interface RunRow {
  workflowId: string;
  status: string;
  startedAt: string;
  closedAt: string | null;
  extracted: number | null;
  loaded: number | null;
  rejected: number | null;
  watermark: string | null;
}

export interface RunFailure {
  workflowId: string;
  closedAt: string | null;
  /** The failed run's error: the innermost cause, as the CLI's one-line error gives it. */
  reason: string;
}

export interface PipelineStatus {
  pipelineId: string;
  source: string | null;
  warehouse: string | null;
  watermark: string | null;
  runs: RunRow[];
  /** The newest failed run, null when none failed. */
  lastFailure: RunFailure | null;
}

/** Why a run failed, from the failure its history closes with. */
async function failureReason(client: Client, workflowId: string, runId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const closing = history.events?.at(-1);
  let failure = closing?.workflowExecutionFailedEventAttributes?.failure;
  while (failure?.cause) failure = failure.cause;
  return (failure?.message ?? '(no failure recorded)').replace(/\s*\n\s*/g, ' ');
}

/** Pipelines and their recent runs, read from Temporal's visibility store (the watermark lives there). */
export async function pipelineStatus(
  config: EnvConfig,
  flags: { source?: string; warehouse?: string; lake?: string; limit: string },
): Promise<{ pipelines: PipelineStatus[]; text: string }> {
  const source = flags.source === undefined ? undefined : sourceSpec(flags.source, config);
  const warehouse = flags.warehouse === undefined ? undefined : warehouseSpec(flags.warehouse, config);
  const lake = flags.lake === undefined || flags.lake.startsWith('s3://') ? flags.lake : path.resolve(flags.lake);
  const limit = parseFlag('--limit', flags.limit, integer(1, 1000));
  const session = await openTemporal(config, { embeddedWorker: false });
  const pipelines = new Map<string, PipelineStatus>();
  try {
    for await (const run of session.client.workflow.list({ query: `WorkflowType = 'ordersEtl'` })) {
      const memo = (run.memo ?? {}) as { source?: string; warehouse?: string; lake?: string };
      if ((source && memo.source !== source) || (warehouse && memo.warehouse !== warehouse) || (lake && memo.lake !== lake)) continue;
      const pipelineId = String(run.searchAttributes.PipelineId?.[0] ?? '(unknown)');
      const entry = pipelines.get(pipelineId) ?? { pipelineId, source: memo.source ?? null, warehouse: memo.warehouse ?? null, watermark: null, runs: [], lastFailure: null };
      pipelines.set(pipelineId, entry);
      const watermark = (run.searchAttributes.Watermark?.[0] as Date | undefined)?.toISOString() ?? null;
      if (run.status.name === 'COMPLETED' && watermark && (entry.watermark === null || watermark > entry.watermark)) entry.watermark = watermark;
      // Listed newest first: the first failed run met is the last failure.
      if (run.status.name === 'FAILED' && entry.lastFailure === null) {
        entry.lastFailure = { workflowId: run.workflowId, closedAt: run.closeTime?.toISOString() ?? null, reason: await failureReason(session.client, run.workflowId, run.runId) };
      }
      if (entry.runs.length < limit) {
        const count = (name: string) => (run.searchAttributes[name]?.[0] as number | undefined) ?? null;
        entry.runs.push({
          workflowId: run.workflowId,
          status: run.status.name,
          startedAt: run.startTime.toISOString(),
          closedAt: run.closeTime?.toISOString() ?? null,
          extracted: count('RecordsExtracted'),
          loaded: count('RecordsLoaded'),
          rejected: count('RecordsRejected'),
          watermark,
        });
      }
    }
  } finally {
    await session.close();
  }
  const list = [...pipelines.values()];
  const text = list.length
    ? list
        .map((p) =>
          formatSummary(`pipeline ${p.pipelineId}`, [
            ['source', p.source ?? ''],
            ['warehouse', p.warehouse ?? ''],
            ['watermark', p.watermark ?? '(none)'],
            ...(p.lastFailure ? [['last failure', escapeControl(`${p.lastFailure.closedAt ?? ''} ${p.lastFailure.workflowId}: ${p.lastFailure.reason}`)] as [string, string]] : []),
          ]) + `\n${formatTable(p.runs as unknown as Record<string, unknown>[])}`,
        )
        .join('\n')
    : 'no runs found\n';
  return { pipelines: list, text };
}
