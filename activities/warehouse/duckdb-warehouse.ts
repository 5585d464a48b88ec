import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { setTimeout as sleep } from 'node:timers/promises';
import { QualityGateError, ReconciliationError, WarehouseAccessError, WarehouseBusyError, WarehouseLoadError } from '../../core/errors';
import { assertQualityGate, type QualityGates, type QualityResult } from '../../core/quality';
import { ensureDirectory } from '../file-system';
import type { CopyManifest } from '../../core/lake-layout';
import type { Lake } from '../lake';
import { SCHEMA_VERSION, STAGED_TABLES, STORED_COLUMNS_SQL, STORED_VERSION_SQL, planMigration, schemaSql, storedColumns } from '../../core/schema';
import { sqlLiteral, timestampLiteral } from '../../core/sql';
import { mergeStatements, outcomeOf, outcomeQuery, reconciliationQuery, stagingTable } from './merge-sql';
import { schemaDriftStatements } from './schema-drift-sql';
import { insertQualityResults, qualityChecksQuery, qualityResultsOf } from './quality-sql';
import type { LoadBookkeeping, LoadRequest, LoadResult, Row, Warehouse } from './warehouse';

/** JSON-friendly values: DuckDB returns BIGINT as bigint, DECIMAL and TIMESTAMP as objects. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value !== null && typeof value === 'object') return String(value);
  return value;
}

/** Open of each file in this process, in turn: each entry settles when the last open queued on it has closed. */
const openings = new Map<string, Promise<void>>();

/** Whether `promise` settles within `ms`, without leaving a timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `work` once every earlier open of `file` in this process has closed. Two DuckDB instances on one file in
 * one process do not see each other's lock (it is the process's), and the last to close overwrites the other.
 */
async function inTurn<T>(file: string, waiting: (step: string) => void, work: () => Promise<T>): Promise<T> {
  const before = openings.get(file) ?? Promise.resolve();
  let close!: () => void;
  const closed = new Promise<void>((resolve) => (close = resolve));
  const mine = before.then(() => closed);
  openings.set(file, mine);
  try {
    while (!(await settlesWithin(before, 5_000))) waiting(`waiting for another open of ${file} in this worker`);
    return await work();
  } finally {
    close();
    if (openings.get(file) === mine) openings.delete(file);
  }
}

/**
 * DuckDB's error when another process holds the file: `Could not set lock on file "…": Conflicting lock is held in …`.
 * By its message: the native error need not be an `instanceof Error` of this realm (e.g. under jest).
 */
const HELD_ELSEWHERE = 'Could not set lock on file';

/**
 * DuckDB's errors opening a file it may never open (`IO Error: Cannot open file "…": Permission denied`, a path
 * under /proc, a directory): terminal, unlike a held lock.
 */
const CANNOT_OPEN = /Permission denied|Read-only file system|No such file or directory|Is a directory|Not a directory/;

/**
 * A load's DuckDB: its working memory (beyond it DuckDB spills to disk, so a worker's memory stays flat in the
 * load's size), and no insertion order to keep (the merge's statements order what they need themselves), which lets
 * DuckDB's joins and inserts stream and spill. With staging as views (see load), a worker peaks at about 1 GB at
 * 5M orders; staging copied into 512 MB kept in order, at 1.35 GB. Less than 256 MB fails the 5M load.
 */
const LOAD_SETTINGS = { memory_limit: '256MB', preserve_insertion_order: 'false' };

/** How often a load heartbeats its current step while DuckDB works: one statement of a big merge can take minutes. */
const STEADY_HEARTBEAT_MS = 5_000;

/**
 * Runs `work` on `connection` heartbeating its current step every `everyMs`, so a long statement neither looks
 * like a dead worker nor outlives its cancellation: once the heartbeat throws (the activity was cancelled), the
 * running statement is interrupted and `work` fails with that error, whatever DuckDB said.
 */
export async function withSteadyHeartbeat<T>(
  connection: DuckDBConnection,
  heartbeat: (step: string) => void,
  work: (step: (name: string) => void) => Promise<T>,
  everyMs = STEADY_HEARTBEAT_MS,
): Promise<T> {
  let current = 'starting';
  let stopped: unknown;
  const beat = () => {
    try {
      heartbeat(current);
    } catch (err) {
      stopped ??= err;
      connection.interrupt();
    }
  };
  const timer = setInterval(beat, everyMs);
  try {
    return await work((name) => {
      current = name;
      heartbeat(name);
    });
  } catch (err) {
    throw stopped ?? err;
  } finally {
    clearInterval(timer);
  }
}

/** How long a read-only query waits for another process to let go of the file before it gives up. */
const QUERY_WAIT_MS = 60_000;

/**
 * The embedded warehouse. The file is opened for one load or one query and closed again, so reports, BI tools
 * and other processes can read it between loads; while another process holds it, an open waits its turn.
 */
export class DuckDbWarehouse implements Warehouse {
  readonly name: string;

  constructor(private readonly file: string) {
    this.file = path.resolve(file);
    this.name = `duckdb:${this.file}`;
  }

