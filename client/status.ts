import type { EnvConfig } from './config';
import { formatTable } from './output';
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

export interface PipelineStatus {
  pipelineId: string;
  source: string | null;
  warehouse: string | null;
  watermark: string | null;
  runs: RunRow[];
}

/** Pipelines and their recent runs, read from Temporal's visibility store (the watermark lives there). */
export async function pipelineStatus(
  config: EnvConfig,
  flags: { source?: string; warehouse?: string; limit: string },
): Promise<{ pipelines: PipelineStatus[]; text: string }> {
  const source = flags.source === undefined ? undefined : sourceSpec(flags.source, config);
  const warehouse = flags.warehouse === undefined ? undefined : warehouseSpec(flags.warehouse, config);
  const limit = Math.max(1, Number(flags.limit) || 10);
  const session = await openTemporal(config, { embeddedWorker: false });
  const pipelines = new Map<string, PipelineStatus>();
  try {
    for await (const run of session.client.workflow.list({ query: `WorkflowType = 'ordersEtl'` })) {
      const memo = (run.memo ?? {}) as { source?: string; warehouse?: string };
      if ((source && memo.source !== source) || (warehouse && memo.warehouse !== warehouse)) continue;
      const pipelineId = String(run.searchAttributes.PipelineId?.[0] ?? '(unknown)');
      const entry = pipelines.get(pipelineId) ?? { pipelineId, source: memo.source ?? null, warehouse: memo.warehouse ?? null, watermark: null, runs: [] };
      pipelines.set(pipelineId, entry);
      const watermark = (run.searchAttributes.Watermark?.[0] as Date | undefined)?.toISOString() ?? null;
      if (run.status.name === 'COMPLETED' && watermark && (entry.watermark === null || watermark > entry.watermark)) entry.watermark = watermark;
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
        .map((p) => `pipeline ${p.pipelineId}\n  source     ${p.source ?? ''}\n  warehouse  ${p.warehouse ?? ''}\n  watermark  ${p.watermark ?? '(none)'}\n\n${formatTable(p.runs as unknown as Record<string, unknown>[])}`)
        .join('\n')
    : 'no runs found\n';
  return { pipelines: list, text };
}
