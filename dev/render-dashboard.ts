/**
 * `npm run render-dashboard`: draws docs/dashboard.png, the picture of the Grafana dashboard in the README.
 * Grafana cannot be installed here, so the panels are drawn from the dashboard's own queries: a few pipelines run
 * on a Temporal dev server against a worker that a real Prometheus scrapes, then each panel's queries go to
 * Prometheus's /api/v1/query_range as Grafana would send them, and the answers are drawn as SVG in the dashboard's
 * grid and screenshot with Debian's Chromium.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { packageRoot } from '../client/config';
import { generateOrders } from '../sample_data/generate';
import type { PipelineInput } from '../workflows/types';
import { expandExpr, legendOf, readDashboard } from './dashboard';
import { dashboardHtml, type DrawnPanel } from './dashboard-svg';
import { startDevServer } from './dev-server';
import { startOrdersApi } from './orders-api-server';
import { rangeQuery } from './prometheus-api';
import { startScrapedWorker } from './scraped-worker';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join('docs', 'dashboard.png');
/** Scrapes every second; Grafana's $__rate_interval for a 5 s step is then max(5 s + 1 s, 4 × 1 s). */
const SCRAPE_SECONDS = 1;
const STEP_SECONDS = 5;
const RATE_INTERVAL = `${Math.max(STEP_SECONDS + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s`;
/** Before from one pipeline's run to its next, so runs stand apart on the time axis. */
const PAUSE_MS = 25_000;

/** One pipeline's runs: each a file of `count` generated orders (a new seed each), or the sample Orders API; `null` fails (no such file). */
interface PipelinePlan {
  pipelineId: string;
  runs: Array<number | 'api' | null>;
  startAfterMs: number;
}

const PLANS: PipelinePlan[] = [
  { pipelineId: 'web-shop', runs: ['api', 'api', 'api', 'api'], startAfterMs: 0 },
  { pipelineId: 'partner-feed', runs: [1500, 800, null, 2400, 1800], startAfterMs: 8_000 },
  { pipelineId: 'mobile-app', runs: [600, 900, 1200, 700], startAfterMs: 16_000 },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clock = (t: number) => new Date(t * 1000).toISOString().slice(11, 19);

async function runPipeline(client: Client, taskQueue: string, plan: PipelinePlan, dir: string, apiUrl: string, root: string): Promise<void> {
  await sleep(plan.startAfterMs);
  for (const [i, run] of plan.runs.entries()) {
    if (i > 0) await sleep(PAUSE_MS);
    const file = path.join(dir, `${plan.pipelineId}-${i}.json`);
    if (typeof run === 'number') writeFileSync(file, JSON.stringify(generateOrders(run, 100 * i + plan.pipelineId.length)));
    const input: PipelineInput = {
      pipelineId: plan.pipelineId,
      source: run === 'api' ? apiUrl : file,
      // Every run reads its whole source (a backfill): the generated files share order ids and dates.
      since: '2000-01-01T00:00:00Z',
      usersCsv: path.join(root, 'sample_data', 'users.csv'),
      productsCsv: path.join(root, 'sample_data', 'products.csv'),
      warehouse: `duckdb:${path.join(dir, `${plan.pipelineId}.duckdb`)}`,
      lake: path.join(dir, 'lake', plan.pipelineId),
      pageSize: 250,
    };
    const outcome = await client.workflow.execute('ordersEtl', { taskQueue, workflowId: `${plan.pipelineId}-${i}-${randomUUID()}`, args: [input] }).then(
      (result) => `extracted ${result.extracted}, loaded ${result.ordersLoaded} orders, rejected ${result.rejected}`,
      (err: unknown) => {
        if (!(err instanceof WorkflowFailedError)) throw err;
        let cause: Error = err;
        while (cause.cause instanceof Error) cause = cause.cause; // the activity's own error, under Temporal's wrappers
        return `failed: ${cause.message}`;
      },
    );
    process.stderr.write(`render-dashboard: ${plan.pipelineId} run ${i + 1}: ${outcome}\n`);
  }
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  const root = packageRoot();
  const dashboard = readDashboard();
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-render-'));
  const temporal = await startDevServer({ headless: true });
  const taskQueue = `render-${randomUUID()}`;
  const stack = await startScrapedWorker({ address: temporal.address, taskQueue, dataDir: path.join(dir, 'prometheus'), scrapeInterval: `${SCRAPE_SECONDS}s` });
  // The sample orders behind an API that fails a fifth of its requests (retried), slow enough for its runs to show.
  const api = await startOrdersApi({ orders: generateOrders(1000), failRate: 0.2, seed: 11, latencyMs: 300 });
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const client = new Client({ connection });
    const start = await stack.nextScrape();
    await Promise.all(PLANS.map((plan) => runPipeline(client, taskQueue, plan, dir, api.url, root)));
    await sleep(2 * STEP_SECONDS * 1000);
    const end = await stack.nextScrape();

    const vars = { pipelines: PLANS.map((p) => p.pipelineId), rateInterval: RATE_INTERVAL, range: `${Math.ceil(end - start)}s` };
    const panels: DrawnPanel[] = [];
    for (const panel of dashboard.panels) {
      const series = [];
      for (const target of panel.targets) {
        const expr = expandExpr(target.expr, vars);
        // A stat or a bar gauge shows one value, over the whole range: its query at the range's end.
        const [from, step] = target.instant ? [end, 1] : [start, STEP_SECONDS];
        for (const s of await rangeQuery(stack.prometheus.url, expr, from, end, step)) {
          series.push({ name: legendOf(target.legendFormat, s.metric), points: s.values.map(([t, v]): [number, number] => [t, Number(v)]) });
        }
      }
      panels.push({ panel, series: series.sort((a, b) => a.name.localeCompare(b.name)) });
    }
    const html = dashboardHtml({
      title: dashboard.title,
      subtitle: `Pipeline: All (${vars.pipelines.join(', ')}) · ${clock(start)} to ${clock(end)} UTC · ${STEP_SECONDS} s steps, $__rate_interval ${RATE_INTERVAL}`,
      footnote:
        'Drawn by dev/render-dashboard.ts from the queries of monitoring/grafana/dashboards/orders-etl.json, answered by Prometheus after real runs: not a Grafana screenshot.',
      start,
      end,
      step: STEP_SECONDS,
      panels,
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await page.setContent(html);
      mkdirSync(path.join(root, path.dirname(OUTPUT)), { recursive: true });
      await page.screenshot({ path: path.join(root, OUTPUT), fullPage: true });
    } finally {
      await browser.close();
    }
    process.stderr.write(`render-dashboard: wrote ${OUTPUT}\n`);
  } finally {
    await connection.close();
    await api.close();
    await stack.stop();
    await temporal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`render-dashboard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
