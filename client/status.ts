import path from 'node:path';
import type { Client } from '@temporalio/client';
import { formatAge, type FreshnessState } from '../core/freshness';
import { describeResult, worstOutcome, type QualityResult } from '../core/quality';
import type { PipelineResult } from '../workflows/types';
import { integer, parseFlag, type EnvConfig } from './config';
import { escapeControl, formatSummary, formatTable, freshnessText } from './output';
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
  /** The run's worst quality check (search attribute QualityOutcome); null when it did not get to its checks. */
  quality: string | null;
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
  /** Now minus the watermark, in seconds. */
  lagSeconds: number | null;
  /** When the newest successful run ended, and how long ago (seconds). */
  lastSuccessAt: string | null;
  sinceLastSuccessSeconds: number | null;
  /** The checks of the newest run that had them (a completed run, or one failed by its quality gate). */
  quality: QualityResult[] | null;
  /** The newest completed run's freshness, when its schedule has a limit. */
  freshness: FreshnessState | null;
  runs: RunRow[];
  /** The newest failed run, null when none failed. */
  lastFailure: RunFailure | null;
}

/** The worst outcome, and what did not pass: `warn: rejection_rate 0.06 (warn: above 0.05)`. */
function qualityText(results: QualityResult[]): string {
  const notPassed = results.filter((r) => r.outcome !== 'pass');
  return [worstOutcome(results), ...(notPassed.length ? [notPassed.map(describeResult).join('; ')] : [])].join(': ');
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
  const now = Date.now();
  try {
    for await (const run of session.client.workflow.list({ query: `WorkflowType = 'ordersEtl'` })) {
      const memo = (run.memo ?? {}) as { source?: string; warehouse?: string; lake?: string; summary?: PipelineResult; quality?: QualityResult[] };
      if ((source && memo.source !== source) || (warehouse && memo.warehouse !== warehouse) || (lake && memo.lake !== lake)) continue;
      const pipelineId = String(run.searchAttributes.PipelineId?.[0] ?? '(unknown)');
      const entry: PipelineStatus = pipelines.get(pipelineId) ?? {
        pipelineId,
        source: memo.source ?? null,
        warehouse: memo.warehouse ?? null,
        watermark: null,
        lagSeconds: null,
        lastSuccessAt: null,
        sinceLastSuccessSeconds: null,
        quality: null,
        freshness: null,
        runs: [],
        lastFailure: null,
      };
      pipelines.set(pipelineId, entry);
      const watermark = (run.searchAttributes.Watermark?.[0] as Date | undefined)?.toISOString() ?? null;
      if (run.status.name === 'COMPLETED' && watermark && (entry.watermark === null || watermark > entry.watermark)) entry.watermark = watermark;
      // Listed newest first: the first completed run met is the last success, the first with checks the last checked.
      if (run.status.name === 'COMPLETED' && entry.lastSuccessAt === null && run.closeTime) {
        entry.lastSuccessAt = run.closeTime.toISOString();
        entry.freshness = memo.summary?.freshness ?? null;
      }
      entry.quality ??= memo.summary?.quality ?? memo.quality ?? null;
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
          quality: (run.searchAttributes.QualityOutcome?.[0] as string | undefined) ?? null,
        });
      }
    }
  } finally {
    await session.close();
  }
  const list = [...pipelines.values()];
  for (const p of list) {
    p.lagSeconds = p.watermark === null ? null : Math.floor((now - Date.parse(p.watermark)) / 1000);
    p.sinceLastSuccessSeconds = p.lastSuccessAt === null ? null : Math.floor((now - Date.parse(p.lastSuccessAt)) / 1000);
  }
  const text = list.length
    ? list
        .map((p) =>
          formatSummary(`pipeline ${p.pipelineId}`, [
            ['source', p.source ?? ''],
            ['warehouse', p.warehouse ?? ''],
            ['watermark', p.watermark ?? '(none)'],
            ['lag', p.lagSeconds === null ? '(no watermark)' : formatAge(p.lagSeconds)],
            ['last success', p.lastSuccessAt === null ? '(none)' : `${p.lastSuccessAt} (${formatAge(p.sinceLastSuccessSeconds!)} ago)`],
            ...(p.quality ? [['quality', qualityText(p.quality)] as [string, string]] : []),
            ...(p.freshness ? [['freshness', freshnessText(p.freshness)] as [string, string]] : []),
            ...(p.lastFailure ? [['last failure', escapeControl(`${p.lastFailure.closedAt ?? ''} ${p.lastFailure.workflowId}: ${p.lastFailure.reason}`)] as [string, string]] : []),
          ]) + `\n${formatTable(p.runs as unknown as Record<string, unknown>[])}`,
        )
        .join('\n')
    : 'no runs found\n';
  return { pipelines: list, text };
}
