import { createHash } from 'node:crypto';
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
  type DescribeStatementResponse,
  type Field,
  type GetStatementResultResponse,
} from '@aws-sdk/client-redshift-data';
import {
  CredentialsError,
  InvalidInputError,
  QualityGateError,
  ReconciliationError,
  WarehouseAccessError,
  WarehouseLoadError,
  WarehouseThrottledError,
  WarehouseUnavailableError,
} from '../../core/errors';
import { SCHEMA_VERSION, STAGED_TABLES, createStagingTableSql, stagedColumns, STORED_COLUMNS_SQL, STORED_VERSION_SQL, TABLES, planMigration, schemaSql, storedColumns, type TableName } from '../../core/schema';
import { assertQualityGate, type QualityResult } from '../../core/quality';
import { sqlLiteral } from '../../core/sql';
import { mergeStatements, outcomeOf, outcomeQuery, reconciliationQuery, stagingTable } from './merge-sql';
import { schemaDriftStatements } from './schema-drift-sql';
import { insertQualityChecks, qualityChecksQuery, qualityResultsOf } from './quality-sql';
import type { LoadRequest, LoadResult, Row, Warehouse } from './warehouse';

/**
 * Amazon Redshift through the Redshift Data API: no driver, no connection pool, no network path to the cluster;
 * statements are submitted over HTTPS and polled. Credentials come from the standard AWS chain (env, profile,
 * role); the database user comes from `dbUser` (temporary credentials), `secretArn` (Secrets Manager) or, on
 * Serverless, from the IAM identity.
 *
 * A load is ONE `BatchExecuteStatement`: the Data API runs its statements serially in one session and one
 * transaction, so the temp staging tables live exactly as long as the load and a failure rolls everything back.
 */

/** Where and how to reach Redshift. Exactly one of a provisioned cluster or a Serverless workgroup. */
export interface RedshiftTarget {
  /** The database to load into (`Database` of every Data API call). */
  database: string;
  /** Provisioned cluster identifier. Needs exactly one of `dbUser` or `secretArn`; excludes `workgroupName`. */
  clusterIdentifier?: string;
  /** Provisioned only: database user for temporary credentials (`redshift:GetClusterCredentials`). */
  dbUser?: string;
  /** Secrets Manager secret (name or ARN) holding `username`/`password`: provisioned, or optionally Serverless. */
  secretArn?: string;
  /** Redshift Serverless workgroup name or ARN. Excludes `clusterIdentifier` and `dbUser`. */
  workgroupName?: string;
  /**
   * IAM role COPY assumes to read the staged Parquet from S3: a role ARN (or a comma-separated chain of ARNs), or
   * `default` for the role set as the cluster's default.
   */
  iamRole: string;
  /** AWS region of the Data API endpoint; unset: the SDK's chain (AWS_REGION, profile). */
  region?: string;
  /** First poll interval of DescribeStatement, in ms; each poll doubles it. Default 500. */
  pollIntervalMs?: number;
  /** Longest poll interval, in ms. Keep it well below the load activity's heartbeat timeout. Default 10 000. */
  maxPollIntervalMs?: number;
  /** Run `ensureSchema()` (once per process and target) before the first load. Default true. */
  ensureSchemaOnLoad?: boolean;
  /** Tests: an injected client (e.g. one mocked with aws-sdk-client-mock). */
  client?: RedshiftDataClient;
  /** Tests: how to wait between polls. */
  sleep?: (ms: number) => Promise<void>;
}

/** The Data API's limit on statements in one BatchExecuteStatement. */
export const MAX_BATCH_STATEMENTS = 40;

/** Data API errors that mean "too much at once": retryable, with backoff. */
const THROTTLING_ERRORS = new Set([
  'ThrottlingException',
  'ActiveStatementsExceededException',
  'ActiveSessionsExceededException',
  'ActiveWaitingRequestsExceededException',
]);

/** Data API errors that mean the AWS credentials were refused: terminal. */
const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
]);

/** Connection failures on the way to the Data API: transient. */
const CONNECTION_ERRORS = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'TimeoutError']);

