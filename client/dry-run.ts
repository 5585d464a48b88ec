import { openLake } from '../activities/lake';
import { loadBookkeeping } from '../core/load-counts';
import { stagedManifestKey } from '../core/lake-layout';
import { STAGED_TABLES } from '../core/schema';
import { openWarehouse } from '../activities/warehouse';
import { RedshiftWarehouse } from '../activities/warehouse/redshift-warehouse';
import { InvalidInputError } from '../core/errors';
import type { PipelineInput } from '../workflows/types';

/** `run --warehouse redshift --dry-run`: the statements one load would execute, with placeholder counts. */
export function printDryRun(input: PipelineInput): void {
  const warehouse = openWarehouse(input.warehouse);
  if (!(warehouse instanceof RedshiftWarehouse)) throw new InvalidInputError('--dry-run shows Redshift statements: use it with --warehouse redshift');
  const loadId = 'DRY-RUN';
  const statements = warehouse.dryRun({
    lake: openLake(input.lake),
    manifests: Object.fromEntries(STAGED_TABLES.map((t) => [t, stagedManifestKey(loadId, t)])),
    bookkeeping: loadBookkeeping({ loadId, pipelineId: input.pipelineId, source: input.source, startedAt: new Date().toISOString(), since: input.since, until: input.until }, []),
    quality: input.quality,
  });
  process.stdout.write(`${statements.map((s) => `${s.trim()};`).join('\n\n')}\n`);
}
