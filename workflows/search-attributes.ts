/**
 * The custom search attributes the pipeline's workflows set, with their Temporal types. They belong to the
 * workflows (orders-etl.ts upserts them); the dev server and the CLI's Temporal session register them from here.
 */
export const SEARCH_ATTRIBUTES = {
  PipelineId: 'Keyword',
  Watermark: 'Datetime',
  LoadId: 'Keyword',
  RecordsExtracted: 'Int',
  RecordsLoaded: 'Int',
  RecordsRejected: 'Int',
  PipelineStage: 'Keyword',
  /** The run's worst quality check: pass, warn or fail. */
  QualityOutcome: 'Keyword',
} as const;
