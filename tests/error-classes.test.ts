import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExecuteStatementCommand, RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CredentialsError,
  LakeAccessError,
  LakeNotFoundError,
  LakeThrottledError,
  LakeUnavailableError,
  NON_RETRYABLE_ERROR_TYPES,
  WarehouseAccessError,
  WarehouseThrottledError,
  WarehouseUnavailableError,
} from '../core/errors';
import { createLakes, type Lake } from '../activities/lake';
import { S3Lake } from '../activities/lake/s3-lake';
import { streamUsersCsv } from '../activities/transform/reference';
import { DuckDbWarehouse } from '../activities/warehouse';
import { RedshiftWarehouse } from '../activities/warehouse/redshift-warehouse';
import { s3Env } from './support/temporal';

/**
 * Each adapter's failures, classified by cause: permission, not-found and bad credentials are terminal (in the
 * workflow's nonRetryableErrorTypes), throttling, 5xx and broken connections transient. On the real components
 * where they can be produced (the filesystem, the suite's S3 server, DuckDB); S3 throttling, 5xx and the Redshift
 * Data API at the SDK boundary.
 */
const TERMINAL = [LakeAccessError, LakeNotFoundError, CredentialsError, WarehouseAccessError];
const TRANSIENT = [LakeThrottledError, LakeUnavailableError, WarehouseThrottledError, WarehouseUnavailableError];

test('terminal causes are never retried; transient ones are', () => {
  for (const type of TERMINAL) expect(NON_RETRYABLE_ERROR_TYPES).toContain(type.name);
  for (const type of TRANSIENT) expect(NON_RETRYABLE_ERROR_TYPES).not.toContain(type.name);
});

/** The error a promise rejects with, and how long it took. */
async function failure(work: Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const start = Date.now();
  const error = await work.then(() => new Error('it did not fail'), (err: Error) => err);
  return { error, ms: Date.now() - start };
}

describe('local lake', () => {
  const lakes = createLakes({});

  test('a lake under /proc, where directories cannot be made, is refused at once (no recursive mkdir spinning)', async () => {
    const { error, ms } = await failure(lakes.open('/proc/orders-lake').put('raw/L1/page-000001.jsonl', 'x'));
    expect(error).toBeInstanceOf(LakeAccessError);
    expect(error.message).toBe('lake: cannot create directory /proc/orders-lake: /proc does not allow new directories');
    expect(ms).toBeLessThan(2_000);
  });

  test('a filesystem that denies writing (EPERM under /sys; tests run as root, so permission bits would not stop them)', async () => {
    const { error } = await failure(lakes.open('/sys/orders-lake').put('raw/L1/page-000001.jsonl', 'x'));
    expect(error).toBeInstanceOf(LakeAccessError);
    expect(error.message).toBe('lake: cannot create directory /sys/orders-lake: operation not permitted (EPERM)');
  });

  test('a key that must exist and does not, and a reference file that is missing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-errors-'));
    const missing = await failure(lakes.open(dir).get('raw/L1/page-000001.jsonl'));
    expect(missing.error).toBeInstanceOf(LakeNotFoundError);
    expect(missing.error.message).toBe(`lake: cannot read raw/L1/page-000001.jsonl in ${dir} (${dir}/raw/L1/page-000001.jsonl): no such file or directory (ENOENT)`);
    const reference = await failure(lakes.stream(`${dir}/users.csv`));
    expect(reference.error).toBeInstanceOf(LakeNotFoundError);
    expect(reference.error.message).toBe(`lake: cannot read ${dir}/users.csv: no such file or directory (ENOENT)`);
  });
});

