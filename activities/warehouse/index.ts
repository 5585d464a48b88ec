import { InvalidInputError } from '../../core/errors';
import { DuckDbWarehouse } from './duckdb-warehouse';
import { RedshiftWarehouse, redshiftTargetFromEnv, type RedshiftTarget } from './redshift-warehouse';
import type { Warehouse } from './warehouse';

export type { LoadBookkeeping, LoadOutcome, LoadRequest, LoadResult, Warehouse } from './warehouse';
export { DuckDbWarehouse } from './duckdb-warehouse';

function openDuckDb(spec: string): Warehouse {
  if (spec.startsWith('duckdb:')) {
    const file = spec.slice('duckdb:'.length);
    if (!file) throw new InvalidInputError('--warehouse duckdb: needs a file path, e.g. duckdb:./data/warehouse.duckdb');
    return new DuckDbWarehouse(file);
  }
  throw new InvalidInputError(`--warehouse must be duckdb:PATH or redshift, got "${spec}"`);
}

/** For a one-shot command: `duckdb:PATH` or `redshift` (its target from REDSHIFT_* variables). */
export function openWarehouse(spec: string, env: NodeJS.ProcessEnv = process.env): Warehouse {
  return spec === 'redshift' ? new RedshiftWarehouse(redshiftTargetFromEnv(env)) : openDuckDb(spec);
}

/** Opens warehouses by spec, each once (a Redshift warehouse holds its one Data API client). */
export interface Warehouses {
  open(spec: string): Warehouse;
}

/** `redshift`: the worker's validated target; absent when the worker has no REDSHIFT_* configuration. */
export function createWarehouses(redshift: RedshiftTarget | undefined): Warehouses {
  const opened = new Map<string, Warehouse>();
  return {
    open(spec) {
      let warehouse = opened.get(spec);
      if (!warehouse) {
        if (spec !== 'redshift') warehouse = openDuckDb(spec);
        else if (redshift) warehouse = new RedshiftWarehouse(redshift);
        else throw new InvalidInputError('--warehouse redshift: this worker has no Redshift target (set REDSHIFT_DATABASE, REDSHIFT_IAM_ROLE and REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP where the worker runs)');
        opened.set(spec, warehouse);
      }
      return warehouse;
    },
  };
}
