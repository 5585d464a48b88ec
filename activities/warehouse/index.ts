import { InvalidInputError } from '../errors';
import { DuckDbWarehouse } from './duckdb-warehouse';
import { RedshiftWarehouse, redshiftTargetFromEnv } from './redshift-warehouse';
import type { Warehouse } from './warehouse';

export type { LoadBookkeeping, LoadOutcome, LoadRequest, Warehouse } from './warehouse';
export { DuckDbWarehouse } from './duckdb-warehouse';

/** The one place a warehouse is chosen: `duckdb:PATH` or `redshift` (its target from REDSHIFT_* variables). */
export function openWarehouse(spec: string, env: NodeJS.ProcessEnv = process.env): Warehouse {
  if (spec.startsWith('duckdb:')) {
    const file = spec.slice('duckdb:'.length);
    if (!file) throw new InvalidInputError('--warehouse duckdb: needs a file path, e.g. duckdb:./data/warehouse.duckdb');
    return new DuckDbWarehouse(file);
  }
  if (spec === 'redshift') return new RedshiftWarehouse(redshiftTargetFromEnv(env));
  throw new InvalidInputError(`--warehouse must be duckdb:PATH or redshift, got "${spec}"`);
}
