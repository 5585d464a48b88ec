import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../core/errors';
import { isUrl } from '../activities/extract/extract';
import { MAX_PARTITIONS } from '../activities/extract/partitions';
import { refuseUrlCredentials } from '../activities/extract/orders-api-client';
import { openWarehouse } from '../activities/warehouse';
import type { PipelineInput } from '../workflows/types';
import { duration, instant, integer, packageRoot, parseFlag, type EnvConfig } from './config';
import { qualityGates } from './quality-options';

/** The options `run`, `schedule create` and `status` share to name a pipeline. */
export interface PipelineFlags {
  source?: string;
  users?: string;
  products?: string;
  warehouse?: string;
  lake?: string;
  since?: string;
  until?: string;
  lookback?: string;
  pageSize?: string;
  futureTolerance?: string;
  partitions?: string;
  parallelism?: string;
  /** `--quality` items, in the order given. */
  quality?: string[];
  volumeWindow?: string;
}

export function bundledSample(): { source: string; users: string; products: string } {
  const dir = path.join(packageRoot(), 'sample_data');
  return { source: path.join(dir, 'orders.json'), users: path.join(dir, 'users.csv'), products: path.join(dir, 'products.csv') };
}

/** A local file becomes absolute and must exist; URLs pass through, without credentials. */
function location(value: string, what: string): string {
  if (isUrl(value) || value.startsWith('s3://')) {
    refuseUrlCredentials(value);
    return value;
  }
  const absolute = path.resolve(value);
  if (!existsSync(absolute)) throw new InvalidInputError(`${what} file not found: ${value}`);
  return absolute;
}

/** The warehouse as the pipeline names it: `duckdb:` with an absolute path, or `redshift`. */
export function warehouseSpec(flag: string | undefined, config: EnvConfig): string {
  const spec = flag ?? config.ORDERS_ETL_WAREHOUSE ?? `duckdb:${path.join(config.ORDERS_ETL_DATA_DIR, 'warehouse.duckdb')}`;
  // `duckdb:` alone stays empty, for openWarehouse to refuse (never the current directory).
  const file = spec.startsWith('duckdb:') ? spec.slice('duckdb:'.length) : '';
  return file ? `duckdb:${path.resolve(file)}` : spec;
}

export function sourceSpec(flag: string | undefined, config: EnvConfig): string {
  return location(flag ?? config.ORDERS_ETL_SOURCE ?? bundledSample().source, 'source');
}

/**
 * One pipeline is one source into one warehouse: the watermark belongs to it. A file is identified by its
 * absolute path (never by the port it is served on); a readable slug makes it recognisable in the UI.
 */
export function pipelineIdOf(source: string, warehouseName: string): string {
  const hash = createHash('sha256').update(`${source}\n${warehouseName}`).digest('hex').slice(0, 10);
  const name = isUrl(source) ? new URL(source).host : path.basename(source).replace(/\.[^.]+$/, '');
  return `${name.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40)}-${hash}`;
}

export function pipelineInput(flags: PipelineFlags, config: EnvConfig): PipelineInput {
  const source = sourceSpec(flags.source, config);
  const warehouse = warehouseSpec(flags.warehouse, config);
  const warehouseName = openWarehouse(warehouse).name; // validates the spec and its configuration
  // The bundled reference files go with the bundled orders; another source brings its own or none.
  const sample = bundledSample();
  const defaults = source === sample.source ? sample : { users: undefined, products: undefined };
  const users = flags.users ?? defaults.users;
  const products = flags.products ?? defaults.products;
  const lake = flags.lake ?? config.ORDERS_ETL_LAKE ?? path.join(config.ORDERS_ETL_DATA_DIR, 'lake');
  const lookbackSeconds = flags.lookback !== undefined ? parseFlag('--lookback', flags.lookback, duration) : config.ORDERS_ETL_LOOKBACK;
  const futureToleranceSeconds =
    flags.futureTolerance !== undefined ? parseFlag('--future-tolerance', flags.futureTolerance, duration) : config.ORDERS_ETL_FUTURE_TOLERANCE;
  const pageSize = flags.pageSize !== undefined ? parseFlag('--page-size', flags.pageSize, integer(1, 1000)) : config.ORDERS_ETL_PAGE_SIZE;
  const partitions = flags.partitions === undefined ? undefined : parseFlag('--partitions', flags.partitions, integer(1, MAX_PARTITIONS));
  const parallelism = flags.parallelism === undefined ? undefined : parseFlag('--parallelism', flags.parallelism, integer(1, MAX_PARTITIONS));
  const sinceMicros = flags.since === undefined ? undefined : parseFlag('--since', flags.since, instant);
  const untilMicros = flags.until === undefined ? undefined : parseFlag('--until', flags.until, instant);
  if (sinceMicros !== undefined && untilMicros !== undefined && sinceMicros >= untilMicros) throw new InvalidInputError('--since must be before --until');
  return {
    pipelineId: pipelineIdOf(source, warehouseName),
    source,
    usersCsv: users === undefined ? undefined : location(users, 'users'),
    productsCsv: products === undefined ? undefined : location(products, 'products'),
    warehouse,
    lake: lake.startsWith('s3://') ? lake : path.resolve(lake),
    since: flags.since,
    until: flags.until,
    lookbackSeconds,
    pageSize,
    futureToleranceSeconds,
    partitions,
    parallelism,
    quality: qualityGates(flags, config),
  };
}

/**
 * Workers on other machines cannot see a local lake: a partition extracted there would be missing where it is
 * transformed. With an external Temporal server (where other workers may poll the queue), say so.
 */
export function localLakeWarning(input: PipelineInput, config: EnvConfig): string[] {
  if (!config.TEMPORAL_ADDRESS || input.lake.startsWith('s3://')) return [];
  return [
    `the lake ${input.lake} is a local directory: every worker on task queue ${config.TEMPORAL_TASK_QUEUE} must run on this machine ` +
      '(or see this directory at the same path); workers on other machines need an s3:// lake',
  ];
}
