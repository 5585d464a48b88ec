import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricValueWithName } from 'prom-client';
import { QUALITY_CHECK_NAMES, QUALITY_OUTCOMES } from '../core/quality';
import { metrics, metricsRegistry, startMetricsServer, startPipelineSeries, timedStage } from '../activities/metrics';

describe('metrics server', () => {
  test('serves our counters followed by the Temporal SDK exporter text', async () => {
    // Stands in for the Temporal Runtime's Prometheus exporter.
    const sdk = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('temporal_test_metric 1\n'));
    await new Promise<void>((resolve) => sdk.listen(0, '127.0.0.1', resolve));
    const sdkUrl = `http://127.0.0.1:${(sdk.address() as AddressInfo).port}/metrics`;
    const server = await startMetricsServer({ port: 0, sdkMetricsUrl: sdkUrl });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(server.url).not.toContain(':0/');
      metrics.recordsExtracted.inc({ pipeline: 'p1' }, 2);
      metrics.recordsExtracted.inc({ pipeline: 'p1' });
      metrics.recordsExtracted.inc({ pipeline: 'p2' }, 7);
      metrics.ordersLoaded.inc({ pipeline: 'p1' }, 2);
      metrics.linesLoaded.inc({ pipeline: 'p1' }, 5);
      metrics.runs.inc({ pipeline: 'p1', status: 'loaded' });
      metrics.qualityChecks.inc({ pipeline: 'p1', check: 'rejection_rate', outcome: 'warn' });

      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(text).toContain('orders_etl_records_extracted_total{pipeline="p1"} 3\n');
      expect(text).toContain('orders_etl_records_extracted_total{pipeline="p2"} 7\n');
      expect(text).toContain('orders_etl_orders_loaded_total{pipeline="p1"} 2\n');
      expect(text).toContain('orders_etl_lines_loaded_total{pipeline="p1"} 5\n');
      expect(text).toContain('orders_etl_runs_total{pipeline="p1",status="loaded"} 1\n');
      expect(text).toContain('orders_etl_quality_checks_total{pipeline="p1",check="rejection_rate",outcome="warn"} 1\n');
      expect(text).toContain('orders_etl_process_cpu_user_seconds_total'); // default Node metrics, prefixed
      expect(text).toContain('temporal_test_metric 1');
      expect(text.indexOf('orders_etl_records_extracted_total')).toBeLessThan(text.indexOf('temporal_test_metric'));

      expect((await fetch(server.url.replace('/metrics', '/nope'))).status).toBe(404);
    } finally {
      await server.close();
      sdk.close();
    }
  });

  test('still serves its own metrics when the SDK exporter is down', async () => {
    const server = await startMetricsServer({ port: 0, sdkMetricsUrl: 'http://127.0.0.1:1/metrics' });
    try {
      const text = await (await fetch(server.url)).text();
      expect(text).toContain('# TYPE orders_etl_bytes_staged_total counter');
    } finally {
      await server.close();
    }
  });
});

describe('pipeline series', () => {
  /** The values of a metric whose labels include `labels` (a histogram's values name their series: _bucket, _sum, _count). */
  const sample = async (name: string, labels: Record<string, string>): Promise<MetricValueWithName<string>[]> =>
    ((await metricsRegistry.getSingleMetric(name)!.get()).values as MetricValueWithName<string>[]).filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value));

  test('a stage activity is timed under its pipeline and stage, once per completed call', async () => {
    const plan = timedStage('plan', async (input: { pipelineId: string; n: number }) => input.n * 2);
    expect(await plan({ pipelineId: 'timed', n: 21 })).toBe(42);
    expect(await plan({ pipelineId: 'timed', n: 1 })).toBe(2);
    const failing = timedStage('load', async (_input: { pipelineId: string }) => {
      throw new Error('warehouse down');
    });
    await expect(failing({ pipelineId: 'timed' })).rejects.toThrow('warehouse down');

    const counts = await sample('orders_etl_stage_duration_seconds', { pipeline: 'timed' });
    const count = (stage: string) => counts.find((v) => v.metricName === 'orders_etl_stage_duration_seconds_count' && v.labels.stage === stage)?.value;
    expect(['plan', 'reference', 'extract', 'transform', 'stage', 'load'].map((stage) => [stage, count(stage)])).toEqual([
      ['plan', 2],
      ['reference', 0],
      ['extract', 0],
      ['transform', 0],
      ['stage', 0],
      ['load', 0], // the failed call is not observed; the series exists at 0 from the pipeline's first stage
    ]);
    const text = await metricsRegistry.getSingleMetricAsString('orders_etl_stage_duration_seconds');
    expect(text).toContain('orders_etl_stage_duration_seconds_bucket{le="+Inf",pipeline="timed",stage="plan"} 2\n');
  });

  test("a pipeline's counters start at 0, and starting them again keeps their counts", async () => {
    startPipelineSeries('fresh');
    metrics.recordsExtracted.inc({ pipeline: 'fresh' }, 10);
    metrics.stageDuration.observe({ pipeline: 'fresh', stage: 'extract' }, 1.5);
    startPipelineSeries('fresh');
    const values = async (name: string) => (await sample(name, { pipeline: 'fresh' })).map((v) => [v.labels.status ?? '', v.value]);
    expect(await values('orders_etl_records_extracted_total')).toEqual([['', 10]]);
    expect(await values('orders_etl_orders_loaded_total')).toEqual([['', 0]]);
    expect(await values('orders_etl_lines_loaded_total')).toEqual([['', 0]]);
    expect(await values('orders_etl_records_rejected_total')).toEqual([['', 0]]);
    expect(await values('orders_etl_bytes_staged_total')).toEqual([['', 0]]);
    expect(await values('orders_etl_runs_total')).toEqual([['loaded', 0], ['failed', 0]]);
    const checks = (await sample('orders_etl_quality_checks_total', { pipeline: 'fresh' })).map((v) => `${v.labels.check} ${v.labels.outcome} ${v.value}`);
    expect(checks).toEqual(QUALITY_CHECK_NAMES.flatMap((check) => QUALITY_OUTCOMES.map((outcome) => `${check} ${outcome} 0`)));
    const sums = (await sample('orders_etl_stage_duration_seconds', { pipeline: 'fresh' })).filter((v) => v.metricName === 'orders_etl_stage_duration_seconds_sum');
    expect(sums.map((v) => [v.labels.stage, v.value])).toEqual([['plan', 0], ['reference', 0], ['extract', 1.5], ['transform', 0], ['stage', 0], ['load', 0]]);
  });
});
