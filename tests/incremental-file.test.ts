import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDbWarehouse } from '../activities/warehouse';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { ROOT, useTestWorker } from './support/temporal';

/**
 * Issue 8, reproduction 4: records without a valid created_at, or not JSON, appended to a file source after a
 * run. The windowed run that follows quarantines them, exactly once and with their exact text; records before
 * the previous run's mark are not quarantined again, unless the file was rewritten.
 */
const FIXTURE = path.join(ROOT, 'tests', 'fixtures', 'juju-take-home-a');
const DATED = (JSON.parse(readFileSync(path.join(FIXTURE, 'api_orders.json'), 'utf8')) as { created_at?: unknown }[])
  .filter((o) => typeof o.created_at === 'string')
  .slice(0, 30);
/** Before the first run's mark: quarantined by the first run only. */
const EARLY_UNDATED = '{"order_id":"early","user_id":"u_1"}';
const APPENDED = {
  malformed_record: '{"order_id": "n1", "created_at":',
  invalid_created_at: '{"order_id": "n2",  "user_id": "u_1", "created_at": "2026-02-30T00:00:00Z", "amount": 9999999999999999.99}',
  missing_created_at: '{ "order_id" : "n3", "user_id": "u_1" }',
};
const NEW_ORDER = '{"order_id":"n4","user_id":"u_1","created_at":"2026-01-15T00:00:00Z","items":[{"sku":"p_1","qty":1,"price":"2.50"}]}';

const temporal = useTestWorker();

test('undated and non-JSON records appended to a file are quarantined by the next run, once, as received', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-incremental-'));
  const source = path.join(dir, 'orders.jsonl');
  const firstFile = [...DATED.slice(0, 10).map((o) => JSON.stringify(o)), EARLY_UNDATED, ...DATED.slice(10).map((o) => JSON.stringify(o))].join('\n') + '\n';
  writeFileSync(source, firstFile);
  const input: PipelineInput = {
    pipelineId: `test-incremental-${path.basename(dir)}`,
    source,
    usersCsv: path.join(FIXTURE, 'users.csv'),
    productsCsv: path.join(FIXTURE, 'products.csv'),
    warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
    lake: path.join(dir, 'lake'),
    pageSize: 7,
  };
  let runs = 0;
  const run = (): Promise<PipelineResult> => temporal.client.workflow.execute('ordersEtl', { taskQueue: temporal.worker.taskQueue, workflowId: `incremental-${++runs}-${path.basename(dir)}`, args: [input] });
  const warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
  const rejected = (loadId: string) => warehouse.query(`SELECT reason, order_id, record FROM rejected_records WHERE load_id = '${loadId}' ORDER BY reason, order_id`);

  const first = await run();
  expect(first).toMatchObject({ since: null, extracted: 31, rejected: 1, sourceMark: { offset: Buffer.byteLength(firstFile), fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  expect(await rejected(first.loadId)).toEqual([{ reason: 'missing_created_at', order_id: 'early', record: EARLY_UNDATED }]);

  appendFileSync(source, [APPENDED.malformed_record, APPENDED.invalid_created_at, APPENDED.missing_created_at, NEW_ORDER].join('\n') + '\n');
  const second = await run();
  // Windowed from the first watermark: the order at it (read again, as `since` is inclusive), the new order and
  // the three undated records after the first run's mark. The early undated record is not quarantined again.
  expect(second.since).toBe(new Date(first.watermark!).toISOString());
  expect(second).toMatchObject({ extracted: 5, rejected: 3, duplicates: 0, ordersLoaded: 2, watermark: '2026-01-15T00:00:00Z' });
  expect(await rejected(second.loadId)).toEqual([
    { reason: 'invalid_created_at', order_id: 'n2', record: APPENDED.invalid_created_at },
    { reason: 'malformed_record', order_id: null, record: APPENDED.malformed_record },
    { reason: 'missing_created_at', order_id: 'n3', record: APPENDED.missing_created_at },
  ]);
  expect(await warehouse.query(`SELECT order_id, line_amount::VARCHAR AS amount FROM fact_sales WHERE order_id = 'n4'`)).toEqual([{ order_id: 'n4', amount: '2.50' }]);

  // Nothing appended: only the order at the watermark, and nothing quarantined.
  const third = await run();
  expect(third).toMatchObject({ extracted: 1, rejected: 0, sourceMark: second.sourceMark });

  // Rewritten (its first record changed): the file no longer holds the mark, so every undated record is new again.
  writeFileSync(source, readFileSync(source, 'utf8').replace(JSON.stringify(DATED[0]), JSON.stringify({ ...DATED[0], note: 'edited' })));
  const fourth = await run();
  expect(fourth).toMatchObject({ extracted: 5, rejected: 4 });
  expect((await rejected(fourth.loadId)).map((r) => r.order_id)).toEqual(['n2', null, 'early', 'n3']);
});
