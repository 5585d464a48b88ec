import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { openLake } from '../activities/lake';
import { DuckDbWarehouse } from '../activities/warehouse';
import type { PipelineInput } from '../workflows/types';
import { ROOT, s3Env, startTestWorker, testClient, type RunningWorker } from './support/temporal';

/** The production lake path on a real S3-compatible server (versitygw), compared with a local-folder run. */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const BUCKET = `lake-${Date.now()}`;
const STAR_TABLES = ['fact_sales', 'dim_order', 'dim_user', 'dim_product'];

let client: Client;
let closeClient: () => Promise<void>;
let worker: RunningWorker;

beforeAll(async () => {
  const env = s3Env();
  const s3 = new S3Client({
    endpoint: env.S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  ({ client, close: closeClient } = await testClient());
  worker = await startTestWorker({ ...process.env, ...env });
});
afterAll(async () => {
  await worker.stop();
  await closeClient();
});

async function runInto(lake: string, dir: string): Promise<DuckDbWarehouse> {
  const input: PipelineInput = {
    pipelineId: `s3-test-${path.basename(dir)}`,
    source: path.join(FIXTURE, 'api_orders.json'),
    usersCsv: path.join(FIXTURE, 'users.csv'),
    productsCsv: path.join(FIXTURE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake,
    pageSize: 250,
  };
  await client.workflow.execute('ordersEtl', { taskQueue: worker.taskQueue, workflowId: input.pipelineId, args: [input] });
  return new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
}

test('a run with an S3 lake stages raw pages, tables and Parquet there and loads the same warehouse as a local lake', async () => {
  const s3Dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-s3run-'));
  const localDir = mkdtempSync(path.join(tmpdir(), 'orders-etl-localrun-'));
  const viaS3 = await runInto(`s3://${BUCKET}/orders`, s3Dir);
  const viaLocal = await runInto(path.join(localDir, 'lake'), localDir);

  for (const table of STAR_TABLES) {
    const dump = `SELECT * FROM ${table} ORDER BY ALL`;
    const rows = await viaS3.query(dump);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(await viaLocal.query(dump));
  }

  const keys = (await openLake(`s3://${BUCKET}/orders`, s3Env()).list('')).map((o) => o.key);
  const loadId = keys.find((k) => k.startsWith('raw/'))!.split('/')[1];
  expect(keys.filter((k) => k.startsWith(`raw/${loadId}/`))).toHaveLength(4); // 1,000 records, 250 a page
  expect(keys.filter((k) => k.startsWith(`staged/${loadId}/`)).sort()).toEqual(
    [
      ...['dim_order', 'dim_product', 'dim_user', 'fact_sales', 'rejected_records'].map((t) => `staged/${loadId}/${t}.manifest`),
      // The transform's parts (one chunk: a part per table) and the stage's reference rows of the dimensions.
      `staged/${loadId}/dim_order/p0000-000001.parquet`,
      `staged/${loadId}/fact_sales/p0000-000002.parquet`,
      `staged/${loadId}/rejected_records/p0000-000003.parquet`,
      `staged/${loadId}/dim_user/reference-000001.parquet`,
      `staged/${loadId}/dim_product/reference-000001.parquet`,
    ].sort(),
  );
  const manifest = JSON.parse((await openLake(`s3://${BUCKET}/orders`, s3Env()).get(`staged/${loadId}/fact_sales.manifest`)).toString());
  expect(manifest.entries).toEqual([
    { url: `s3://${BUCKET}/orders/staged/${loadId}/fact_sales/p0000-000002.parquet`, mandatory: true, meta: { content_length: expect.any(Number) } },
  ]);
  expect(manifest.entries[0].meta.content_length).toBe(
    (await openLake(`s3://${BUCKET}/orders`, s3Env()).list(`staged/${loadId}/fact_sales/`))[0].size,
  );
});

/** The innermost cause of a failed run: the activity's own error. */
function rootCause(err: unknown): Error {
  let cause = err as Error;
  while (cause.cause instanceof Error) cause = cause.cause;
  return cause;
}

test.each([
  ['a bucket that does not exist', () => `s3://${BUCKET}-missing/orders`, {}, 'LakeNotFoundError', `S3 bucket ${BUCKET}-missing: writing orders/raw/`, 'the bucket does not exist (NoSuchBucket'],
  ['a wrong secret key', () => `s3://${BUCKET}/orders`, { AWS_SECRET_ACCESS_KEY: 'not-the-secret' }, 'CredentialsError', `S3 bucket ${BUCKET}: writing orders/raw/`, 'the AWS credentials were refused (SignatureDoesNotMatch'],
])('a run into an S3 lake with %s fails at once, naming the bucket and the cause', async (_case, lake, overrides, type, where, cause) => {
  const badWorker = await startTestWorker({ ...process.env, ...s3Env(), ...overrides });
  try {
    const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-s3fail-'));
    const input: PipelineInput = { pipelineId: `s3-fail-${path.basename(dir)}`, source: path.join(FIXTURE, 'api_orders.json'), warehouse: `duckdb:${dir}/w.duckdb`, lake: lake() };
    const started = Date.now();
    const failed = await client.workflow.execute('ordersEtl', { taskQueue: badWorker.taskQueue, workflowId: input.pipelineId, args: [input] }).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(15_000); // not 8 attempts over two minutes
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    const error = rootCause(failed);
    expect((error as { type?: string }).type).toBe(type);
    expect(error.message).toContain(where);
    expect(error.message).toContain(cause);
    const history = await client.workflow.getHandle(input.pipelineId).fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1, 1, 1]); // pipelineState, planPartitions, extract, alert
  } finally {
    await badWorker.stop();
  }
});
