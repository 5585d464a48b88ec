import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import { fileStore } from '../activities/extract/orders-store';
import { startDevServer, type DevServer } from '../dev/dev-server';
import { createWorker, type PipelineWorker } from '../worker';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { ROOT } from './support/temporal';
import { expectedRunCounts } from './support/expected';

/**
 * What an operator sees: a run whose extract failed once (an injected 503) and was retried by Temporal, in a
 * dev server's Web UI, driven through Debian's chromium (never a downloaded browser). The suite's dev server is
 * headless, so this file starts its own, with the UI.
 */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/orders-etl-ui.png';
const SAMPLE = path.join(ROOT, 'sample_data');
const expected = JSON.parse(readFileSync(path.join(SAMPLE, 'expected.json'), 'utf8'));

/**
 * The API's fault injection draws one number per /orders request from mulberry32(seed): with seed 8 the draws
 * start 0.156, 0.625 — the first request fails (< 0.5) and the second succeeds. With one page (1000 orders, page
 * size 1000) the extract's first attempt fails and its second completes: exactly two attempts.
 */
const FAIL_SEED = 8;

jest.setTimeout(120_000);

let server: DevServer | undefined;
let api: OrdersApiServer | undefined;
let pipelineWorker: PipelineWorker | undefined;
let running: Promise<void> | undefined;
let connection: Connection | undefined;
let browser: Browser | undefined;
let dir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-browser-'));
  server = await startDevServer({ headless: false });
  api = await startOrdersApi({ orders: fileStore(path.join(SAMPLE, 'orders.json')), failRate: 0.5, failStatus: 503, seed: FAIL_SEED });
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (pipelineWorker) {
    pipelineWorker.worker.shutdown();
    await running?.catch(() => undefined);
    await pipelineWorker.close();
  }
  await connection?.close();
  await api?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The list is read from the visibility store, which trails the run by a moment: reload until the run shows. */