  /**
   * `waiting` is told, every few seconds, why the open is not done yet; a load's heartbeat, which also ends the
   * wait when the load is cancelled. A query waits at most QUERY_WAIT_MS for another process.
   */
  private async withConnection<T>(work: (connection: DuckDBConnection) => Promise<T>, opts: { readOnly: boolean; waiting: (step: string) => void }): Promise<T> {
    if (!opts.readOnly) await ensureDirectory(path.dirname(this.file), 'warehouse');
    return inTurn(this.file, opts.waiting, async () => {
      const instance = await this.open(opts);
      const connection = await instance.connect();
      try {
        // Staged TIMESTAMPTZ columns become TIMESTAMP through the session time zone: it must be UTC, not the machine's.
        await connection.run("SET TimeZone = 'UTC'");
        return await work(connection);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    });
  }

  private async open(opts: { readOnly: boolean; waiting: (step: string) => void }): Promise<DuckDBInstance> {
    const giveUpAt = opts.readOnly ? Date.now() + QUERY_WAIT_MS : Infinity;
    for (let attempt = 0; ; attempt++) {
      try {
        return await DuckDBInstance.create(this.file, opts.readOnly ? { access_mode: 'READ_ONLY' } : LOAD_SETTINGS);
      } catch (err) {
        const message = String((err as { message?: unknown } | null)?.message);
        if (CANNOT_OPEN.test(message)) throw new WarehouseAccessError(`${this.name} cannot be opened: ${message}`);
        if (!message.includes(HELD_ELSEWHERE)) throw err;
        if (Date.now() >= giveUpAt) throw new WarehouseBusyError(`${this.name} is held by another process: ${message}`);
        opts.waiting(`waiting for another process to let go of ${this.file}: ${message}`);
        await sleep(Math.min(100 * 2 ** attempt, 5_000));
      }
    }
  }

  async query(sql: string): Promise<Row[]> {
    return this.withConnection(async (c) => {
      const reader = await c.runAndReadAll(sql);
      return reader.getRowObjects().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
    }, { readOnly: true, waiting: () => undefined });
  }

  /** Brings a file an older version wrote to SCHEMA_VERSION (see planMigration), or stops the load saying why it cannot. */
  private async migrate(c: DuckDBConnection): Promise<void> {
    const stored = storedColumns((await c.runAndReadAll(STORED_COLUMNS_SQL)).getRowObjects());
    const version = (await c.runAndReadAll(STORED_VERSION_SQL)).getRows()[0][0];
    const { statements, problems } = planMigration('duckdb', stored, version === null ? null : Number(version), new Date().toISOString());
    if (problems.length) throw new WarehouseLoadError(`${this.name} cannot be brought to schema version ${SCHEMA_VERSION}: ${problems.join('; ')}`);
    if (!statements.length) return;
    await c.run('BEGIN TRANSACTION');
    try {
      for (const statement of statements) await c.run(statement);
      await c.run('COMMIT');
    } catch (err) {
      await c.run('ROLLBACK');
      throw new WarehouseLoadError(`migrating ${this.name} to schema version ${SCHEMA_VERSION} failed: ${(err as Error).message}`);
    }
  }

  async load(request: LoadRequest, heartbeat: (step: string) => void): Promise<LoadResult> {
    const work = await mkdtemp(path.join(tmpdir(), 'orders-etl-load-'));
    try {
      return await this.withConnection((c) => withSteadyHeartbeat(c, heartbeat, async (step) => {
        await c.run(schemaSql('duckdb'));
        await this.migrate(c);
        for (const table of STAGED_TABLES) {
          step(`staging ${table}`);
          const files = await localFiles(request.lake, request.manifests[table], work);
          // A view: the merge scans the Parquet files where they lie, instead of a copy of every staged row in memory.
          await c.run(`CREATE TEMP VIEW ${stagingTable(table)} AS SELECT * FROM read_parquet([${files.map((f) => sqlLiteral(f)).join(', ')}])`);
        }
        step('merging');
        const b = request.bookkeeping;
        await c.run('BEGIN TRANSACTION');
        try {
          for (const statement of mergeStatements(b, timestampLiteral(new Date().toISOString()))) await c.run(statement);
          for (const statement of schemaDriftStatements(b, request.fields)) await c.run(statement);
          const problem = (await c.runAndReadAll(reconciliationQuery(b))).getRows()[0][0];
          if (problem !== null) throw new ReconciliationError(`load ${b.loadId} does not reconcile: ${String(problem)}`);
          const quality = request.quality && (await checkQuality(c, b, request.quality));
          const outcome = outcomeOf((await c.runAndReadAll(outcomeQuery(b.loadId))).getRows()[0]);
          await c.run('COMMIT');
          return quality ? { ...outcome, quality } : outcome;
        } catch (err) {
          await c.run('ROLLBACK');
          if (err instanceof ReconciliationError || err instanceof QualityGateError) throw err;
          throw new WarehouseLoadError(`DuckDB load ${b.loadId} failed: ${(err as Error).message}`);
        }
      }), { readOnly: false, waiting: heartbeat });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

/** The load's quality checks, in its transaction: a failed one throws (the caller rolls back), else they are recorded. */
async function checkQuality(c: DuckDBConnection, b: LoadBookkeeping, gates: QualityGates): Promise<QualityResult[]> {
  const results = qualityResultsOf((await c.runAndReadAll(qualityChecksQuery(b, gates))).getRows());
  assertQualityGate(b.loadId, results);
  if (results.length) await c.run(insertQualityResults(b.loadId, results));
  return results;
}

/** The manifest's files as local paths: exactly what COPY would read, as DuckDB can open it. */
async function localFiles(lake: Lake, manifestKey: string, work: string): Promise<string[]> {
  const manifest = JSON.parse((await lake.get(manifestKey)).toString('utf8')) as CopyManifest;
  return Promise.all(manifest.entries.map((entry) => lake.localFile(lake.keyOf(entry.url), work)));
}
