import { ActivityFailure, ApplicationFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WarningAlert } from '../activities/alert/alert';
import { NON_RETRYABLE_ERROR_TYPES } from '../core/errors';
import { formatAge, judgeFreshness, type FreshnessState } from '../core/freshness';
import { describeResult, type QualityResult } from '../core/quality';
import { describeSchemaChanges } from '../core/schema-drift';
import type { PipelineInput, PipelineResult } from './types';

/**
 * What a completed run tells people about its data (quality checks that warned, fields that changed, a pipeline gone
 * stale), and what a
 * run failed by its quality gate still shows. Deterministic: the alerts are activities.
 */

const { alert } = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES } });

/** Sends a warning; a channel that stays down is logged, never fails the run whose data it is about. */
async function warn(pipelineId: string, title: string, details: string): Promise<boolean> {
  const { workflowId, runId } = workflowInfo();
  const warning: WarningAlert = { kind: 'warning', workflowId, runId, pipelineId, title, details, at: new Date().toISOString() };
  try {
    await alert(warning);
    return true;
  } catch (err) {
    log.error('the warning alert could not be sent', { title, error: String(err) });
    return false;
  }
}

/** One alert per run whose checks warned, listing them. */
export async function alertQualityWarnings(result: PipelineResult): Promise<void> {
  const warned = result.quality.filter((r) => r.outcome === 'warn');
  if (warned.length === 0) return;
  await warn(result.pipelineId, 'quality checks warned', `load ${result.loadId}:\n${warned.map(describeResult).join('\n')}`);
}

/** One alert per run whose load saw fields appear, vanish or change type (schema drift never fails a run). */
export async function alertSchemaDrift(result: PipelineResult): Promise<void> {
  if (result.schemaChanges.total === 0) return;
  log.warn('the load saw fields change', { loadId: result.loadId, changes: result.schemaChanges.total });
  await warn(result.pipelineId, 'schema drift', describeSchemaChanges(result.schemaChanges, result.loadId));
}

/**
 * The run's freshness when its input has a limit, alerting at the first stale run of a breach. `alreadyAlerted`: the
 * previous run's state (a schedule's last result, else the pipeline's newest completed run).
 */
export async function watchFreshness(input: PipelineInput, result: PipelineResult, alreadyAlerted: boolean): Promise<FreshnessState | undefined> {
  if (input.freshnessLimitSeconds === undefined) return undefined;
  const { state, alert: due } = judgeFreshness(input.freshnessLimitSeconds, result.watermark, result.finishedAt, alreadyAlerted);
  if (!due) return state;
  const lag = state.lagSeconds === null ? 'nothing loaded yet' : `watermark ${result.watermark}, ${formatAge(state.lagSeconds)} behind`;
  // An alert that could not be sent leaves the breach unalerted: the next stale run tries again.
  const sent = await warn(result.pipelineId, 'pipeline is stale', `${lag}: more than the freshness limit of ${formatAge(state.limitSeconds)}`);
  return { ...state, alerted: sent };
}

/** A run's failure by its quality gate: every check's result, from the load's failure details. */
export function qualityFailureOf(err: unknown): QualityResult[] | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === 'QualityGateError' ? ((cause.details?.[0] as QualityResult[] | undefined) ?? []) : undefined;
}
