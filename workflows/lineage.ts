import { isCancellation, log, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { causeMessage } from '../core/errors';
import type { LineageTransition } from '../activities/lineage/lineage-event';
import type { PipelineInput } from './types';

/**
 * A lineage endpoint that is down must never fail or hold up a run: a local activity (no task queue round trip,
 * no activity task in the history), a short timeout, three attempts a second or two apart, then a warning.
 */
const { emitLineage } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
});

export type RunTransition = Omit<LineageTransition, 'runId' | 'pipelineId' | 'source' | 'warehouse'>;

/** Emits the run's OpenLineage events: one OpenLineage run per Temporal run (its run id is a UUID). */
export function lineageEmitter(input: PipelineInput): (transition: RunTransition) => Promise<void> {
  const { runId } = workflowInfo();
  return async (transition) => {
    try {
      await emitLineage({ ...transition, runId, pipelineId: input.pipelineId, source: input.source, warehouse: input.warehouse });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('the lineage event could not be sent; the run goes on', { eventType: transition.eventType, error: causeMessage(err) });
    }
  };
}