const COPY_ERRORS_HINT = 'see SYS_LOAD_ERROR_DETAIL / STL_LOAD_ERRORS for COPY errors';

/** What is wrong with a target, one line per problem, naming each value as the caller knows it. */
function targetProblems(t: Partial<RedshiftTarget>, label: (field: keyof RedshiftTarget) => string): string[] {
  const problems: string[] = [];
  if (!t.database) problems.push(`${label('database')} is required: the Redshift database to load into`);
  if (t.clusterIdentifier && t.workgroupName) {
    problems.push(`${label('clusterIdentifier')} and ${label('workgroupName')} conflict: set a provisioned cluster or a Serverless workgroup, not both`);
  } else if (!t.clusterIdentifier && !t.workgroupName) {
    problems.push(`${label('clusterIdentifier')} (provisioned) or ${label('workgroupName')} (Serverless) is required`);
  } else if (t.clusterIdentifier) {
    if (t.dbUser && t.secretArn) problems.push(`${label('dbUser')} and ${label('secretArn')} conflict: a cluster authenticates with one of them`);
    if (!t.dbUser && !t.secretArn) problems.push(`${label('clusterIdentifier')} needs ${label('dbUser')} (temporary credentials) or ${label('secretArn')} (Secrets Manager)`);
  } else if (t.dbUser) {
    problems.push(`${label('dbUser')} applies to provisioned clusters only: Serverless takes the user from the IAM identity or ${label('secretArn')}`);
  }
  if (!t.iamRole) problems.push(`${label('iamRole')} is required: the IAM role ARN COPY uses to read the staged Parquet from S3`);
  else if (t.iamRole !== 'default' && !t.iamRole.split(',').every((arn) => arn.trim().startsWith('arn:'))) {
    problems.push(`${label('iamRole')} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>) or "default", got "${t.iamRole}"`);
  }
  return problems;
}

const ENV_NAMES: Partial<Record<keyof RedshiftTarget, string>> = {
  database: 'REDSHIFT_DATABASE',
  clusterIdentifier: 'REDSHIFT_CLUSTER_ID',
  dbUser: 'REDSHIFT_DB_USER',
  secretArn: 'REDSHIFT_SECRET_ARN',
  workgroupName: 'REDSHIFT_WORKGROUP',
  iamRole: 'REDSHIFT_IAM_ROLE',
  region: 'AWS_REGION',
};

/**
 * The target of `--warehouse redshift`, from REDSHIFT_DATABASE, REDSHIFT_CLUSTER_ID + (REDSHIFT_DB_USER or
 * REDSHIFT_SECRET_ARN) or REDSHIFT_WORKGROUP (+ optional REDSHIFT_SECRET_ARN), REDSHIFT_IAM_ROLE and AWS_REGION.
 * Throws InvalidInputError with one line per missing or conflicting variable.
 */
export function redshiftTargetFromEnv(env: NodeJS.ProcessEnv = process.env): RedshiftTarget {
  const { target, problems } = readRedshiftEnv(env);
  if (problems.length) throw new InvalidInputError(`--warehouse redshift is not configured: ${problems.join('; ')}`);
  return target as RedshiftTarget;
}

/** The REDSHIFT_* variables as a target, and what is wrong with them (one line per problem, naming the variable). */
export function readRedshiftEnv(env: NodeJS.ProcessEnv): { target: Partial<RedshiftTarget>; problems: string[] } {
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const target: Partial<RedshiftTarget> = {
    database: value('REDSHIFT_DATABASE'),
    clusterIdentifier: value('REDSHIFT_CLUSTER_ID'),
    dbUser: value('REDSHIFT_DB_USER'),
    secretArn: value('REDSHIFT_SECRET_ARN'),
    workgroupName: value('REDSHIFT_WORKGROUP'),
    iamRole: value('REDSHIFT_IAM_ROLE'),
    region: value('AWS_REGION'),
  };
  for (const key of Object.keys(target) as (keyof RedshiftTarget)[]) if (target[key] === undefined) delete target[key];
  return { target, problems: targetProblems(target, (field) => ENV_NAMES[field] ?? field) };
}

