import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { baseEnv, cli, noStack } from './support/cli-process';
import { temporalAddress } from './support/temporal';

/** `orders-etl worker` checks its whole configuration before it connects, and names every bad value. */
test('a worker with bad values refuses to start, one line per bad value, no stack', async () => {
  const started = Date.now();
  const exit = await cli(['worker'], {
    cwd: mkdtempSync(path.join(tmpdir(), 'orders-etl-worker-config-')),
    env: baseEnv({
      TEMPORAL_ADDRESS: temporalAddress(),
      METRICS_PORT: '99999',
      S3_ENDPOINT: 'not a url',
      REDSHIFT_DATABASE: 'analytics',
      REDSHIFT_CLUSTER_ID: 'etl-cluster',
      REDSHIFT_WORKGROUP: 'etl-wg',
      REDSHIFT_IAM_ROLE: 'etl-role',
      ORDERS_API_HEADERS: '["not", "an object"]',
    }),
    timeoutMs: 30_000,
  });
  expect(exit.code).toBe(1);
  noStack(exit.stderr);
  expect(exit.stderr.trimEnd().split('\n')).toEqual([
    'orders-etl: environment variable METRICS_PORT: must be an integer from 0 to 65535, got "99999"',
    'orders-etl: environment variable S3_ENDPOINT: Invalid URL',
    'orders-etl: Redshift configuration: REDSHIFT_CLUSTER_ID and REDSHIFT_WORKGROUP conflict: set a provisioned cluster or a Serverless workgroup, not both',
    'orders-etl: Redshift configuration: REDSHIFT_IAM_ROLE must be an IAM role ARN (arn:aws:iam::<account>:role/<name>) or "default", got "etl-role"',
    'orders-etl: environment variable ORDERS_API_HEADERS: must be a JSON object of header names to string values, e.g. {"X-Api-Key": "..."}',
  ]);
  expect(Date.now() - started).toBeLessThan(10_000);
});
