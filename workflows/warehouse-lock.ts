import {
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../core/errors';
import type { WarehouseLoad } from './types';

/**
 * Loads into one warehouse never overlap, whichever pipeline, schedule, backfill or worker runs them: each load
 * queues on the warehouse's lock, a workflow of its own (type `warehouseLock`, id derived from the warehouse),
 * which lets them in one at a time in arrival order. The lock is Temporal state, so it holds across workers and
 * machines, and survives their crashes.
 */

export interface LockState {
  holder: WarehouseLoad | null;
  queue: WarehouseLoad[];
  /** Runs already let in (or gone): a late repeat of their request is ignored. The latest SERVED_KEPT only. */
  served: string[];
}

export const lockRequestSignal = defineSignal<[WarehouseLoad]>('request');
/** A run's id: it is done with the lock, or no longer waits for it. */
export const lockReleaseSignal = defineSignal<[string]>('release');
/** Sent by the lock to the run it lets in. */
export const lockGrantedSignal = defineSignal('granted');
export const lockStateQuery = defineQuery<LockState>('lockState');

/** How often the lock asks whether its holder still runs: a terminated run never releases. */
const HOLDER_CHECK = '15s';
/** A lock nobody asked for this long ends; the next request starts it again. */
const IDLE = '2m';
/** How often a waiting run asks again: a lock terminated by hand is started again, and the holder shown is fresh. */
const ASK_AGAIN = '30s';
const SERVED_KEPT = 100;
const MAX_HISTORY = 1_000;

// Local activities: quick calls to Temporal itself, run by the worker that runs the workflow. A request that
// cannot be made fails the run (e.g. a bad warehouse); a holder that cannot be looked up is asked about again later.
const { requestWarehouseLock } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumInterval: '10s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});
const { isRunOpen } = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export async function warehouseLock(state: LockState = { holder: null, queue: [], served: [] }): Promise<void> {
  const known = (runId: string) => state.holder?.runId === runId || state.queue.some((r) => r.runId === runId) || state.served.includes(runId);
  const done = (runId: string) => {
    if (state.holder?.runId === runId) state.holder = null;
    state.queue = state.queue.filter((r) => r.runId !== runId);
    state.served = [...state.served.filter((id) => id !== runId), runId].slice(-SERVED_KEPT);
  };
  setHandler(lockRequestSignal, (request) => {
    if (!known(request.runId)) state.queue.push(request);
  });
  setHandler(lockReleaseSignal, done);
  setHandler(lockStateQuery, () => state);

  while (workflowInfo().historyLength < MAX_HISTORY && !workflowInfo().continueAsNewSuggested) {
    const holder = state.holder;
    if (holder) {
      if (!(await condition(() => state.holder !== holder, HOLDER_CHECK)) && !(await isRunOpen(holder).catch(() => true))) {
        log.warn('the warehouse lock holder ended without releasing it: letting the next load in', { ...holder });
        done(holder.runId);
      }
      continue;
    }
    await condition(() => state.queue.length > 0, IDLE);
    const next = state.queue.shift();
    if (!next) return;
    // Held before the signal is sent: the holder may load and release before the signal's completion comes back.
    state.holder = next;
    try {
      await getExternalWorkflowHandle(next.workflowId, next.runId).signal(lockGrantedSignal);
    } catch {
      done(next.runId); // it ended while it waited
    }
  }
  await continueAsNew<typeof warehouseLock>(state);
}

/**
 * Runs `work` (a load) holding the lock of `request.warehouse`. While another load holds it, `onWaiting` is told
 * which (again when that changes). The lock is released after `work`, whether it succeeded, failed or was
 * cancelled, and a cancelled wait leaves the queue.
 */
export async function withWarehouseLock<T>(
  request: { warehouse: string; pipelineId: string; loadId: string },
  onWaiting: (heldBy: WarehouseLoad) => void,
  work: () => Promise<T>,
): Promise<T> {
  let granted = false;
  setHandler(lockGrantedSignal, () => void (granted = true));
  const self = workflowInfo().runId;
  let lockId: string | undefined;
  let shown: string | undefined;
  try {
    do {
      const lock = await requestWarehouseLock(request);
      lockId = lock.workflowId;
      if (!granted && lock.heldBy && lock.heldBy.runId !== self && lock.heldBy.runId !== shown) {
        shown = lock.heldBy.runId;
        onWaiting(lock.heldBy);
      }
    } while (!(await condition(() => granted, ASK_AGAIN)));
    return await work();
  } finally {
    if (lockId !== undefined) await release(lockId, self);
  }
}

async function release(lockId: string, runId: string): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    try {
      await getExternalWorkflowHandle(lockId).signal(lockReleaseSignal, runId);
    } catch (err) {
      // The lock has ended (it was terminated): there is nothing left to release.
      log.warn('the warehouse lock could not be released', { lockId, error: String(err) });
    }
  });
}
