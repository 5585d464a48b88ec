import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createWorker } from '../worker';
import { startDevServer, SEARCH_ATTRIBUTES } from './dev-server';
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
      taskQueue,
      run: (work) => work(),
      close: () => connection.close(),
    };
  }

  progressLine('starting an embedded Temporal dev server');
  const server = await startDevServer({ dbFile: path.join(config.ORDERS_ETL_DATA_DIR, 'temporal-embedded.db'), headless: true });
  const connection = await Connection.connect({ address: server.address });
  const pipelineWorker = opts.embeddedWorker ? await createWorker({ address: server.address, namespace, taskQueue }) : undefined;
  return {
    client: new Client({ connection, namespace }),
    taskQueue,
    run: (work) => (pipelineWorker ? pipelineWorker.worker.runUntil(work) : work()),
    close: async () => {
      await pipelineWorker?.close();
      await connection.close();
      await server.stop();
    },
  };
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
