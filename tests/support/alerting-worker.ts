import type { Client } from '@temporalio/client';
import { startSmtpSink, type SmtpSink } from './ops-smtp';
import { startTestWorker, testClient, type RunningWorker } from './temporal';

/** Where the alerting worker mails its alerts. */
export const ALERT_TO = 'oncall@example.com';

export interface AlertingWorker {
  client: Client;
  worker: RunningWorker;
  /** The real SMTP server the worker's alerts are mailed to (`ALERT_EMAIL_TO`: ALERT_TO). */
  smtp: SmtpSink;
}

/**
 * For all the tests of one file: a client of the suite's server and a worker on a task queue of its own whose
 * alerts go by email to an SMTP server of its own, and nowhere else (no webhook). `env` adds to the worker's.
 */
export function useAlertingWorker(env: NodeJS.ProcessEnv = {}): AlertingWorker {
  const shared = {} as AlertingWorker;
  let closeClient = async (): Promise<void> => undefined;
  beforeAll(async () => {
    ({ client: shared.client, close: closeClient } = await testClient());
    shared.smtp = await startSmtpSink();
    const workerEnv: NodeJS.ProcessEnv = { ...process.env, ALERT_SMTP_URL: shared.smtp.url, ALERT_EMAIL_TO: ALERT_TO, ...env };
    delete workerEnv.ALERT_WEBHOOK_URL;
    shared.worker = await startTestWorker(workerEnv);
  });
  afterAll(async () => {
    await shared.worker?.stop();
    await shared.smtp?.close();
    await closeClient();
  });
  return shared;
}
