/**
 * Redshift's Data API, answered by a real PostgreSQL (PGlite: Postgres compiled to WASM, in a child process). The
 * RedshiftWarehouse under test is the real one, with its real statements: only the SDK client is stubbed, and its
 * stub runs every submitted statement on Postgres, a batch as one transaction in a session of its own (so its temp
 * tables vanish with it), as the Data API does. Two things are stood in for, both in `toPostgres` and `copyStandIn`:
 * the Redshift-only clauses Postgres lacks, and `COPY … FROM 's3://…'`, which Postgres cannot run.
 */
import {
  BatchExecuteStatementCommand,
  DescribeStatementCommand,
  ExecuteStatementCommand,
  GetStatementResultCommand,
  RedshiftDataClient,
  type DescribeStatementResponse,
  type Field,
  type SubStatementData,
} from '@aws-sdk/client-redshift-data';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { mockClient } from 'aws-sdk-client-mock';
import type { Lake } from '../../activities/lake';
import type { CopyManifest } from '../../core/lake-layout';

/** Where the S3 addresses of the test lake point: `s3://<bucket>/<key>` is the lake's `<key>`. */
export const S3_ROOT = 's3://orders-etl-test-lake';

/** The lake as Redshift sees it: the same objects, addressed by `s3://` URIs (COPY reads S3 only). */
export function s3View(lake: Lake): Lake {
  return Object.assign(Object.create(lake) as Lake, {
    location: S3_ROOT,
    uri: (key: string) => `${S3_ROOT}/${key}`,
    keyOf: (uri: string) => uri.slice(S3_ROOT.length + 1),
  });
}

/**
 * The ONE translation from Redshift's SQL to PostgreSQL's, for what Postgres does not know:
 * - `DISTSTYLE …`, `DISTKEY (…)` and `SORTKEY (…)` after a CREATE TABLE (physical design only) are dropped;
 * - `GETDATE()` (Redshift's current timestamp, without time zone) becomes `LOCALTIMESTAMP` (the session is UTC).
 * Everything else runs unchanged: `CREATE TEMP TABLE … (LIKE …)`, `DELETE … USING`, window functions, the casts.
 */
export function toPostgres(sql: string): string {
  return sql
    .replace(/\s+DISTSTYLE (?:KEY|ALL|EVEN|AUTO)(?:\s+DISTKEY \([^)]*\))?(?:\s+SORTKEY \([^)]*\))?\s*$/, '')
    .replace(/\bGETDATE\(\)/g, 'LOCALTIMESTAMP');
}

const COPY = /^COPY (\w+) FROM '([^']+)' IAM_ROLE \S+ FORMAT AS PARQUET MANIFEST$/;

/** PGlite's query and exec, answered by tests/support/pglite-process.js. */
export class Postgres {
  private readonly child: ChildProcess = fork(path.join(__dirname, 'pglite-process.js'), [], { serialization: 'advanced', stdio: 'inherit' });
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private next = 0;

  constructor() {
    this.child.on('message', ({ id, result, error }: { id: number; result?: unknown; error?: string }) => {
      const call = this.pending.get(id)!;
      this.pending.delete(id);
      if (error === undefined) call.resolve(result);
      else call.reject(new Error(error));
    });
  }

  private call<T>(method: 'query' | 'exec' | 'close', args: unknown[]): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, method, args });
    });
  }

  query(sql: string, params: unknown[] = [], options: { rowMode?: 'array' } = {}): Promise<{ rows: unknown[]; fields: { name: string }[] }> {
    return this.call('query', [sql, params, options]);
  }

  exec(sql: string): Promise<void> {
    return this.call('exec', [sql]);
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.call('close', []);
    await exited;
  }
}

interface Result {
  names: string[];
  rows: unknown[][];
}

interface Statement {
  described: DescribeStatementResponse;
  /** By sub-statement number (1-based); a single statement's under 0. */
  results: Map<number, Result>;
}

export class RedshiftOnPostgres {
  readonly client = new RedshiftDataClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  /** Every statement submitted, as the warehouse sent it (before `toPostgres`). */
  readonly submitted: string[] = [];
  private readonly statements = new Map<string, Statement>();
  private next = 0;

  private constructor(readonly pg: Postgres, private readonly parquet: DuckDBInstance, private readonly lake: Lake) {
    const mock = mockClient(this.client);
    mock.on(BatchExecuteStatementCommand).callsFake(async (input: { Sqls: string[] }) => ({ Id: await this.execute(input.Sqls, true) }));
    mock.on(ExecuteStatementCommand).callsFake(async (input: { Sql: string }) => ({ Id: await this.execute([input.Sql], false) }));
    mock.on(DescribeStatementCommand).callsFake((input: { Id: string }) => this.statement(input.Id).described);
    mock.on(GetStatementResultCommand).callsFake((input: { Id: string }) => {
      const [id, n] = input.Id.split(':');
      const result = this.statement(id).results.get(Number(n ?? 0));
      if (!result) throw new Error(`statement ${input.Id} has no result set`);
      return { ColumnMetadata: result.names.map((name) => ({ name })), Records: result.rows.map((row) => row.map(field)), TotalNumRows: result.rows.length };
    });
  }

