import { RedshiftWarehouse, redshiftTargetFromEnv } from '../activities/warehouse/redshift-warehouse';

/**
 * Opt-in test against a real Redshift (provisioned or Serverless) through the Data API. It runs when the target is
 * configured: REDSHIFT_DATABASE, REDSHIFT_IAM_ROLE, REDSHIFT_CLUSTER_ID (+ REDSHIFT_DB_USER or REDSHIFT_SECRET_ARN)
 * or REDSHIFT_WORKGROUP (+ optional REDSHIFT_SECRET_ARN), REDSHIFT_TEST_S3_LAKE (the s3:// lake COPY will read),
 * AWS credentials and AWS_REGION. Without them it is skipped, saying why: this is the project's only permitted skip,
 * because no local stand-in speaks the Redshift Data API.
 */

const env = process.env;
const missing = [
  ...['REDSHIFT_DATABASE', 'REDSHIFT_IAM_ROLE', 'REDSHIFT_TEST_S3_LAKE'].filter((name) => !env[name]),
  ...(env.REDSHIFT_CLUSTER_ID || env.REDSHIFT_WORKGROUP ? [] : ['REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP']),
];
const live = missing.length === 0;
// Straight to stderr: jest hides console output of a suite whose only test is skipped.
if (!live) process.stderr.write(`redshift-live: skipped, no live Redshift configured (missing ${missing.join(', ')})\n`);

(live ? test : test.skip)(
  'live Redshift: ensureSchema creates the star schema and a query round-trips',
  async () => {
    const warehouse = new RedshiftWarehouse({ ...redshiftTargetFromEnv(env), pollIntervalMs: 250, maxPollIntervalMs: 2_000 });
    const steps: string[] = [];
    await warehouse.ensureSchema((step) => steps.push(step));
    expect(steps.at(-1)).toBe('FINISHED');
    await expect(warehouse.query('SELECT 1 AS one')).resolves.toEqual([{ one: 1 }]);
    const tables = await warehouse.query(
      "SELECT tablename FROM pg_table_def WHERE schemaname = 'public' AND tablename IN ('fact_sales', 'dim_order', 'dim_user', 'dim_product', 'rejected_records', 'etl_loads') GROUP BY tablename ORDER BY tablename",
    );
    expect(tables.map((r) => r.tablename)).toEqual(['dim_order', 'dim_product', 'dim_user', 'etl_loads', 'fact_sales', 'rejected_records']);
  },
  5 * 60_000,
);
