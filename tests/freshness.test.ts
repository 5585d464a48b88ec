import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ScheduleHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { pipelineIdOf } from '../client/pipeline-options';
import { formatAge, judgeFreshness } from '../core/freshness';
import { DEFAULT_QUALITY_GATES } from '../core/quality';
import type { PipelineResult } from '../workflows/types';
import { runCliInProcess } from './support/ops-cli';
import { useAlertingWorker } from './support/alerting-worker';
import { temporalAddress } from './support/temporal';

/**
 * Freshness: the rule (core/freshness.ts) with exact values, then a schedule created by the CLI with
 * `--freshness 5s` on the suite's Temporal dev server, its runs triggered one by one and a real SMTP server
 * receiving the alerts: two stale runs alert once; a fresh run, then a stale one, alerts again. `status` shows the
 * lag and the last success.
 */

describe('judgeFreshness and formatAge', () => {
  const at = '2026-01-01T12:00:00.000Z';

  test('stale beyond the limit (not at it), or without a watermark; the first stale run alerts, the next ones do not', () => {
    expect(judgeFreshness(3600, '2026-01-01T11:00:00.000Z', at, false)).toEqual({ state: { limitSeconds: 3600, lagSeconds: 3600, stale: false, alerted: false }, alert: false });
    expect(judgeFreshness(3600, '2026-01-01T10:59:59.000Z', at, false)).toEqual({ state: { limitSeconds: 3600, lagSeconds: 3601, stale: true, alerted: false }, alert: true });
    expect(judgeFreshness(3600, '2026-01-01T10:59:59.000Z', at, true)).toEqual({ state: { limitSeconds: 3600, lagSeconds: 3601, stale: true, alerted: true }, alert: false });
    expect(judgeFreshness(3600, null, at, false)).toEqual({ state: { limitSeconds: 3600, lagSeconds: null, stale: true, alerted: false }, alert: true });
    // Fresh again: the breach is over, so the next one alerts.
    expect(judgeFreshness(3600, '2026-01-01T12:00:30.000Z', at, true)).toEqual({ state: { limitSeconds: 3600, lagSeconds: -30, stale: false, alerted: false }, alert: false });
  });

  test('formatAge: the largest unit and the next', () => {
    expect([0, 5, 59, 60, 125, 3600, 3605, 90_061, 400 * 86_400, -30].map(formatAge)).toEqual(['0s', '5s', '59s', '1m 0s', '2m 5s', '1h 0m', '1h 0m', '1d 1h', '400d 0h', '-30s']);
  });
});

const suite = useAlertingWorker();
let scheduleHandle: ScheduleHandle | undefined;

beforeAll(async () => {
  process.env.TEMPORAL_ADDRESS = temporalAddress();
  process.env.TEMPORAL_TASK_QUEUE = suite.worker.taskQueue;
});

afterAll(async () => {
  await scheduleHandle?.delete().catch(() => undefined);
  delete process.env.TEMPORAL_ADDRESS;
  delete process.env.TEMPORAL_TASK_QUEUE;
});

const line = (order_id: string, created_at: string) => `${JSON.stringify({ order_id, user_id: 'u1', created_at, items: [{ sku: 'A', qty: 1, price: 1 }] })}\n`;
const toTheSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

