import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError } from '../activities/errors';
import { isUrl } from '../activities/extract/extract';
import { refuseUrlCredentials } from '../activities/extract/orders-api-client';
import { parseIsoDateTime } from '../activities/transform/time';
import { openWarehouse } from '../activities/warehouse';
import type { PipelineInput } from '../workflows/types';
import { packageRoot, parseDuration, type EnvConfig } from './config';

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

function instant(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (parseIsoDateTime(value) === null) throw new InvalidInputError(`${flag} must be an ISO 8601 date-time such as 2025-10-01T00:00:00Z, got "${value}"`);
  return value;
}

/** The warehouse as the pipeline names it: `duckdb:` with an absolute path, or `redshift`. */
export function warehouseSpec(flag: string | undefined, config: EnvConfig): string {
  const spec = flag ?? config.ORDERS_ETL_WAREHOUSE ?? `duckdb:${path.join(config.ORDERS_ETL_DATA_DIR, 'warehouse.duckdb')}`;
  return spec.startsWith('duckdb:') ? `duckdb:${path.resolve(spec.slice('duckdb:'.length) || '.')}` : spec;
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
  const lookback = flags.lookback ?? config.ORDERS_ETL_LOOKBACK;
  const futureTolerance = flags.futureTolerance ?? config.ORDERS_ETL_FUTURE_TOLERANCE;
  const pageSize = flags.pageSize !== undefined ? Number(flags.pageSize) : config.ORDERS_ETL_PAGE_SIZE;
  if (pageSize !== undefined && (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)) {
    throw new InvalidInputError(`--page-size must be an integer from 1 to 1000, got "${flags.pageSize}"`);
  }
  const since = instant(flags.since, '--since');
  const until = instant(flags.until, '--until');
  if (since && until && parseIsoDateTime(since)! >= parseIsoDateTime(until)!) throw new InvalidInputError('--since must be before --until');
  return {
    pipelineId: pipelineIdOf(source, warehouseName),
    source,
    usersCsv: users === undefined ? undefined : location(users, 'users'),
    productsCsv: products === undefined ? undefined : location(products, 'products'),
    warehouse,
    lake: lake.startsWith('s3://') ? lake : path.resolve(lake),
    since,
    until,
    lookbackSeconds: lookback === undefined ? undefined : parseDuration(lookback, '--lookback'),
    pageSize,
    futureToleranceSeconds: futureTolerance === undefined ? undefined : parseDuration(futureTolerance, '--future-tolerance'),
  };
}