  /** `lake` is the real lake the staged Parquet and manifests are in (the warehouse addresses it through `s3View`). */
  static async start(lake: Lake): Promise<RedshiftOnPostgres> {
    const pg = new Postgres();
    await pg.query('SELECT 1'); // started
    const parquet = await DuckDBInstance.create(':memory:');
    return new RedshiftOnPostgres(pg, parquet, lake);
  }

  async close(): Promise<void> {
    this.parquet.closeSync();
    await this.pg.close();
  }

  /** An empty database, as a new cluster's. */
  async reset(): Promise<void> {
    await this.pg.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    this.submitted.length = 0;
  }

  private statement(id: string): Statement {
    const statement = this.statements.get(id);
    if (!statement) throw Object.assign(new Error(`Statement ${id} not found`), { name: 'ResourceNotFoundException' });
    return statement;
  }

  /** Runs the statements at once (the describe that follows finds them done); a batch is one transaction. */
  private async execute(sqls: string[], batch: boolean): Promise<string> {
    const id = `pg-${++this.next}`;
    const results = new Map<number, Result>();
    const subs: SubStatementData[] = sqls.map((sql, i) => ({ Id: `${id}:${i + 1}`, Status: 'SUBMITTED', QueryString: sql }));
    let error: string | undefined;
    if (batch) await this.pg.exec('BEGIN');
    this.submitted.push(...sqls);
    for (const [i, sql] of sqls.entries()) {
      try {
        const result = COPY.test(sql) ? await this.copyStandIn(sql) : await this.run(toPostgres(sql));
        if (result) results.set(batch ? i + 1 : 0, result);
        subs[i].Status = 'FINISHED';
      } catch (err) {
        error = `ERROR: ${(err as Error).message}`;
        Object.assign(subs[i], { Status: 'FAILED', Error: error });
        break;
      }
    }
    if (batch) await this.pg.exec(error ? 'ROLLBACK' : 'COMMIT');
    await this.pg.exec('DISCARD TEMP'); // the Data API's session ends with the statement
    const hasResult = results.size > 0;
    this.statements.set(id, {
      results,
      described: {
        Id: id,
        Status: error ? 'FAILED' : 'FINISHED',
        ...(error ? { Error: error } : {}),
        HasResultSet: hasResult,
        ...(batch ? { SubStatements: subs } : {}),
      } as DescribeStatementResponse,
    });
    return id;
  }

  private async run(sql: string): Promise<Result | undefined> {
    const result = await this.pg.query(sql, [], { rowMode: 'array' });
    if (!result.fields.length) return undefined;
    return { names: result.fields.map((f) => f.name), rows: result.rows as unknown as unknown[][] };
  }

  /**
   * Stands in for `COPY stg FROM '<manifest>' … FORMAT AS PARQUET MANIFEST` as Redshift runs it: reads the files
   * the manifest lists (with DuckDB) and inserts their rows into the staging table BY POSITION, the Parquet's column
   * order against the table's, after checking the counts match, as Redshift's columnar COPY does.
   */
  private async copyStandIn(sql: string): Promise<undefined> {
    const [, table, uri] = COPY.exec(sql)!;
    if (!uri.startsWith(`${S3_ROOT}/`)) throw new Error(`COPY stand-in: ${uri} is not in the test lake`);
    const manifest = JSON.parse((await this.lake.get(uri.slice(S3_ROOT.length + 1))).toString('utf8')) as CopyManifest;
    const files = manifest.entries.map((e) => `'${e.url.replace(/'/g, "''")}'`).join(', ');
    const c = await this.parquet.connect();
    let rows: unknown[][];
    let width: number;
    try {
      await c.run("SET TimeZone = 'UTC'");
      const reader = await c.runAndReadAll(`SELECT COLUMNS(*)::VARCHAR FROM read_parquet([${files}])`);
      rows = reader.getRows();
      width = reader.columnCount;
    } finally {
      c.closeSync();
    }
    const columns = (await this.pg.query(`SELECT * FROM ${table} LIMIT 0`)).fields.length;
    if (columns !== width) throw new Error(`Spectrum Scan Error: the Parquet files have ${width} columns, ${table} has ${columns}`);
    for (let start = 0; start < rows.length; start += 500) {
      const chunk = rows.slice(start, start + 500);
      const values = chunk.map((row, r) => `(${row.map((_, k) => `$${r * width + k + 1}`).join(', ')})`).join(', ');
      await this.pg.query(`INSERT INTO ${table} VALUES ${values}`, chunk.flat());
    }
    return undefined;
  }
}

/** A Postgres value as the Data API's Field. */
function field(value: unknown): Field {
  if (value === null || value === undefined) return { isNull: true };
  if (typeof value === 'boolean') return { booleanValue: value };
  if (typeof value === 'bigint') return { longValue: Number(value) };
  if (typeof value === 'number') return Number.isInteger(value) ? { longValue: value } : { doubleValue: value };
  if (value instanceof Date) return { stringValue: value.toISOString() };
  return { stringValue: String(value) };
}
