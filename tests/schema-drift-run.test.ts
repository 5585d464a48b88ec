import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipelineIdOf } from '../client/pipeline-options';
import { formatRunSummary } from '../client/run';
import { DuckDbWarehouse } from '../activities/warehouse';
import type { PipelineResult } from '../workflows/types';
import { useAlertingWorker, type AlertingWorker } from './support/alerting-worker';
import { runCliInProcess } from './support/ops-cli';
import { temporalAddress } from './support/temporal';

/**
 * Schema drift end to end: `orders-etl run` (in process) on the suite's Temporal dev server, a worker mailing its
 * alerts to a real SMTP server, DuckDB. A JSONL feed's second load grows a field, loses one and mixes a type: the
 * run completes, loads its orders, says so in its summary and `--json`, and mails one warning listing the changes;
 * with the mail server gone the run still completes.
 */

const order = (minute: number, extra: Record<string, unknown> = {}, price: unknown = '2.50') =>
  `${JSON.stringify({ order_id: `o-${minute}`, user_id: 'u-1', created_at: new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString(), items: [{ sku: 'A', qty: 1, price }], ...extra })}\n`;

/** A feed and a pipeline of its own, run through the CLI on `suite`'s worker. */
function feedOf(suite: AlertingWorker) {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-drift-'));
  const feed = path.join(dir, 'orders.jsonl');
  // Load 1: the last order (at the watermark, read again by load 2) has no metadata.
  writeFileSync(feed, order(1, { metadata: { coupon: 'X' } }) + order(2));
  const warehouseFile = path.join(dir, 'warehouse.duckdb');
  const flags = ['--source', feed, '--warehouse', `duckdb:${warehouseFile}`, '--lake', path.join(dir, 'lake'), '--json'];
  return {
    pipelineId: pipelineIdOf(feed, `duckdb:${warehouseFile}`),
    warehouse: new DuckDbWarehouse(warehouseFile),
    /** Load 2's new order: a new top-level field, and a number where prices were text. */
    drift: () => appendFileSync(feed, order(3, { channel: 'web' }, 2.5)),
    run: async (): Promise<PipelineResult> => {
      process.env.TEMPORAL_TASK_QUEUE = suite.worker.taskQueue;
      return JSON.parse((await runCliInProcess(['run', ...flags])).stdout) as PipelineResult;
    },
  };
}

const CHANGES = [
  { path: 'channel', change: 'added', oldType: null, newType: 'string' },
  { path: 'items[].price', change: 'type_changed', oldType: 'string', newType: 'number|string' },
  { path: 'metadata', change: 'removed', oldType: 'object', newType: null },
  { path: 'metadata.coupon', change: 'removed', oldType: 'string', newType: null },
];

beforeAll(() => {
  process.env.TEMPORAL_ADDRESS = temporalAddress();
});
afterAll(() => {
  delete process.env.TEMPORAL_ADDRESS;
  delete process.env.TEMPORAL_TASK_QUEUE;
});

describe('a run whose feed changed shape', () => {
  const suite = useAlertingWorker();

  test('completes and loads, shows the changes in its summary and --json, and mails one warning listing them', async () => {
    const { pipelineId, warehouse, drift, run } = feedOf(suite);
    const drifts = () => suite.smtp.messages.filter((m) => m.subject === `orders-etl warning: schema drift: ${pipelineId}`);

    const first = await run();
    expect(first.schemaChanges).toEqual({ previousLoadId: null, total: 0, changes: [] });
    expect(formatRunSummary(first)).toMatch(/^ {2}schema changes {2}none$/m);

    drift();
    const second = await run();
    expect(second).toMatchObject({ extracted: 2, ordersLoaded: 2, rejected: 0 });
    expect(second.schemaChanges).toEqual({ previousLoadId: first.loadId, total: 4, changes: CHANGES });
    expect(await warehouse.query('SELECT order_id FROM dim_order ORDER BY order_id')).toEqual([{ order_id: 'o-1' }, { order_id: 'o-2' }, { order_id: 'o-3' }]);

    const summary = formatRunSummary(second);
    expect(summary).toMatch(new RegExp(`^ {2}schema changes {2}4 against load ${first.loadId} \\(below\\)$`, 'm'));
    expect(summary.slice(summary.indexOf('\nschema changes\n'))).toBe(
      [
        '',
        'schema changes',
        'change        path             old type  new type',
        '------------  ---------------  --------  -------------',
        'added         channel                    string',
        'type_changed  items[].price    string    number|string',
        'removed       metadata         object',
        'removed       metadata.coupon  string',
        '',
      ].join('\n'),
    );

    expect(drifts()).toHaveLength(1);
    expect(drifts()[0].text).toContain(
      [
        `load ${second.loadId} against load ${first.loadId}: 4 changes`,
        '  added channel: string',
        '  type_changed items[].price: string -> number|string',
        '  removed metadata: was object',
        '  removed metadata.coupon: was string',
      ].join('\n'),
    );

    // Load 3 reads only the order at the watermark again: its price was a number only.
    const third = await run();
    expect(third.schemaChanges).toEqual({ previousLoadId: second.loadId, total: 1, changes: [{ path: 'items[].price', change: 'type_changed', oldType: 'number|string', newType: 'number' }] });
    expect(drifts()).toHaveLength(2);
    // The same record again: no change, no mail.
    expect((await run()).schemaChanges).toEqual({ previousLoadId: null, total: 0, changes: [] });
    expect(drifts()).toHaveLength(2);
  });
});

describe('a run whose drift alert cannot be delivered', () => {
  // Port 1: nothing listens, every attempt is refused.
  const suite = useAlertingWorker({ ALERT_SMTP_URL: 'smtp://127.0.0.1:1' });

  test('still completes with its changes', async () => {
    const { drift, run } = feedOf(suite);
    const first = await run();
    drift();
    const second = await run();
    expect(second).toMatchObject({ ordersLoaded: 2, schemaChanges: { previousLoadId: first.loadId, total: 4, changes: CHANGES } });
  });
});
