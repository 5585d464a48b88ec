import { existsSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities, type ActivityConfig } from './activities';
import { createLakes } from './activities/lake';
import { createWarehouses } from './activities/warehouse';
import { loadWorkerConfig } from './client/config';
import { createTemporalLogger, logger } from './core/logger';
import { DEFAULT_WORKER_CONCURRENCY } from './workflows/types';

export interface WorkerOptions {
  /** Temporal frontend, host:port. */
  address: string;
  namespace?: string;
  taskQueue: string;
  /** A prebuilt workflow bundle (see dev/bundle-workflows.ts); default: the one next to this file, else bundle now. */
  workflowBundlePath?: string;
  /** Bind address of the Temporal Runtime's Prometheus exporter (e.g. 127.0.0.1:9465); none when absent. */
  sdkMetricsAddress?: string;
  /** Activities this worker runs at once (`worker --concurrency`); default DEFAULT_WORKER_CONCURRENCY. */
  concurrency?: number;
  /** The activities' configuration; default: validated from `env` (default process.env) now, once. */
  config?: ActivityConfig;
  env?: NodeJS.ProcessEnv;
  /**
   * For a worker inside a command that handles SIGINT/SIGTERM itself (the embedded `run`): the Runtime does not
   * shut the worker down on a signal, a cancellation reaches a running activity within two seconds (the SDK
   * otherwise sends heartbeats, which bring it, at most every 80% of the heartbeat timeout), and the SDK core
   * logs only its errors.
   */
  inProcess?: boolean;
}

let runtimeInstalled = false;

/** The Runtime is process-wide and installed once: it routes the SDK's, workflows' and activities' logs into pino. */
function installRuntime(sdkMetricsAddress?: string, inProcess = false): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: createTemporalLogger(logger),
    ...(inProcess ? { shutdownSignals: [] } : {}),
    telemetryOptions: {
      // The SDK core's own logs go to pino too (else it prints them on stdout, where --json goes). Inside a
      // command only its errors: its warnings are about tasks of a run the command itself just terminated.
      logging: { forward: {}, ...(inProcess ? { filter: { core: 'ERROR', other: 'ERROR' } } : {}) },
      ...(sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } : {}),
    },
  });
  runtimeInstalled = true;
}

/** Workflows: a bundle prebuilt by `npm run build` when there is one, else bundled from source now. */
function workflowSource(bundle = path.join(__dirname, 'workflow-bundle.js')): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  return existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('./workflows') };
}

export interface PipelineWorker {
  worker: Worker;
  /** Closes the worker's connections; call after the worker has stopped. */
  close(): Promise<void>;
}

export async function createWorker(options: WorkerOptions): Promise<PipelineWorker> {
  const config = options.config ?? loadWorkerConfig(options.env).activities; // refuses to start on a bad value
  installRuntime(options.sdkMetricsAddress, options.inProcess);
  const namespace = options.namespace ?? 'default';
  const connection = await NativeConnection.connect({ address: options.address });
  const clientConnection = await Connection.connect({ address: options.address });
  const client = new Client({ connection: clientConnection, namespace });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: options.taskQueue,
    ...workflowSource(options.workflowBundlePath),
    activities: createActivities({ client, namespace, config, lakes: createLakes(config.s3), warehouses: createWarehouses(config.redshift) }),
    maxConcurrentActivityTaskExecutions: options.concurrency ?? DEFAULT_WORKER_CONCURRENCY,
    ...(options.inProcess ? { maxHeartbeatThrottleInterval: '2s' } : {}),
  });
  return {
    worker,
    close: async () => {
      await clientConnection.close();
      await connection.close();
    },
  };
}
