import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { createWorker } from '../worker';
import { startDevServer, SEARCH_ATTRIBUTES } from './dev-server';
import type { EnvConfig } from './config';
import { progressLine } from './output';

export interface TemporalSession {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Link to a run in the Web UI, when one is known. */
  uiUrl?: string;
  /** Runs `work`, with an in-process worker polling when the session is embedded. */
  run<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const TEN_YEARS_MS = 10 * 365 * 86_400_000;

/**
 * A client of `TEMPORAL_ADDRESS`, or, when it is unset, an embedded dev server (free ports, its own SQLite
 * file under the data dir so watermarks survive between runs) with an in-process worker.
 */
export async function openTemporal(config: EnvConfig, opts: { embeddedWorker: boolean }): Promise<TemporalSession> {
  const namespace = config.TEMPORAL_NAMESPACE;
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  if (config.TEMPORAL_ADDRESS) {
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    await registerSearchAttributes(connection, namespace);
    return {
      client: new Client({ connection, namespace }),
      namespace,
      taskQueue,
      uiUrl: config.TEMPORAL_UI_URL,
      run: (work) => work(),
      close: () => connection.close(),
    };
  }

  progressLine('starting an embedded Temporal dev server');
  const server = await startDevServer({ dbFile: path.join(config.ORDERS_ETL_DATA_DIR, 'temporal-embedded.db'), headless: true });
  const connection = await Connection.connect({ address: server.address });
  await keepClosedRuns(connection, namespace);
  const pipelineWorker = opts.embeddedWorker ? await createWorker({ address: server.address, namespace, taskQueue }) : undefined;
  return {
    client: new Client({ connection, namespace }),
    namespace,
    taskQueue,
    run: (work) => (pipelineWorker ? pipelineWorker.worker.runUntil(work) : work()),
    close: async () => {
      await pipelineWorker?.close();
      await connection.close();
      await server.stop();
    },
  };
}

/** The dev server keeps closed runs one day by default; watermarks are read from them, so keep them for years. */
export async function keepClosedRuns(connection: Connection, namespace: string): Promise<void> {
  await connection.workflowService.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(TEN_YEARS_MS) } });
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
