import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ReconciliationError, WarehouseLoadError } from '../errors';
import type { Lake } from '../lake';
import { STAGED_TABLES, schemaSql } from '../schema';
import type { CopyManifest } from '../stage/parquet';
import { mergeStatements, reconciliationQuery, sqlLiteral, stagingTable } from './merge-sql';
import type { LoadOutcome, LoadRequest, Row, Warehouse } from './warehouse';

/** JSON-friendly values: DuckDB returns BIGINT as bigint, DECIMAL and TIMESTAMP as objects. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value !== null && typeof value === 'object') return String(value);
  return value;
}

/**
 * The embedded warehouse. The file is opened for one load or one query and closed again, so reports, BI tools
 * and other processes can read it between loads.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly name: string;

  constructor(private readonly file: string) {
    this.file = path.resolve(file);
    this.name = `duckdb:${this.file}`;
  }

  private async withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>, readOnly = false): Promise<T> {
    if (!readOnly) await mkdir(path.dirname(this.file), { recursive: true });
    const instance = await DuckDBInstance.create(this.file, readOnly ? { access_mode: 'READ_ONLY' } : {});
    const connection = await instance.connect();
    try {
      // Staged TIMESTAMPTZ columns become TIMESTAMP through the session time zone: it must be UTC, not the machine's.
      await connection.run("SET TimeZone = 'UTC'");
      return await work(connection);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  async query(sql: string): Promise<Row[]> {
    return this.withConnection(async (c) => {
      const reader = await c.runAndReadAll(sql);
      return reader.getRowObjects().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
    }, true);
  }

  async load(request: LoadRequest, heartbeat: (step: string) => void): Promise<LoadOutcome> {
    const work = await mkdtemp(path.join(tmpdir(), 'orders-etl-load-'));
    try {
      return await this.withConnection(async (c) => {
        await c.run(schemaSql('duckdb'));
        for (const table of STAGED_TABLES) {
          heartbeat(`staging ${table}`);
          const files = await localFiles(request.lake, request.manifests[table], work);
          await c.run(`CREATE TEMP TABLE ${stagingTable(table)} AS SELECT * FROM read_parquet([${files.map((f) => sqlLiteral(f)).join(', ')}])`);
        }
        heartbeat('merging');
        const b = request.bookkeeping;
        await c.run('BEGIN TRANSACTION');
        try {
          for (const statement of mergeStatements(b, new Date().toISOString())) await c.run(statement);
          const problem = (await c.runAndReadAll(reconciliationQuery(b))).getRows()[0][0];
          if (problem !== null) throw new ReconciliationError(`load ${b.loadId} does not reconcile: ${String(problem)}`);
          const row = (await c.runAndReadAll(`SELECT orders_loaded, orders_kept, lines_loaded FROM etl_loads WHERE load_id = ${sqlLiteral(b.loadId)}`)).getRows()[0];
          await c.run('COMMIT');
          return { ordersLoaded: Number(row[0]), ordersKept: Number(row[1]), linesLoaded: Number(row[2]) };
        } catch (err) {
          await c.run('ROLLBACK');
          if (err instanceof ReconciliationError) throw err;
          throw new WarehouseLoadError(`DuckDB load ${b.loadId} failed: ${(err as Error).message}`);
        }
      });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** The manifest's files as local paths: exactly what COPY would read, as DuckDB can open it. */
async function localFiles(lake: Lake, manifestKey: string, work: string): Promise<string[]> {
  const manifest = JSON.parse((await lake.get(manifestKey)).toString('utf8')) as CopyManifest;
  return Promise.all(manifest.entries.map((entry) => lake.localFile(lake.keyOf(entry.url), work)));
}
