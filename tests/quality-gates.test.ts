import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { metrics } from '../activities/metrics';
import { DuckDbWarehouse } from '../activities/warehouse';
import { DEFAULT_QUALITY_GATES, withOverrides, type QualityGates, type QualityResult } from '../core/quality';
import { TABLES, sqlName } from '../core/schema';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { useAlertingWorker } from './support/alerting-worker';

/**
 * Quality gates end to end on the suite's Temporal dev server, a real SMTP server and DuckDB: a JSONL feed that
 * grows between runs, until a batch rejects a third of its orders. That run fails its gate: every table stays as it
 * was, byte for byte, the watermark does not move (the next run starts where the failed one did), the failure alert
 * goes out and the run still shows its checks. A warning is recorded and alerted; a volume drop against the median
 * of the previous loads fails, a smaller one warns.
 */

const suite = useAlertingWorker();

const STRICT: QualityGates = withOverrides(DEFAULT_QUALITY_GATES, { rejection_rate: { warn: 0.05, fail: 0.2 }, volume_low: { warn: 0.5, fail: 0.25 } }, 3);

let minute = 0;
/** The next order of the feed, a minute after the previous one; `bad`: without a user, so quarantined. */
function next(bad = false): string {
  minute += 1;
  const created_at = new Date(Date.UTC(2025, 0, 1) + minute * 60_000).toISOString();
  return `${JSON.stringify({ order_id: `o-${minute}`, user_id: bad ? '' : `u-${minute % 4}`, created_at, items: [{ sku: `sku-${minute % 3}`, qty: 1, price: '2.50' }] })}\n`;
}

