import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics, metricsRegistry, startMetricsServer } from '../activities/metrics';

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
      metrics.recordsExtracted.inc(2);
      metrics.recordsExtracted.inc();
      metrics.ordersLoaded.inc(2);
      metrics.linesLoaded.inc(5);
      metrics.runs.inc({ status: 'completed' });

      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(text).toContain('orders_etl_records_extracted_total 3');
      expect(text).toContain('orders_etl_orders_loaded_total 2');
      expect(text).toContain('orders_etl_lines_loaded_total 5');
      expect(text).toContain('orders_etl_runs_total{status="completed"} 1');
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
      expect(text).toContain('orders_etl_bytes_staged_total');
    } finally {
      await server.close();
    }
    expect(await metricsRegistry.getSingleMetricAsString('orders_etl_records_rejected_total')).toContain('orders_etl_records_rejected_total 0');
  });
});
