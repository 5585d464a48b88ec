import { buildRunEvent, lineageProducer, sourceDataset, warehouseDataset, type LineageTransition } from '../activities/lineage/lineage-event';
import { lineageProblems } from './support/openlineage';

/** The OpenLineage event builder: exact JSON for each transition, each valid against the vendored schemas. */

const PRODUCER = lineageProducer('0.1.0');
const base = {
  runId: '0193a6a2-7c1e-7d3f-9a4b-5c6d7e8f9012',
  pipelineId: 'shop-7f3a',
  source: '/data/orders.json',
  warehouse: 'duckdb:/data/warehouse.duckdb',
};
const counts = { extracted: 1000, rejected: 26, rejectedItems: 14, ordersLoaded: 926, linesLoaded: 2309 };

const job = { namespace: 'orders-etl', name: 'shop-7f3a' };
const input = { namespace: 'file', name: '/data/orders.json' };
const output = (table: string) => ({ namespace: 'duckdb:///data/warehouse.duckdb', name: `main.${table}` });
const stats = (rowCount: number) => ({
  outputStatistics: {
    _producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
    _schemaURL: 'https://openlineage.io/spec/facets/1-0-0/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet',
    rowCount,
  },
});

function built(transition: LineageTransition) {
  const event = buildRunEvent(transition, PRODUCER);
  expect(lineageProblems(event)).toEqual([]);
  return event;
}

test('START names the job, the source and every table the load writes, without facets', () => {
  expect(built({ ...base, eventType: 'START', eventTime: '2025-12-01T10:00:00.000Z' })).toEqual({
    eventType: 'START',
    eventTime: '2025-12-01T10:00:00.000Z',
    producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
    schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
    run: { runId: '0193a6a2-7c1e-7d3f-9a4b-5c6d7e8f9012' },
    job,
    inputs: [input],
    outputs: ['dim_user', 'dim_product', 'dim_order', 'fact_sales', 'rejected_records'].map(output),
  });
});

test('COMPLETE carries the rows extracted and the rows each table got', () => {
  expect(built({ ...base, eventType: 'COMPLETE', eventTime: '2025-12-01T10:00:09.500Z', result: counts })).toEqual({
    eventType: 'COMPLETE',
    eventTime: '2025-12-01T10:00:09.500Z',
    producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
    schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
    run: { runId: '0193a6a2-7c1e-7d3f-9a4b-5c6d7e8f9012' },
    job,
    inputs: [
      {
        ...input,
        inputFacets: {
          dataQualityMetrics: {
            _producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
            _schemaURL: 'https://openlineage.io/spec/facets/1-0-3/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet',
            rowCount: 1000,
            columnMetrics: {},
          },
        },
      },
    ],
    outputs: [
      output('dim_user'),
      output('dim_product'),
      { ...output('dim_order'), outputFacets: stats(926) },
      { ...output('fact_sales'), outputFacets: stats(2309) },
      { ...output('rejected_records'), outputFacets: stats(40) },
    ],
  });
});

test("quality outcomes become the source's assertions: a warning did not block the load, a failure did", () => {
  const quality = [
    { check: 'rejection_rate', observed: 0.026, threshold: 0.05, outcome: 'pass' as const },
    { check: 'null_price_rate', observed: 0.25, threshold: 0.2, outcome: 'warn' as const },
    { check: 'volume_low', observed: 0.1, threshold: 0.2, outcome: 'fail' as const },
  ];
  const event = built({ ...base, eventType: 'COMPLETE', eventTime: '2025-12-01T10:00:09.500Z', result: { ...counts, quality } });
  expect(event.inputs[0].facets).toEqual({
    dataQualityAssertions: {
      _producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
      _schemaURL: 'https://openlineage.io/spec/facets/1-2-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet',
      assertions: [
        { assertion: 'rejection_rate', success: true },
        { assertion: 'null_price_rate', success: false, severity: 'warn' },
        { assertion: 'volume_low', success: false, severity: 'error' },
      ],
    },
  });
  // No checks run: no assertions facet at all.
  expect(built({ ...base, eventType: 'COMPLETE', eventTime: '2025-12-01T10:00:09.500Z', result: { ...counts, quality: [] } }).inputs[0].facets).toBeUndefined();
});

test('FAIL carries the error message, its URL passwords redacted', () => {
  const event = built({ ...base, eventType: 'FAIL', eventTime: '2025-12-01T10:00:03.000Z', error: 'GET http://ann:s3cret@api.example.com/orders: HTTP 401' });
  expect(event.run).toEqual({
    runId: '0193a6a2-7c1e-7d3f-9a4b-5c6d7e8f9012',
    facets: {
      errorMessage: {
        _producer: 'https://github.com/orders-etl/orders-etl/tree/v0.1.0',
        _schemaURL: 'https://openlineage.io/spec/facets/1-0-0/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet',
        message: 'GET http://ann:***@api.example.com/orders: HTTP 401',
        programmingLanguage: 'TypeScript',
      },
    },
  });
  expect(event.outputs.every((o) => !('outputFacets' in o))).toBe(true);
  expect(built({ ...base, eventType: 'ABORT', eventTime: '2025-12-01T10:00:03.000Z' }).eventType).toBe('ABORT');
});

test('datasets: an API is its origin and orders endpoint (no credentials, no query); Redshift tables are database.public.table', () => {
  expect(sourceDataset('https://token:pw@shop.example:8443/api/v2/?tenant=3')).toEqual({ namespace: 'https://shop.example:8443', name: '/api/v2/orders' });
  expect(sourceDataset('http://127.0.0.1:8080')).toEqual({ namespace: 'http://127.0.0.1:8080', name: '/orders' });
  expect(warehouseDataset('redshift:etl-cluster/analytics', 'fact_sales')).toEqual({ namespace: 'redshift://etl-cluster', name: 'analytics.public.fact_sales' });
  expect(warehouseDataset('redshift', 'dim_user')).toEqual({ namespace: 'redshift', name: 'public.dim_user' });
  expect(warehouseDataset('duckdb:/var/lib/etl/w.duckdb', 'dim_order')).toEqual({ namespace: 'duckdb:///var/lib/etl/w.duckdb', name: 'main.dim_order' });
});

test('the validator rejects what the spec forbids', () => {
  const event = buildRunEvent({ ...base, eventType: 'FAIL', eventTime: '2025-12-01T10:00:03.000Z', error: 'boom' }, PRODUCER) as unknown as Record<string, any>;
  // allErrors also lists why the other event types of the oneOf do not match either.
  expect(lineageProblems({ ...event, run: { runId: 'run-1' } })).toContain('event/run/runId must match format "uuid" (#/properties/runId/format)');
  const { programmingLanguage: _dropped, ...facet } = event.run.facets.errorMessage;
  expect(lineageProblems({ ...event, run: { ...event.run, facets: { errorMessage: facet } } })).toEqual([
    "run.facets/errorMessage must have required property 'programmingLanguage' (#/allOf/1/required)",
  ]);
  expect(lineageProblems({ ...event, run: { ...event.run, facets: { mine: { _producer: PRODUCER, _schemaURL: 'https://example.com/x.json' } } } })).toEqual(['run.facets.mine: no vendored schema for this facet']);
});
