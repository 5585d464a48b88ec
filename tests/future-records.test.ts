import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startOrdersApi } from '../dev/orders-api-server';
import { DuckDbWarehouse } from '../activities/warehouse';
import type { PipelineInput, PipelineResult } from '../workflows/types';
import { useTestWorker } from './support/temporal';

/**
 * Issue 8 #2 on a real Temporal dev server and the bundled Orders API: a record from a bad clock (2099) is
 * quarantined as future_created_at, never moves the watermark, and so never stops the next runs.
 */

const temporal = useTestWorker();

/** An instant this many minutes before now, to the second (the watermark's search attribute keeps milliseconds). */
const minutesAgo = (minutes: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutes * 60_000).toISOString().replace('.000Z', 'Z');

test('a record created in 2099 is quarantined as future_created_at; the watermark stays; the next run loads new orders', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-future-'));
  const order = (order_id: string, created_at: string) => ({ order_id, user_id: 'u1', created_at, items: [{ sku: 'A', qty: 1, price: 1 }] });
  const real = order('o1', minutesAgo(120));
  const future = order('o-2099', '2099-01-01T00:00:00Z');
  const later = order('o2', minutesAgo(60));
  const run = async (orders: unknown[], id: string): Promise<PipelineResult> => {
    const api = await startOrdersApi({ orders });
    try {
      const args: PipelineInput = {
        pipelineId: `future-${path.basename(dir)}`,
        source: api.url,
        warehouse: `duckdb:${path.join(dir, 'warehouse.duckdb')}`,
        lake: path.join(dir, 'lake'),
      };
      return await temporal.client.workflow.execute('ordersEtl', { taskQueue: temporal.worker.taskQueue, workflowId: `${id}-${path.basename(dir)}`, args: [args] });
    } finally {
      await api.close();
    }
  };

  const first = await run([real, future], 'future-first');
  expect(first).toMatchObject({ extracted: 2, rejected: 1, ordersLoaded: 1, watermark: real.created_at });

  // The source has a new order since; the next run reads from the watermark, so the 2099 record again.
  const second = await run([real, future, later], 'future-second');
  expect(second).toMatchObject({ since: new Date(real.created_at).toISOString(), extracted: 3, rejected: 1, watermark: later.created_at });

  const warehouse = new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb'));
  expect(await warehouse.query('SELECT order_id FROM dim_order ORDER BY order_id')).toEqual([{ order_id: 'o1' }, { order_id: 'o2' }]);
  expect(await warehouse.query('SELECT order_id, reason FROM rejected_records')).toEqual([
    { order_id: 'o-2099', reason: 'future_created_at' },
    { order_id: 'o-2099', reason: 'future_created_at' },
  ]);
});
