import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { MetricValueWithName } from 'prom-client';
import { metrics, STAGES } from '../activities/metrics';
import { QUALITY_CHECK_NAMES, QUALITY_OUTCOMES } from '../core/quality';
import { expandExpr, legendOf, readDashboard, type DashboardPanel, type DashboardTarget } from '../dev/dashboard';
import { instantQuery, labelValues, selectedMetrics, seriesOf, type Labels } from '../dev/prometheus-api';
import { startScrapedWorker, type ScrapedWorker } from '../dev/scraped-worker';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { expectedRunCounts } from './support/expected';
import { ROOT, temporalAddress, testClient } from './support/temporal';

/**
 * Every query of the Grafana dashboard (monitoring/grafana/dashboards/orders-etl.json), as Grafana would send it,
 * evaluated by a real Prometheus that scraped a real worker's /metrics during a run of the sample data on the
 * Temporal dev server: each parses, each metric it names has series, and each gives what the run counted.
 */

const SAMPLE = path.join(ROOT, 'sample_data');
const expected = JSON.parse(readFileSync(path.join(SAMPLE, 'expected.json'), 'utf8'));
const dashboard = readDashboard(path.join(ROOT, 'monitoring', 'grafana', 'dashboards', 'orders-etl.json'));

/**
 * The sample passes every check its run measures; this pipeline's warnings and failures are counted by the test,
 * so the panel of warnings and failures has values to show.
 */
const QUALITY_PIPELINE = 'quality-probe';
const QUALITY_COUNTS = [
  { check: 'volume_low', outcome: 'warn', count: 1 },
  { check: 'null_price_rate', outcome: 'fail', count: 2 },
];

jest.setTimeout(180_000);