describe('S3 lake on the suite S3 server', () => {
  const env = s3Env();
  const bucket = `errors-${Date.now()}`;
  const settings = (secretAccessKey = env.AWS_SECRET_ACCESS_KEY!) => ({
    endpoint: env.S3_ENDPOINT,
    region: 'us-east-1',
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey },
  });

  beforeAll(async () => {
    const s3 = new S3Client({ ...settings(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
  });

  test('a wrong secret key is a CredentialsError naming the bucket', async () => {
    const { error } = await failure(createLakes(settings('not-the-secret')).open(`s3://${bucket}/orders`).put('raw/x', 'x'));
    expect(error).toBeInstanceOf(CredentialsError);
    expect(error.message).toMatch(new RegExp(`^S3 bucket ${bucket}: writing orders/raw/x: the AWS credentials were refused \\(SignatureDoesNotMatch`));
  });

  test('a bucket that does not exist is a LakeNotFoundError naming it', async () => {
    const { error } = await failure(createLakes(settings()).open(`s3://${bucket}-missing/orders`).list('raw/'));
    expect(error).toBeInstanceOf(LakeNotFoundError);
    expect(error.message).toMatch(new RegExp(`^S3 bucket ${bucket}-missing: listing orders/raw/: the bucket does not exist \\(NoSuchBucket`));
  });

  test('an object that must exist and does not is a LakeNotFoundError', async () => {
    const { error } = await failure(createLakes(settings()).open(`s3://${bucket}/orders`).get('staged/L1/fact_sales.manifest'));
    expect(error).toBeInstanceOf(LakeNotFoundError);
    expect(error.message).toMatch(new RegExp(`^S3 bucket ${bucket}: reading orders/staged/L1/fact_sales.manifest: no such object \\(NoSuchKey`));
  });

  test('a reference file in the bucket streams as the stage reads it; a missing one is a LakeNotFoundError', async () => {
    const lakes = createLakes(settings());
    await lakes.open(`s3://${bucket}`).put('reference/users.csv', 'user_id,email\nu1,one@example.com\nu2,two@example.com\n');
    const ids: [string, number][] = [];
    for await (const { row, line } of streamUsersCsv(await lakes.stream(`s3://${bucket}/reference/users.csv`))) ids.push([row.user_id, line]);
    expect(ids).toEqual([['u1', 2], ['u2', 3]]);
    const { error } = await failure(lakes.stream(`s3://${bucket}/reference/missing.csv`));
    expect(error).toBeInstanceOf(LakeNotFoundError);
    expect(error.message).toMatch(new RegExp(`^S3 bucket ${bucket}: reading reference/missing.csv: no such object \\(NoSuchKey`));
  });

  test('lakes are opened once per location, sharing one S3 client', () => {
    const lakes = createLakes(settings());
    expect(lakes.open(`s3://${bucket}/a`)).toBe(lakes.open(`s3://${bucket}/a`));
    const client = (lake: Lake) => (lake as unknown as { client: S3Client }).client;
    expect(client(lakes.open(`s3://${bucket}/a`))).toBe(client(lakes.open(`s3://${bucket}/b`)));
  });
});

describe('S3 answers the suite server cannot produce, at the SDK boundary', () => {
  const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1 });
  const mock = mockClient(client);
  const lake = new S3Lake('s3://acme-lake/orders', client);
  afterEach(() => mock.reset());
  const s3Failure = (name: string, status: number) => new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} happened` });

  test.each([
    ['AccessDenied', 403, LakeAccessError, 'access denied'],
    ['SlowDown', 503, LakeThrottledError, 'S3 is throttling'],
    ['InternalError', 500, LakeUnavailableError, 'S3 is unavailable'],
  ] as const)('%s (HTTP %i) is a %p', async (name, status, type, cause) => {
    mock.on(PutObjectCommand).rejects(s3Failure(name, status));
    const { error } = await failure(lake.put('raw/x', 'x'));
    expect(error).toBeInstanceOf(type);
    expect(error.message).toBe(`S3 bucket acme-lake: writing orders/raw/x: ${cause} (${name}: ${name} happened)`);
  });

  test('a reset connection is transient', async () => {
    mock.on(GetObjectCommand).rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const { error } = await failure(lake.get('raw/x'));
    expect(error).toBeInstanceOf(LakeUnavailableError);
    expect(error.message).toBe('S3 bucket acme-lake: reading orders/raw/x: S3 is unavailable (Error: socket hang up)');
  });
});

describe('Redshift Data API answers, at the SDK boundary', () => {
  const client = new RedshiftDataClient({ region: 'eu-west-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' }, maxAttempts: 1 });
  const mock = mockClient(client);
  const warehouse = new RedshiftWarehouse({ database: 'analytics', workgroupName: 'wg', iamRole: 'default', client, pollIntervalMs: 1 });
  afterEach(() => mock.reset());

  test.each([
    ['UnrecognizedClientException', 400, CredentialsError, 'the AWS credentials were refused'],
    ['ExpiredTokenException', 400, CredentialsError, 'the AWS credentials were refused'],
    ['AccessDeniedException', 400, WarehouseAccessError, 'access denied'],
    ['ThrottlingException', 400, WarehouseThrottledError, 'Redshift Data API is throttling'],
    ['InternalServerException', 500, WarehouseUnavailableError, 'Redshift Data API is unavailable'],
  ] as const)('%s is a %p', async (name, status, type, cause) => {
    mock.on(ExecuteStatementCommand).rejects(Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } }));
    const { error } = await failure(warehouse.query('SELECT 1'));
    expect(error).toBeInstanceOf(type);
    const where = type === WarehouseThrottledError ? '' : 'redshift:wg/analytics: ';
    expect(error.message).toBe(`${where}${cause} (${name}): ${name} happened`);
  });
});

describe('DuckDB warehouse', () => {
  test('a file it may not create is a WarehouseAccessError', async () => {
    const { error } = await failure(new DuckDbWarehouse('/sys/x.duckdb').load({} as never, () => {}));
    expect(error).toBeInstanceOf(WarehouseAccessError);
    expect(error.message).toBe('duckdb:/sys/x.duckdb cannot be opened: IO Error: Cannot open file "/sys/x.duckdb": Permission denied');
  });

  test('a directory under /proc is refused at once', async () => {
    const { error, ms } = await failure(new DuckDbWarehouse('/proc/orders/x.duckdb').load({} as never, () => {}));
    expect(error).toBeInstanceOf(WarehouseAccessError);
    expect(error.message).toBe('warehouse: cannot create directory /proc/orders: /proc does not allow new directories');
    expect(ms).toBeLessThan(2_000);
  });
});