/** The Redshift DDL (sql/redshift/schema.sql) as separate statements, for one BatchExecuteStatement. */
export function schemaStatements(): string[] {
  return schemaSql('redshift')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The ClientToken of a load: derived from the target and the load id only, so every submission of the same load
 * (an activity retry after a crash, a throttled submission) is the same request to the Data API, which returns the
 * statement it already has instead of running the load twice. A hash keeps it within the 64-character limit.
 */
export function loadClientToken(targetName: string, loadId: string): string {
  return `orders-etl-${createHash('sha256').update(`${targetName}\n${loadId}`).digest('hex').slice(0, 48)}`;
}

/** A Data API value as plain JS; DECIMAL, DATE and TIMESTAMP arrive as strings, as DuckDB's `query` returns them. */
function plainField(field: Field): unknown {
  if (field.isNull) return null;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.blobValue !== undefined) return Buffer.from(field.blobValue);
  return null;
}

const errorName = (err: unknown): string => (err as { name?: string } | null)?.name ?? '';
const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const abbreviate = (sql: string, max = 160): string => {
  const line = sql.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

/** Processes that already created the schema of a target (keyed by `name`): the DDL runs once per worker. */
const ensuredSchemas = new Map<string, Promise<void>>();

export class RedshiftWarehouse implements Warehouse {
  readonly name: string;
  private readonly client: RedshiftDataClient;
  private readonly pollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly target: RedshiftTarget) {
    const problems = targetProblems(target, (field) => field);
    if (problems.length) throw new InvalidInputError(`invalid Redshift target: ${problems.join('; ')}`);
    this.name = `redshift:${target.clusterIdentifier ?? target.workgroupName}/${target.database}`;
    this.client = target.client ?? new RedshiftDataClient(target.region ? { region: target.region } : {});
    this.pollIntervalMs = Math.max(1, target.pollIntervalMs ?? 500);
    this.maxPollIntervalMs = Math.max(this.pollIntervalMs, target.maxPollIntervalMs ?? 10_000);
    this.sleep = target.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The connection parameters every Data API call carries. */
  private get connection() {
    const t = this.target;
    return {
      Database: t.database,
      ...(t.clusterIdentifier ? { ClusterIdentifier: t.clusterIdentifier } : { WorkgroupName: t.workgroupName }),
      ...(t.dbUser ? { DbUser: t.dbUser } : {}),
      ...(t.secretArn ? { SecretArn: t.secretArn } : {}),
    };
  }

  private get iamRoleClause(): string {
    return this.target.iamRole === 'default' ? 'IAM_ROLE default' : `IAM_ROLE ${sqlLiteral(this.target.iamRole)}`;
  }

  /**
   * The statements of one load, in order; the Data API runs them as one transaction. Deterministic for a request
   * (no clock in the text), so a resubmission under the same ClientToken is the same request.
   *
   * 1. `CREATE TEMP TABLE stg_<t> (…)` (createStagingTableSql): the staged columns, with the target's dist/sort keys, so
   *    the merge's joins stay co-located; temp tables vanish with the batch's session.
   * 2. `COPY stg_<t> FROM '<manifest>' … FORMAT AS PARQUET MANIFEST`: the manifest lists exactly this load's files
   *    (with the `content_length` Parquet COPY needs); Parquet columns are matched by position, in DDL order.
   * 3. De-duplication guard per keyed table (see `dedupeStatements`).
   * 4. The shared merge of merge-sql.ts, its `finished_at` stamped by the database clock (GETDATE(): the start of
   *    that statement), then the schema drift of schema-drift-sql.ts (two statements when the load's records had
   *    fields), which the changes are stamped by.
   * 5. The outcome, the load's etl_loads counts, read through the reconciliation guard (see `outcomeGuard`).
   * 6. With quality gates: the checks (`qualityChecksQuery`, read back after the batch, failed or not), then their
   *    INSERT into quality_checks, which fails the batch when a check failed (see `insertQualityChecks`).
   *
   * The `CREATE TABLE IF NOT EXISTS` DDL is NOT part of this batch: it is `ensureSchema()`, its own batch run once
   * per process before the first load. The Data API caps a batch at 40 statements and a load with gates and schema
   * drift takes all 40 (a load that would need more fails before it is sent); the DDL is idempotent and needs no
   * atomicity with the data, and keeping catalog changes out of the load's transaction keeps that transaction to
   * data alone.
   */
  loadStatements(request: LoadRequest): string[] {
    const b = request.bookkeeping;
    const statements: string[] = [];
    for (const table of STAGED_TABLES) statements.push(createStagingTableSql(table, stagingTable(table)));
    for (const table of STAGED_TABLES) {
      statements.push(`COPY ${stagingTable(table)} FROM ${sqlLiteral(this.manifestUri(request, table))} ${this.iamRoleClause} FORMAT AS PARQUET MANIFEST`);
    }
    for (const table of STAGED_TABLES) statements.push(...dedupeStatements(table));
    statements.push(...mergeStatements(b, 'GETDATE()'));
    statements.push(...schemaDriftStatements(b, request.fields));
    statements.push(outcomeGuard(b));
    if (request.quality) statements.push(qualityChecksQuery(b, request.quality), insertQualityChecks(b, request.quality));
    if (statements.length > MAX_BATCH_STATEMENTS) {
      throw new Error(`a Redshift load needs ${statements.length} statements, more than the Data API's ${MAX_BATCH_STATEMENTS} per batch`);
    }
    return statements;
  }

  /**
   * What a load would execute, without contacting Redshift (`run --warehouse redshift --dry-run`): when
   * `ensureSchemaOnLoad`, the schema batch (`schemaStatements()`) and the two queries that read the stored layout
   * (whose answer decides the migration batch, if any: see `ensureSchema`), then the load batch.
   */
  dryRun(request: LoadRequest): string[] {
    return [...(this.target.ensureSchemaOnLoad === false ? [] : [...schemaStatements(), STORED_COLUMNS_SQL, STORED_VERSION_SQL]), ...this.loadStatements(request)];
  }

  private manifestUri(request: LoadRequest, table: TableName): string {
    const key = request.manifests[table];
    if (!key) throw new InvalidInputError(`load ${request.bookkeeping.loadId} has no staged manifest for ${table}`);
    const uri = request.lake.uri(key);
    if (!uri.startsWith('s3://')) {
      throw new InvalidInputError(`Redshift loads need an S3 lake (--lake s3://bucket/prefix): COPY cannot read ${uri}`);
    }
    return uri;
  }

  /**
   * Creates the tables when they are missing (sql/redshift/schema.sql: one batch, idempotent), then brings tables an
   * older version created to SCHEMA_VERSION. Redshift's `ALTER TABLE … ADD COLUMN` has no IF NOT EXISTS, so the
   * stored layout is read first, each query its own statement (information_schema lives on the leader node and
   * cannot be joined with tables), and only the columns it lacks are added: one more batch, only when needed.
   */
  async ensureSchema(heartbeat: (step: string) => void = () => {}): Promise<void> {
    await this.runBatch('creating the schema', schemaStatements(), heartbeat);
    const migration = await this.migrationStatements();
    if (!migration.length) return;
    try {
      await this.runBatch(`migrating to schema version ${SCHEMA_VERSION}`, migration, heartbeat);
    } catch (err) {
      // Another worker may have migrated in between (then our ALTER finds its column): fine if nothing is left to do.
      if ((await this.migrationStatements()).length) throw err;
    }
  }

  /** What brings the stored layout to SCHEMA_VERSION (see planMigration); throws when it cannot be done in place. */
  private async migrationStatements(): Promise<string[]> {
    const stored = storedColumns(await this.query(STORED_COLUMNS_SQL));
    const version = (await this.query(STORED_VERSION_SQL))[0]?.version;
    const { statements, problems } = planMigration('redshift', stored, version == null ? null : Number(version), new Date().toISOString());
    if (problems.length) throw new WarehouseLoadError(`${this.name} cannot be brought to schema version ${SCHEMA_VERSION}: ${problems.join('; ')}`);
    return statements;
  }

  /** One batch of statements in one transaction, outside a load; `what` names it in the error. */
  private async runBatch(what: string, sqls: string[], heartbeat: (step: string) => void): Promise<void> {
    const id = await this.submit(() => this.client.send(new BatchExecuteStatementCommand({ ...this.connection, Sqls: sqls })));
    const described = await this.waitFor(id, heartbeat);
    if (described.Status !== 'FINISHED') throw this.statementError(what, described);
  }

  private ensureSchemaOnce(heartbeat: (step: string) => void): Promise<void> {
    let ensured = ensuredSchemas.get(this.name);
    if (!ensured) {
      ensured = this.ensureSchema(heartbeat);
      ensuredSchemas.set(this.name, ensured);
      ensured.catch(() => ensuredSchemas.delete(this.name));
    }
    return ensured;
  }

  async load(request: LoadRequest, heartbeat: (step: string) => void): Promise<LoadResult> {
    const b = request.bookkeeping;
    const sqls = this.loadStatements(request);
    // 1-based numbers of the sub-statements whose failure or result means something (0: not in this batch).
    const guard = sqls.indexOf(outcomeGuard(b)) + 1;
    const checks = request.quality ? sqls.indexOf(qualityChecksQuery(b, request.quality)) + 1 : 0;
    if (this.target.ensureSchemaOnLoad !== false) await this.ensureSchemaOnce(heartbeat);
    const id = await this.submit(() =>
      this.client.send(
        new BatchExecuteStatementCommand({
          ...this.connection,
          Sqls: sqls,
          ClientToken: loadClientToken(this.name, b.loadId),
          StatementName: `orders-etl load ${b.loadId}`.slice(0, 500),
        }),
      ),
    );
    const described = await this.waitFor(id, heartbeat);
    if (described.Status !== 'FINISHED') {
      const failed = described.SubStatements?.find((s) => s.Status === 'FAILED');
      if (checks && failed && subStatementNumber(failed.Id) === checks + 1) {
        assertQualityGate(b.loadId, await this.checksOfFailedLoad(b.loadId, id, checks));
      }
      if (failed && subStatementNumber(failed.Id) === guard) {
        throw new ReconciliationError(
          `load ${b.loadId} does not reconcile (Redshift rejected the reconciliation guard: ${failed.Error ?? described.Error}); ` +
            `expected staged orders = ${b.versions}, staged lines = ${b.versionLines}, staged rejections = ${b.rejectedOrders + b.itemRejections}, ` +
            `and extracted (${b.extracted}) = orders loaded + kept + duplicates + rejected orders (${b.rejectedOrders})`,
        );
      }
      throw this.statementError(`load ${b.loadId}`, described, COPY_ERRORS_HINT);
    }
    const result = await this.send(() => this.client.send(new GetStatementResultCommand({ Id: `${id}:${guard}` })));
    const row = result.Records?.[0];
    if (!row || row.length < 5) throw new WarehouseLoadError(`Redshift load ${b.loadId} finished but etl_loads holds no row for it`);
    const outcome = outcomeOf(row.map(plainField));
    return checks ? { ...outcome, quality: await this.subStatementChecks(id, checks) } : outcome;
  }

  /** The rows of the batch's quality checks query (sub-statement `n`) as results. */
  private async subStatementChecks(id: string, n: number): Promise<QualityResult[]> {
    const result = await this.send(() => this.client.send(new GetStatementResultCommand({ Id: `${id}:${n}` })));
    return qualityResultsOf((result.Records ?? []).map((record) => record.map(plainField)));
  }

  /**
   * The checks of a load whose quality INSERT failed the batch: the checks query before it had finished, and the
   * Data API keeps a finished sub-statement's result. Should it not, the gate still fails, saying so.
   */
  private async checksOfFailedLoad(loadId: string, id: string, n: number): Promise<QualityResult[]> {
    try {
      return await this.subStatementChecks(id, n);
    } catch (err) {
      throw new QualityGateError(`load ${loadId} failed its quality gate (its checks could not be read back: ${errorMessage(err)}); nothing was committed`, []);
    }
  }

  /** A read-only query (reports, status): ExecuteStatement, poll, then every page of GetStatementResult. */
  async query(sql: string): Promise<Row[]> {
    const id = await this.submit(() => this.client.send(new ExecuteStatementCommand({ ...this.connection, Sql: sql })));
    const described = await this.waitFor(id, () => {});
    if (described.Status !== 'FINISHED') throw this.statementError(`query "${abbreviate(sql, 80)}"`, described);
    if (!described.HasResultSet) return [];
    const rows: Row[] = [];
    let names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page: GetStatementResultResponse = await this.send(() =>
        this.client.send(new GetStatementResultCommand({ Id: id, NextToken: nextToken })),
      );
      if (page.ColumnMetadata?.length) names = page.ColumnMetadata.map((c, i) => c.label ?? c.name ?? `column${i + 1}`);
      for (const record of page.Records ?? []) rows.push(Object.fromEntries(record.map((f, i) => [names[i] ?? `column${i + 1}`, plainField(f)])));
      nextToken = page.NextToken || undefined;
    } while (nextToken);
    return rows;
  }

  /** Submits a statement; a throttled or invalid submission becomes a typed error. */
  private async submit(call: () => Promise<{ Id?: string }>): Promise<string> {
    const submitted = await this.send(call, (err) =>
      errorName(err) === 'ValidationException' ? new WarehouseLoadError(`Redshift rejected the request: ${errorMessage(err)}`) : undefined,
    );
    if (!submitted.Id) throw new WarehouseLoadError('Redshift Data API returned no statement id');
    return submitted.Id;
  }

  /**
   * One Data API call (the SDK already retries it a few times), its failure classified: refused credentials and a
   * denied permission are terminal; throttling, 5xx and broken connections left over are retried by Temporal.
   */
  private async send<T>(call: () => Promise<T>, map?: (err: unknown) => Error | undefined): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const name = errorName(err);
      const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
      const detail = `(${name}): ${errorMessage(err)}`;
      if (THROTTLING_ERRORS.has(name)) throw new WarehouseThrottledError(`Redshift Data API is throttling ${detail}`);
      if (CREDENTIAL_ERRORS.has(name)) throw new CredentialsError(`${this.name}: the AWS credentials were refused ${detail}`);
      if (name === 'AccessDeniedException') throw new WarehouseAccessError(`${this.name}: access denied ${detail}`);
      if (name === 'InternalServerException' || (status !== undefined && status >= 500) || CONNECTION_ERRORS.has(name) || CONNECTION_ERRORS.has((err as { code?: string }).code ?? '')) {
        throw new WarehouseUnavailableError(`${this.name}: Redshift Data API is unavailable ${detail}`);
      }
      throw map?.(err) ?? err;
    }
  }

  /** Polls DescribeStatement with exponential backoff until FINISHED, FAILED or ABORTED; heartbeats each status. */
  private async waitFor(id: string, heartbeat: (step: string) => void): Promise<DescribeStatementResponse> {
    let interval = this.pollIntervalMs;
    for (;;) {
      await this.sleep(interval);
      const described = await this.send(() => this.client.send(new DescribeStatementCommand({ Id: id })));
      const status = described.Status ?? 'UNKNOWN';
      heartbeat(status);
      if (status === 'FINISHED' || status === 'FAILED' || status === 'ABORTED') return described;
      interval = Math.min(interval * 2, this.maxPollIntervalMs);
    }
  }

  /** FAILED or ABORTED: Redshift's own error text, which statement failed, and (loads) where COPY details live. */
  private statementError(what: string, described: DescribeStatementResponse, hint?: string): WarehouseLoadError {
    const failed = described.SubStatements?.find((s) => s.Status === 'FAILED' || s.Status === 'ABORTED');
    const where = failed
      ? ` at statement ${subStatementNumber(failed.Id) ?? '?'}/${described.SubStatements?.length}${failed.QueryString ? ` (${abbreviate(failed.QueryString)})` : ''}`
      : '';
    if (described.Status === 'ABORTED') {
      return new WarehouseLoadError(`Redshift ${what} was aborted${where}: the statement was cancelled or its session ended; nothing was committed`);
    }
    const error = described.Error ?? failed?.Error ?? 'no error text';
    return new WarehouseLoadError(`Redshift ${what} failed${where}: ${error}${hint ? ` (${hint})` : ''}; nothing was committed`);
  }
}