test('a feed that suddenly rejects a third of its orders fails the gate and changes nothing; warnings and volume drops', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-quality-'));
  const feed = path.join(dir, 'orders.jsonl');
  writeFileSync(feed, '');
  const append = (goodOrBad: boolean[]) => appendFileSync(feed, goodOrBad.map((bad) => next(bad)).join(''));
  const good = (n: number) => Array.from({ length: n }, () => false);
  const warehouseFile = path.join(dir, 'warehouse.duckdb');
  const warehouse = new DuckDbWarehouse(warehouseFile);
  const pipelineId = `quality-${path.basename(dir)}`;
  const input = (quality: QualityGates): PipelineInput => ({ pipelineId, source: feed, warehouse: `duckdb:${warehouseFile}`, lake: path.join(dir, 'lake'), quality });
  const start = (quality = STRICT) => suite.client.workflow.start('ordersEtl', { taskQueue: suite.worker.taskQueue, workflowId: `quality-${randomUUID()}`, args: [input(quality)] });
  const run = async (quality = STRICT): Promise<PipelineResult> => (await start(quality)).result();
  const failedRun = async (quality = STRICT) => {
    const handle = await start(quality);
    const error = await handle.result().then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activity = (error as WorkflowFailedError).cause as ActivityFailure;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect(activity.activityType).toBe('load');
    const cause = activity.cause as ApplicationFailure;
    expect(cause.type).toBe('QualityGateError');
    expect(cause.nonRetryable).toBe(true);
    return { handle, message: cause.message, details: cause.details?.[0] as QualityResult[] };
  };
  /** Every table, every column, every row. */
  const everything = async () => {
    const out: Record<string, unknown[]> = {};
    for (const table of [...Object.keys(TABLES), 'etl_schema_version']) out[table] = await warehouse.query(`SELECT * FROM ${table} ORDER BY ALL`);
    return out;
  };
  const mails = () => suite.smtp.messages.filter((m) => m.text.includes(pipelineId));
  const counted = async (check: string, outcome: string) => (await metrics.qualityChecks.get()).values.find((v) => v.labels.pipeline === pipelineId && v.labels.check === check && v.labels.outcome === outcome)?.value ?? 0;

  // Three clean loads: 10 orders, then 10 more each time (and the one at the watermark, read again).
  append(good(10));
  expect(await run()).toMatchObject({ extracted: 10, rejected: 0, quality: [
    { check: 'rejection_rate', observed: 0, threshold: 0.05, outcome: 'pass' },
    { check: 'null_price_rate', observed: 0, threshold: 0.2, outcome: 'pass' },
  ] });
  append(good(10));
  await run();
  append(good(10));
  const third = await run();
  expect(third).toMatchObject({ extracted: 11, rejected: 0 });
  expect(mails()).toHaveLength(0);

  // 14 new orders, 5 of them without a user: with the one at the watermark, 5 of 15 rejected.
  append(Array.from({ length: 14 }, (_, i) => i % 3 === 0 && i < 13));
  const before = await everything();
  const failed = await failedRun();
  const results: QualityResult[] = [
    { check: 'rejection_rate', observed: 1 / 3, threshold: 0.2, outcome: 'fail' },
    { check: 'volume_low', observed: 15 / 11, threshold: 0.5, outcome: 'pass' }, // the median of 10, 11 and 11
    { check: 'volume_high', observed: 15 / 11, threshold: null, outcome: 'pass' },
    { check: 'null_price_rate', observed: 0, threshold: 0.2, outcome: 'pass' },
  ];
  expect(failed.details).toEqual(results);
  expect(failed.message).toMatch(/^load \S+ failed its quality gate: rejection_rate 0\.3333 \(fail: above 0\.2\); nothing was committed$/);
  expect(await everything()).toEqual(before);
  const history = await failed.handle.fetchHistory();
  expect((history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt !== 1)).toEqual([]);
  const described = await failed.handle.describe();
  expect(described.searchAttributes.QualityOutcome).toEqual(['fail']);
  expect(described.memo?.quality).toEqual(results);
  const [failureMail] = mails();
  expect(mails()).toHaveLength(1);
  expect(failureMail.subject).toBe(`orders-etl run failed: ${pipelineId}`);
  expect(failureMail.text).toContain('rejection_rate 0.3333 (fail: above 0.2)');

  // The watermark did not move: the next run starts where the failed one did. With the rejection limit relaxed it
  // loads, and its rejection rate warns: recorded, and alerted.
  const relaxedRun = await start(withOverrides(STRICT, { rejection_rate: { fail: null } }));
  const relaxed = await relaxedRun.result();
  expect(relaxed).toMatchObject({ since: new Date(third.watermark!).toISOString(), extracted: 15, rejected: 5 });
  expect(relaxed.quality[0]).toEqual({ check: 'rejection_rate', observed: 1 / 3, threshold: 0.05, outcome: 'warn' });
  expect(await warehouse.query(`SELECT ${sqlName('check')}, outcome FROM quality_checks WHERE load_id = '${relaxed.loadId}' AND outcome <> 'pass'`)).toEqual([
    { check: 'rejection_rate', outcome: 'warn' },
  ]);
  expect((await relaxedRun.describe()).searchAttributes.QualityOutcome).toEqual(['warn']);
  expect(mails()).toHaveLength(2);
  expect(mails()[1].subject).toBe(`orders-etl warning: quality checks warned: ${pipelineId}`);
  expect(mails()[1].text).toContain(`load ${relaxed.loadId}:\nrejection_rate 0.3333 (warn: above 0.05)`);

  // The feed dries up: 2 records (1 new, 1 at the watermark) against the median of 15, 11 and 11 fail the volume gate.
  append(good(1));
  const loadsBefore = await warehouse.query('SELECT COUNT(*) AS n FROM etl_loads');
  const drop = await failedRun();
  expect(drop.details.find((r) => r.check === 'volume_low')).toEqual({ check: 'volume_low', observed: 2 / 11, threshold: 0.25, outcome: 'fail' });
  expect(drop.message).toMatch(/failed its quality gate: volume_low 0\.1818 \(fail: below 0\.25\)/);
  expect(await warehouse.query('SELECT COUNT(*) AS n FROM etl_loads')).toEqual(loadsBefore);
  expect(mails()).toHaveLength(3);

  // 3 more: 5 records (the drop's one is read again) are a smaller drop, which warns.
  append(good(3));
  const smaller = await run();
  expect(smaller.quality.filter((r) => r.check.startsWith('volume_'))).toEqual([
    { check: 'volume_low', observed: 5 / 11, threshold: 0.5, outcome: 'warn' },
    { check: 'volume_high', observed: 5 / 11, threshold: null, outcome: 'pass' },
  ]);
  expect(mails()).toHaveLength(4);
  expect(mails()[3].text).toContain('volume_low 0.4545 (warn: below 0.5)');

  // Each check's outcome is counted for the pipeline.
  expect([await counted('rejection_rate', 'pass'), await counted('rejection_rate', 'warn'), await counted('rejection_rate', 'fail')]).toEqual([5, 1, 1]);
  expect([await counted('volume_low', 'pass'), await counted('volume_low', 'warn'), await counted('volume_low', 'fail')]).toEqual([2, 1, 1]);
});
