import { createHash } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { lockRequestSignal, lockStateQuery, type warehouseLock } from '../../workflows/warehouse-lock';
import type { WarehouseLoad } from '../../workflows/types';

/**
 * The requester's side of the warehouse lock (workflows/warehouse-lock.ts): queue a load on it, and tell the
 * lock whether its holder still runs.
 */

/** One lock per warehouse, named by the warehouse's identity (`duckdb:/abs/path`, `redshift:cluster/db`). */
export function warehouseLockId(warehouseName: string): string {
  return `orders-etl-lock-${createHash('sha256').update(warehouseName).digest('hex').slice(0, 16)}`;
}

/**
 * Queues `load` on the warehouse's lock, starting the lock on `taskQueue` when it is not running. Asking again
 * is harmless: the lock ignores a run it already has. Returns the lock's id and the load that holds it now.
 */
export async function requestLock(client: Client, warehouseName: string, taskQueue: string, load: WarehouseLoad): Promise<{ workflowId: string; heldBy: WarehouseLoad | null }> {
  const workflowId = warehouseLockId(warehouseName);
  const handle = await client.workflow.signalWithStart<typeof warehouseLock, [WarehouseLoad]>('warehouseLock', {
    workflowId,
    taskQueue,
    args: [],
    signal: lockRequestSignal,
    signalArgs: [load],
  });
  const state = await handle.query(lockStateQuery);
  return { workflowId, heldBy: state.holder };
}

/** Whether that run of a workflow is still running (a terminated or timed-out one never releases its lock). */
export async function isRunOpen(client: Client, run: { workflowId: string; runId: string }): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(run.workflowId, run.runId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
