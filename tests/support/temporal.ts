import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createWorker } from '../../worker';

export const ROOT = path.resolve(__dirname, '..', '..');

/** The suite's dev server (tests/support/global-setup.ts). */
export function temporalAddress(): string {
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is unset: run the tests through jest (global setup starts the server)');
  return address;
}

export async function testClient(): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: temporalAddress() });
  return { client: new Client({ connection }), close: () => connection.close() };
}

export interface RunningWorker {
  taskQueue: string;
  /** Shuts the worker down, waits for it, and closes its connections. */
  stop(): Promise<void>;
}

/** A running worker on a task queue of its own, with the workflow bundle `npm test` builds. */
export async function startTestWorker(env: NodeJS.ProcessEnv = process.env, taskQueue = `test-${randomUUID()}`): Promise<RunningWorker> {
  const { worker, close } = await createWorker({
    address: temporalAddress(),
    taskQueue,
    env,
    workflowBundlePath: path.join(ROOT, 'dist', 'workflow-bundle.js'),
  });
  const running = worker.run();
  return {
    taskQueue,
    stop: async () => {
      worker.shutdown();
      await running;
      await close();
    },
  };
}

/** A client of the suite's server and a worker on a task queue of its own, for all the tests of one file. */
export function useTestWorker(env?: NodeJS.ProcessEnv): { client: Client; worker: RunningWorker } {
  const shared = {} as { client: Client; worker: RunningWorker };
  let closeClient = async (): Promise<void> => undefined;
  beforeAll(async () => {
    ({ client: shared.client, close: closeClient } = await testClient());
    shared.worker = await startTestWorker(env);
  });
  afterAll(async () => {
    await shared.worker?.stop();
    await closeClient();
  });
  return shared;
}

/** The S3-compatible server's settings as the AWS SDK reads them from the environment. */
export function s3Env(): NodeJS.ProcessEnv {
  return {
    S3_ENDPOINT: process.env.TEST_S3_ENDPOINT,
    AWS_ACCESS_KEY_ID: process.env.TEST_S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: process.env.TEST_S3_SECRET_KEY,
    AWS_REGION: 'us-east-1',
  };
}
