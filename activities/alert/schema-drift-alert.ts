import { schemaChangeLine, type SchemaChanges } from '../../core/schema-drift';
import type { AlertInput } from './alert';

/** A load whose fields changed against the previous load's (schema_changes), to tell people about. */
export interface SchemaDriftAlert {
  workflowId: string;
  runId: string;
  pipelineId: string;
  loadId: string;
  schemaChanges: SchemaChanges;
  detectedAt: string;
}

/** The alert of a schema drift: its changes a line each (the first ones: schema_changes has them all). */
export function schemaDriftAlert(drift: SchemaDriftAlert): AlertInput {
  const { loadId, schemaChanges } = drift;
  const { total, changes, previousLoadId } = schemaChanges;
  const more = total - changes.length;
  const lines = [
    `load ${loadId} against load ${previousLoadId}: ${total} change${total === 1 ? '' : 's'}`,
    ...changes.map((c) => `  ${schemaChangeLine(c)}`),
    ...(more > 0 ? [`  … and ${more} more: SELECT * FROM schema_changes WHERE load_id = '${loadId}'`] : []),
  ];
  return { kind: 'warning', title: 'schema drift', workflowId: drift.workflowId, runId: drift.runId, pipelineId: drift.pipelineId, details: lines.join('\n'), at: drift.detectedAt };
}