/** The 1-based position of a sub-statement, from its id `<batch id>:<n>`. */
function subStatementNumber(id: string | undefined): number | undefined {
  const m = /:(\d+)$/.exec(id ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Guard against a staged file listed twice (3 statements per keyed table). The transform already guarantees one
 * row per key and stream position, and the manifest lists exactly this load's parts, so in a correct run `dup_<t>` is
 * empty and nothing changes. Should a file ever be re-listed (a manifest rewritten by a retried stage, a manual
 * re-COPY), every row would arrive twice; the merge's INSERTs would then double facts and break the primary keys
 * Redshift does not enforce. Redshift has no row ids to delete "all but one" directly, so the guard keeps one row
 * of each duplicated key aside, deletes every row of those keys, and puts the kept ones back.
 * It cannot hide a transform bug: rows that differ under one key are collapsed too, and the reconciliation guard
 * then finds fewer staged rows than the transform reported. rejected_records has no key (two identical rejected
 * records are two rejections), so a doubled rejection file is caught by the reconciliation, not removed here.
 */
function dedupeStatements(table: TableName): string[] {
  if (TABLES[table].key.length === 0) return [];
  // A version is staged once: its key and stream position identify a staged row.
  const key = [...TABLES[table].key, ...stagedColumns(table).slice(TABLES[table].columns.length).map((c) => c.name)];
  const stg = stagingTable(table);
  const dup = `dup_${table}`;
  const cols = stagedColumns(table).map((c) => c.name).join(', ');
  const partition = key.join(', ');
  return [
    `CREATE TEMP TABLE ${dup} AS SELECT ${cols} FROM (SELECT ${cols}, ROW_NUMBER() OVER (PARTITION BY ${partition} ORDER BY ${cols}) AS dup_rank, ` +
      `COUNT(*) OVER (PARTITION BY ${partition}) AS dup_count FROM ${stg}) d WHERE dup_count > 1 AND dup_rank = 1`,
    `DELETE FROM ${stg} USING ${dup} WHERE ${key.map((k) => `${stg}.${k} = ${dup}.${k}`).join(' AND ')}`,
    `INSERT INTO ${stg} (${cols}) SELECT ${cols} FROM ${dup}`,
  ];
}

/**
 * The load's outcome (outcomeQuery's columns, first), read through a guard that makes the transaction fail when the
 * load does not reconcile. Redshift has no RAISE outside stored procedures, so the guard turns a problem into a
 * runtime error: `problem` is NULL when everything adds up (the concatenation is then NULL and casts to NULL: the
 * statement succeeds), and otherwise a non-numeric text whose cast to INTEGER fails ("Invalid digit…"), which fails
 * the batch and rolls the whole load back. The `'reconciliation failed: '` prefix keeps the text non-numeric
 * whatever the problem says. Redshift's cast error shows only the offending character, so `load()` recognises the
 * guard by its position and reports the expected counts itself. One statement for both keeps a load within the
 * Data API's batch limit.
 */
function outcomeGuard(b: LoadRequest['bookkeeping']): string {
  return (
    `SELECT o.*, CAST('reconciliation failed: ' || r.problem AS INTEGER) AS reconciliation_guard ` +
    `FROM (${outcomeQuery(b.loadId)}) o CROSS JOIN (${reconciliationQuery(b)}) r`
  );
}