async function openWorkflowList(page: Page, url: string, workflowId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  await page.goto(url);
  for (;;) {
    try {
      await page.getByRole('link', { name: workflowId, exact: true }).waitFor({ timeout: 5_000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await page.reload();
    }
  }
}

test('the Web UI shows the run and its extract retried after an injected 503', async () => {
  const taskQueue = `browser-${randomUUID()}`;
  pipelineWorker = await createWorker({ address: server!.address, taskQueue, workflowBundlePath: path.join(ROOT, 'dist', 'workflow-bundle.js') });
  running = pipelineWorker.worker.run();
  connection = await Connection.connect({ address: server!.address });
  const client = new Client({ connection });

  const workflowId = `browser-${path.basename(dir)}`;
  const pipelineId = `test-browser-${path.basename(dir)}`;
  const input: PipelineInput = {
    pipelineId,
    source: api!.url,
    usersCsv: path.join(SAMPLE, 'users.csv'),
    productsCsv: path.join(SAMPLE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    pageSize: 1000,
  };
  const result: PipelineResult = await client.workflow.execute('ordersEtl', { taskQueue, workflowId, args: [input], workflowExecutionTimeout: '90s' });
  expect(result).toMatchObject(expectedRunCounts(expected));
  // One injected 503, then the page: the seed did what it is chosen for.
  expect(Object.fromEntries(api!.stats)).toEqual({ 503: 1, 200: 1 });

  // The history agrees: extract scheduled once, started on its second attempt, after the 503.
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'extract');
  expect(scheduled).toHaveLength(1);
  const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled[0].eventId!.toString());
  expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(2);
  expect(started?.activityTaskStartedEventAttributes?.lastFailure?.message).toMatch(/HTTP 503$/);
  const startedEventId = started!.eventId!.toString();
  const completedEventId = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduled[0].eventId!.toString())!.eventId!.toString();

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.setDefaultTimeout(20_000);
  const ui = server!.uiUrl!;

  // The list: the run is there, completed.
  await openWorkflowList(page, `${ui}/namespaces/default/workflows`, workflowId);
  const listRow = page.getByRole('row').filter({ has: page.getByRole('link', { name: workflowId, exact: true }) });
  await expectVisible(listRow.getByText('Completed', { exact: true }));
  await expectVisible(listRow.getByRole('link', { name: 'ordersEtl', exact: true }));

  // The list filtered on the pipeline's custom search attributes still finds it.
  const query = `PipelineId = "${pipelineId}" AND RecordsExtracted = ${expected.extracted}`;
  await openWorkflowList(page, `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`, workflowId);
  await expectVisible(page.getByText('1 Completed', { exact: true }));

  // The run's page: its history, with the extract's retry in the timeline ("2 • extract": attempt 2).
  await page.getByRole('link', { name: workflowId, exact: true }).click();
  await page.waitForURL(new RegExp(`/workflows/${workflowId}/[0-9a-f-]+/history$`));
  await expectVisible(page.getByRole('heading', { name: workflowId }));
  await expectVisible(page.getByText(/^\s*2\s*•\s*extract\s*$/));

  // The compact event view: one row per activity; extract's shows attempt 2, the others attempt 1.
  await page.getByRole('button', { name: 'Compact' }).click();
  const activityRow = (type: string) => page.getByRole('row').filter({ hasText: 'Activity Type' }).filter({ hasText: new RegExp(`Activity Type\\s*${type}\\s*Attempt`) });
  const extractRow = activityRow('extract');
  await expectVisible(extractRow);
  expect(await extractRow.count()).toBe(1);
  expect(normalise(await extractRow.innerText())).toMatch(/Activity Type extract Attempt 2 Result \{"rawPrefix":/);
  for (const other of ['pipelineState', 'transform', 'stage', 'load']) {
    expect(normalise(await activityRow(other).innerText())).toMatch(new RegExp(`Activity Type ${other} Attempt 1 `));
  }

  // Opened: its Activity Task Started event says attempt 2, and its last failure is the injected 503.
  await extractRow.click();
  await expectVisible(page.getByText('Activity Task Started', { exact: true }));
  await expectVisible(page.getByText(/TransientSourceError: GET http:\/\/127\.0\.0\.1:\d+\/orders\?limit=1000: HTTP 503/));
  const details = normalise(await page.locator('table').last().innerText());
  expect(details).toMatch(
    new RegExp(`${startedEventId} Activity Task Started .*? Attempt 2 .*? Last Failure .*?"message": "GET [^"]*/orders\\?limit=1000: HTTP 503".*? ${completedEventId} Activity Task Completed `),
  );
  await extractRow.scrollIntoViewIfNeeded();
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // The custom search attributes and the memo are on their tabs.
  await page.getByText('Search Attributes', { exact: true }).click();
  await page.waitForURL(/\/search-attributes$/);
  const attributes = page.locator('main');
  await expectVisible(attributes.getByText(`"${pipelineId}"`));
  expect(normalise(await attributes.innerText())).toMatch(new RegExp(`"RecordsExtracted": \\[ ${expected.extracted} \\]`));
  expect(normalise(await attributes.innerText())).toMatch(new RegExp(`"RecordsLoaded": \\[ ${expected.orders_loaded} \\]`));
  expect(normalise(await attributes.innerText())).toMatch(/"PipelineStage": \[ "done" \]/);

  await page.getByText('Memo', { exact: true }).click();
  await page.waitForURL(/\/memo$/);
  await expectVisible(page.locator('main').getByText(`"loadId": "${result.loadId}"`));
  expect(normalise(await page.locator('main').innerText())).toContain(`"linesLoaded": ${expected.fact_lines}`);
});

const normalise = (text: string): string => text.replace(/\s+/g, ' ');

async function expectVisible(locator: ReturnType<Page['locator']>): Promise<void> {
  await locator.first().waitFor({ state: 'visible' });
}