test('a stale pipeline alerts once per breach: two stale runs one alert, fresh, then stale again a second alert', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-freshness-'));
  const feed = path.join(dir, 'orders.jsonl');
  writeFileSync(feed, line('old-1', '2025-06-01T00:00:00Z') + line('old-2', '2025-06-01T00:01:00Z'));
  const warehouse = `duckdb:${path.join(dir, 'warehouse.duckdb')}`;
  const flags = ['--source', feed, '--warehouse', warehouse, '--lake', path.join(dir, 'lake')];
  const pipelineId = pipelineIdOf(feed, warehouse);
  const stale = () => suite.smtp.messages.filter((m) => m.subject === `orders-etl warning: pipeline is stale: ${pipelineId}`);

  // Yearly: nothing fires by itself during the test; each run is a trigger, which hands on the last result.
  const created = await runCliInProcess(['schedule', 'create', ...flags, '--cron', '0 0 1 1 *', '--freshness', '5s']);
  expect(created.stderr).toContain(`created schedule orders-etl-${pipelineId} (cron 0 0 1 1 *, freshness limit 5s)`);
  scheduleHandle = suite.client.schedule.getHandle(`orders-etl-${pipelineId}`);
  const described = JSON.parse((await runCliInProcess(['schedule', 'describe', ...flags, '--json'])).stdout);
  expect(described).toMatchObject({ freshnessLimitSeconds: 5, quality: DEFAULT_QUALITY_GATES });

  const trigger = async (): Promise<PipelineResult> => {
    const { stderr } = await runCliInProcess(['schedule', 'trigger', ...flags]);
    const [, workflowId, runId] = /started (\S+) \(run (\S+)\)/.exec(stderr) ?? [];
    expect(workflowId).toBeDefined();
    return suite.client.workflow.getHandle(workflowId, runId).result();
  };

  const first = await trigger();
  expect(first.freshness).toMatchObject({ limitSeconds: 5, stale: true, alerted: true });
  expect(stale()).toHaveLength(1);
  expect(stale()[0].text).toContain(`watermark 2025-06-01T00:01:00Z, ${formatAge(first.freshness!.lagSeconds!)} behind: more than the freshness limit of 5s`);

  const second = await trigger();
  expect(second.freshness).toMatchObject({ stale: true, alerted: true });
  expect(stale()).toHaveLength(1);

  // A new order, a little ahead of the clock (within the future tolerance): the run ends fresh.
  const createdAt = toTheSecond(Date.now() + 20_000);
  appendFileSync(feed, line('new-1', createdAt));
  const fresh = await trigger();
  expect(fresh).toMatchObject({ watermark: createdAt, freshness: { limitSeconds: 5, stale: false, alerted: false } });
  expect(stale()).toHaveLength(1);

  // Nothing new, and the watermark is now more than 5 s behind: a new breach, a second alert.
  await sleep(Math.max(0, Date.parse(createdAt) + 6_500 - Date.now()));
  const again = await trigger();
  expect(again.freshness).toMatchObject({ stale: true, alerted: true });
  expect(again.freshness!.lagSeconds).toBeGreaterThan(5);
  expect(stale()).toHaveLength(2);
  expect(suite.smtp.messages).toHaveLength(2);

  // status: the lag (now − watermark) and the time since the last success, in a table and in --json.
  const status = JSON.parse((await runCliInProcess(['status', '--source', feed, '--json'])).stdout);
  const [pipeline] = status.pipelines;
  expect(pipeline).toMatchObject({ pipelineId, watermark: new Date(createdAt).toISOString(), freshness: again.freshness, quality: again.quality });
  expect(pipeline.lagSeconds).toBeGreaterThanOrEqual(again.freshness!.lagSeconds!);
  expect(Date.parse(pipeline.lastSuccessAt)).toBeGreaterThanOrEqual(Date.parse(again.finishedAt));
  expect(pipeline.sinceLastSuccessSeconds).toBeGreaterThanOrEqual(0);
  expect(pipeline.runs.map((r: { quality: string }) => r.quality)).toEqual(['pass', 'pass', 'pass', 'pass']);
  const text = (await runCliInProcess(['status', '--source', feed])).stdout;
  expect(text).toMatch(/^ {2}lag {11}\d+s$/m);
  expect(text).toMatch(/^ {2}last success {2}\S+ \(\d+s ago\)$/m);
  expect(text).toMatch(/^ {2}quality {7}pass$/m);
  expect(text).toMatch(/^ {2}freshness {5}stale \(lag \d+s, limit 5s\), alerted$/m);
});