let dir: string;
let stack: ScrapedWorker | undefined;
let client: Client;
let closeClient = async (): Promise<void> => undefined;
const taskQueue = `dashboard-${randomUUID()}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-dashboard-'));
  ({ client, close: closeClient } = await testClient());
  stack = await startScrapedWorker({
    address: temporalAddress(),
    taskQueue,
    dataDir: path.join(dir, 'prometheus'),
    scrapeInterval: '1s',
    workflowBundlePath: path.join(ROOT, 'dist', 'workflow-bundle.js'),
  });
});

afterAll(async () => {
  await stack?.stop();
  await closeClient();
  rmSync(dir, { recursive: true, force: true });
});

interface Expected {
  metric: Labels;
  value: number;
}

/** A panel target's value at `at`, in a stable order (Prometheus does not sort a vector). */
async function evaluate(target: DashboardTarget, pipeline: string, window: string, at: number): Promise<Expected[]> {
  const expr = expandExpr(target.expr, { pipelines: [pipeline], rateInterval: window, range: window });
  const samples = await instantQuery(stack!.prometheus.url, expr, at);
  for (const sample of samples) expect(sample.value[0]).toBe(at);
  return samples
    .map((s) => ({ metric: s.metric, value: Number(s.value[1]) }))
    .sort((a, b) => legendOf(target.legendFormat, a.metric).localeCompare(legendOf(target.legendFormat, b.metric)));
}

/** The worker's own stage histogram of a pipeline, per stage: its single observation and that observation's bucket. */
async function stageObservations(pipeline: string): Promise<Map<string, { seconds: number; bucket: [number, number] }>> {
  const values = (await metrics.stageDuration.get()).values.filter((v) => v.labels.pipeline === pipeline) as MetricValueWithName<string>[];
  const byStage = new Map<string, { seconds: number; bucket: [number, number] }>();
  for (const stage of STAGES) {
    const of = (suffix: string) => values.filter((v) => v.labels.stage === stage && v.metricName === `orders_etl_stage_duration_seconds${suffix}`);
    expect({ stage, count: of('_count')[0].value }).toEqual({ stage, count: 1 }); // one partition: one call of each stage
    const bounds = of('_bucket').map((v) => Number(v.labels.le)).filter(Number.isFinite);
    const upper = of('_bucket').find((v) => v.value === 1 && v.labels.le !== '+Inf')!;
    const le = Number(upper.labels.le);
    byStage.set(stage, { seconds: of('_sum')[0].value, bucket: [bounds.filter((b) => b < le).at(-1) ?? 0, le] });
  }
  return byStage;
}

test("every panel's query parses, names metrics the worker serves, and gives what a run of the sample data counted", async () => {
  const pipelineId = `dashboard-${path.basename(dir).replace(/[^A-Za-z0-9]/g, '')}`;
  const input: PipelineInput = {
    pipelineId,
    source: path.join(SAMPLE, 'orders.json'),
    usersCsv: path.join(SAMPLE, 'users.csv'),
    productsCsv: path.join(SAMPLE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
  };

  // The pipeline's first run fails at its plan (no such file): its series now exist, at 0 but for one failed run.
  const failed = await client.workflow
    .execute('ordersEtl', { taskQueue, workflowId: `${pipelineId}-missing`, args: [{ ...input, source: path.join(dir, 'missing.json') }] })
    .catch((err: unknown) => err);
  expect(failed).toBeInstanceOf(WorkflowFailedError);
  for (const { check, outcome } of QUALITY_COUNTS) metrics.qualityChecks.inc({ pipeline: QUALITY_PIPELINE, check, outcome }, 0);
  const before = await stack!.nextScrape();

  for (const { check, outcome, count } of QUALITY_COUNTS) metrics.qualityChecks.inc({ pipeline: QUALITY_PIPELINE, check, outcome }, count);
  const result: PipelineResult = await client.workflow.execute('ordersEtl', { taskQueue, workflowId: pipelineId, args: [input] });
  expect(result).toMatchObject(expectedRunCounts(expected));
  const at = await stack!.nextScrape();

  // The window Grafana would derive from its time range, here from the scrape before the run (included: Prometheus
  // windows are open on the left) to the one after it. It starts on a sample of 0 and ends on a sample, so
  // increase() has nothing to extrapolate and is exact.
  const window = `${Math.round((at - before) * 1000) + 1}ms`;
  const stages = await stageObservations(pipelineId);
  const ofPipeline = (value: number) => [{ metric: { pipeline: pipelineId }, value }];
  const byStage = (value: (stage: { seconds: number; bucket: [number, number] }) => number) =>
    [...stages].map(([stage, observed]) => ({ metric: { stage }, value: value(observed) })).sort((a, b) => a.metric.stage.localeCompare(b.metric.stage));
  const runs = [
    { metric: { status: 'failed' }, value: 0 }, // the failed run came before the window
    { metric: { status: 'loaded' }, value: 1 },
  ];
  const byLabels = (a: Expected, b: Expected) => Object.values(a.metric).join(' ').localeCompare(Object.values(b.metric).join(' '));
  // Every check and outcome has a series from the pipeline's start (at 0, which the panels leave out); the run
  // counted the checks it measured.
  const checksOfRun = QUALITY_CHECK_NAMES.flatMap((check) =>
    QUALITY_OUTCOMES.map((outcome) => ({ metric: { check, outcome }, value: result.quality.filter((r) => r.check === check && r.outcome === outcome).length })),
  )
    .filter((c) => c.value > 0)
    .sort(byLabels);
  expect(checksOfRun.map((c) => `${c.metric.check} ${c.metric.outcome}`)).toEqual(['inferred_product_rate pass', 'inferred_user_rate pass', 'null_price_rate pass', 'rejection_rate pass']);
  const probeWarningsAndFailures = QUALITY_COUNTS.map((c) => ({ metric: { pipeline: QUALITY_PIPELINE, check: c.check, outcome: c.outcome }, value: c.count })).sort(byLabels);

  // What each target must give, by panel title and refId; the pipeline its `$pipeline` selects.
  const wanted: Record<string, { pipeline: string; value: Expected[]; closeTo?: boolean }> = {
    'Records extracted A': { pipeline: pipelineId, value: ofPipeline(expected.extracted) },
    'Orders and lines loaded A': { pipeline: pipelineId, value: ofPipeline(expected.orders_loaded) },
    'Orders and lines loaded B': { pipeline: pipelineId, value: ofPipeline(expected.fact_lines) },
    'Records rejected A': { pipeline: pipelineId, value: ofPipeline(expected.rejected_orders) },
    'Rejected share of extracted A': { pipeline: pipelineId, value: ofPipeline(expected.rejected_orders / expected.extracted) },
    'Run outcomes A': { pipeline: pipelineId, value: runs },
    'Runs in the time range A': { pipeline: pipelineId, value: runs },
    // One observation in the bucket (a, b]: the 95th percentile interpolates to a + 0.95 (b - a).
    'Stage duration, 95th percentile A': { pipeline: pipelineId, value: byStage(({ bucket: [a, b] }) => a + 0.95 * (b - a)), closeTo: true },
    'Average stage duration A': { pipeline: pipelineId, value: byStage(({ seconds }) => seconds), closeTo: true },
    'Quality checks by outcome A': { pipeline: pipelineId, value: checksOfRun },
    'Quality warnings and failures in the time range A': { pipeline: QUALITY_PIPELINE, value: probeWarningsAndFailures },
  };

  const targets = dashboard.panels.flatMap((panel: DashboardPanel) => panel.targets.map((target) => ({ key: `${panel.title} ${target.refId}`, target })));
  expect(targets.map((t) => t.key).sort()).toEqual(Object.keys(wanted).sort()); // every query is checked
  for (const { key, target } of targets) {
    const { pipeline, value, closeTo } = wanted[key];
    const expr = expandExpr(target.expr, { pipelines: [pipeline], rateInterval: window, range: window });
    for (const metric of await selectedMetrics(stack!.prometheus.url, expr)) {
      const series = await seriesOf(stack!.prometheus.url, metric, before, at);
      expect({ key, metric, series: series.length > 0 }).toEqual({ key, metric, series: true });
    }
    const got = await evaluate(target, pipeline, window, at);
    if (!closeTo) {
      expect({ key, got }).toEqual({ key, got: value });
      continue;
    }
    expect({ key, labels: got.map((g) => g.metric) }).toEqual({ key, labels: value.map((v) => v.metric) });
    got.forEach((g, i) => expect(g.value).toBeCloseTo(value[i].value, 9));
  }

  // The `pipeline` variable lists the pipelines the worker counted runs of.
  const [variable] = dashboard.templating.list;
  const [, metric, label] = /^label_values\((\w+),\s*(\w+)\)$/.exec(variable.query.query)!;
  expect(await labelValues(stack!.prometheus.url, label, metric)).toEqual([pipelineId]);
});

test('a multi-value pipeline selection reaches Prometheus as the regex Grafana sends', async () => {
  const expr = dashboard.panels.find((p) => p.title === 'Records extracted')!.targets[0].expr;
  const vars = { rateInterval: '5m', range: '1h' };
  expect(expandExpr(expr, { ...vars, pipelines: ['a.b', 'c'] })).toBe(
    'sum by (pipeline) (increase(orders_etl_records_extracted_total{pipeline=~"(a\\\\.b|c)"}[5m]))',
  );
  // A literal dot is escaped for the regex and that backslash for the string: Prometheus parses the selector.
  const url = stack!.prometheus.url;
  expect(await selectedMetrics(url, expandExpr(expr, { ...vars, pipelines: ['a.b', 'c'] }))).toEqual(['orders_etl_records_extracted_total']);
  expect(await instantQuery(url, expandExpr(expr, { ...vars, pipelines: ['no.such'] }), Date.now() / 1000)).toEqual([]);
});
