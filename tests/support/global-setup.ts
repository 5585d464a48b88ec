import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDevServer, startS3Server } from '../../dev/dev-server';
import { ensurePrometheus, ensureSqlglot } from '../../dev/tools';

/**
 * One real Temporal dev server and one real S3-compatible server for the whole run (each test file uses its
 * own task queue and bucket). Installed and cached by the project's own scripts on a fresh machine, like the
 * tools of single tests (Prometheus, sqlglot), installed here first: a build from source takes minutes, longer
 * than a test's timeout.
 */
export default async function globalSetup(): Promise<void> {
  process.env.LOG_LEVEL ??= 'warn'; // test workers inherit it: failures stay readable
  // Every temporary directory of the run (tests', servers', CLIs') goes under one, which the teardown removes:
  // a failed or interrupted test leaves nothing behind in the machine's /tmp.
  const runTmp = mkdtempSync(path.join(tmpdir(), 'orders-etl-tests-'));
  process.env.TMPDIR = runTmp;
  await ensurePrometheus();
  await ensureSqlglot();
  const temporal = await startDevServer({ headless: true });
  const s3 = await startS3Server({ dataDir: mkdtempSync(path.join(tmpdir(), 'orders-etl-s3-')) });
  Object.assign(process.env, {
    TEST_TEMPORAL_ADDRESS: temporal.address,
    TEST_S3_ENDPOINT: s3.endpoint,
    TEST_S3_ACCESS_KEY: s3.accessKey,
    TEST_S3_SECRET_KEY: s3.secretKey,
  });
  Object.assign(globalThis, { servers: [temporal, s3], runTmp });
}
