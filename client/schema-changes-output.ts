import { moreSchemaChanges, type SchemaChanges } from '../core/schema-drift';
import { formatTable } from './output';

/** The run summary's line of schema drift: how many fields changed, against which load. */
export function schemaChangesCell({ total, previousLoadId }: SchemaChanges): string {
  return total === 0 ? 'none' : `${total} against load ${previousLoadId} (below)`;
}

/** The changes as a table after the summary ('' when none); beyond the first few, where the rest are. */
export function formatSchemaChanges(schemaChanges: SchemaChanges, loadId: string): string {
  if (schemaChanges.total === 0) return '';
  const rows = schemaChanges.changes.map((c) => ({ change: c.change, path: c.path, 'old type': c.oldType, 'new type': c.newType }));
  const more = moreSchemaChanges(schemaChanges, loadId);
  return `\nschema changes\n${formatTable(rows)}${more ? `${more}\n` : ''}`;
}
