import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection, type WorkflowExecutionInfo } from '@temporalio/client';
import { createWorker, type PipelineWorker } from '../worker';
import { DatabaseInUseError, startDevServer, type DevServer } from '../dev/dev-server';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import type { EnvConfig } from './config';
import { progressLine } from './output';

export interface TemporalSession {
  client: Client;
  taskQueue: string;
  /** Runs `work`, with an in-process worker polling when the session is embedded. */
  run<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A client of `TEMPORAL_ADDRESS`, or, when it is unset, an embedded dev server (free ports, its own SQLite
 * file under the data dir so watermarks survive between runs) with an in-process worker. One embedded session
 * at a time uses that file; each polls a task queue of its own, and first ends what an earlier one left running.
 */
export async function openTemporal(config: EnvConfig, opts: { embeddedWorker: boolean }): Promise<TemporalSession> {
  const namespace = config.TEMPORAL_NAMESPACE;
  if (config.TEMPORAL_ADDRESS) {
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    await registerSearchAttributes(connection, namespace);
    return {
      client: new Client({ connection, namespace }),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      run: (work) => work(),
      close: () => connection.close(),
    };
  }

  const dbFile = path.resolve(config.ORDERS_ETL_DATA_DIR, 'temporal-embedded.db');
  const server = await startEmbeddedServer(dbFile);
  progressLine(`started an embedded Temporal dev server on ${server.address} (history in ${dbFile})`);
  const connection = await Connection.connect({ address: server.address }).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  const client = new Client({ connection, namespace });
  const taskQueue = `${config.TEMPORAL_TASK_QUEUE}-${randomUUID().slice(0, 8)}`;
  let pipelineWorker: PipelineWorker | undefined;
  const close = async () => {
    // Best effort: what this fails to end, the next session terminates at its start.
    await endSessionWorkflows(client, taskQueue).catch(() => undefined);
    await pipelineWorker?.close();
    await connection.close();
    await server.stop();
  };
  try {
    await terminateLeftovers(client);
    if (opts.embeddedWorker) pipelineWorker = await createWorker({ address: server.address, namespace, taskQueue, inProcess: true });
  } catch (err) {
    await close();
    throw err;
  }
  return {
    client,
    taskQueue,
    run: (work) => (pipelineWorker ? pipelineWorker.worker.runUntil(work) : work()),
    close,
  };
}

async function startEmbeddedServer(dbFile: string): Promise<DevServer> {
  try {
    return await startDevServer({ dbFile, headless: true });
  } catch (err) {
    if (!(err instanceof DatabaseInUseError)) throw err;
    throw new Error(
      `another orders-etl command (pid ${err.pid}) is using the embedded Temporal server's history ${err.dbFile}: ` +
        'wait for it to finish, or start "orders-etl server" and set TEMPORAL_ADDRESS (e.g. localhost:7233) to run several at once',
    );
  }
}

/**
 * Only one embedded session runs at a time, so whatever is still Running in its history was left by an earlier
 * one that was killed: its worker is gone and nothing would ever end it. Terminated, whatever its type.
 */
async function terminateLeftovers(client: Client): Promise<void> {
  const ended = await terminateAll(client, `ExecutionStatus = 'Running'`, 'left running by an earlier embedded orders-etl session that was interrupted');
  for (const execution of ended) progressLine(`terminated ${execution.workflowId} (${execution.type}), left running by an earlier session`);
}

/**
 * Once the session's worker has stopped, nothing would run what is still open on its task queue (e.g. a
 * warehouse lock waiting out its idle time): it ends with the session.
 */
async function endSessionWorkflows(client: Client, taskQueue: string): Promise<void> {
  await terminateAll(client, `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`, 'its embedded orders-etl session ended');
}

async function terminateAll(client: Client, query: string, reason: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const execution of client.workflow.list({ query })) found.push(execution); // all first: terminating changes the listing
  for (const execution of found) await client.workflow.getHandle(execution.workflowId, execution.runId).terminate(reason);
  return found;
}

/** An external server may not know the pipeline's search attributes yet: add the missing ones. */
async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  if (missing.length === 0) return;
  const typeIds: Record<string, number> = { Keyword: 2, Int: 3, Datetime: 5 }; // temporal.api.enums.v1.IndexedValueType
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, typeIds[type]])),
  });
}
