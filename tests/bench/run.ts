import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { extractOrders } from '../../activities/extract/extract';
import { LocalLake } from '../../activities/lake/local-lake';
import { stageTables } from '../../activities/stage/parquet';
import { parseProductsCsv, parseUsersCsv } from '../../activities/transform/reference';
import { transformOrders } from '../../activities/transform/transform';
import { DuckDbWarehouse } from '../../activities/warehouse';
import { formatTable } from '../../client/output';
import { generateDataset, toCsv } from '../../sample_data/generate';
import { DEFAULT_FUTURE_TOLERANCE_SECONDS } from '../../workflows/types';

/**
 * `npm run bench`: throughput of each stage on generated messy orders (no Temporal: its overhead is a few
 * round trips per run, not per record). Prints figures; asserts nothing. `BENCH_ORDERS` sets the size.
 */
async function main(): Promise<void> {
  const count = Number(process.env.BENCH_ORDERS ?? 200_000);
  const dataset = generateDataset(count, 42);
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-bench-'));
  const lake = new LocalLake(path.join(dir, 'lake'));
  const loadId = 'bench';
  const rows: Record<string, unknown>[] = [];
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const timed = async <T>(stage: string, records: number, work: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await work();
    const seconds = (performance.now() - start) / 1000;
    rows.push({ stage, records, seconds: seconds.toFixed(2), 'records/s': Math.round(records / seconds) });
    return result;
  };

  // A file source, as `run --source FILE` serves it: the bundled API reads it a page at a time over HTTP.
  const ordersFile = path.join(dir, 'orders.json');
  writeFileSync(ordersFile, JSON.stringify(dataset.orders, null, 1));
  const extracted = await timed('extract (file over HTTP, 1000/page)', count, () =>
    extractOrders({ loadId, source: ordersFile, pageSize: 1000, requestTimeoutMs: 30_000 }, lake, () => undefined),
  );
  const reference = {
    users: parseUsersCsv(toCsv(dataset.users, ['user_id', 'email', 'country', 'created_at'])),
    products: parseProductsCsv(toCsv(dataset.products, ['sku', 'name', 'category', 'price'])),
  };
  const transformed = await timed('transform (arquero)', count, () =>
    transformOrders({ loadId, rawPrefix: extracted.rawPrefix, pages: extracted.pages, rejectedAt: new Date().toISOString(), chunkRows: 50_000, notAfter: new Date(Date.now() + DEFAULT_FUTURE_TOLERANCE_SECONDS * 1000).toISOString() }, lake, reference, () => undefined),
  );
  const staged = await timed('stage (Parquet)', transformed.counts.lines, () => stageTables(loadId, transformed.tablesPrefix, lake, () => undefined));
  const { rejectedByReason: _byReason, ...counts } = transformed.counts;
  await timed('load (DuckDB merge)', counts.lines, () =>
    new DuckDbWarehouse(path.join(dir, 'warehouse.duckdb')).load(
      {
        lake,
        manifests: staged.manifests,
        bookkeeping: {
          ...counts, loadId, pipelineId: 'bench', source: ordersFile, startedAt: new Date().toISOString(), sinceTs: null, untilTs: null,
          watermark: transformed.watermark,
        },
      },
      () => undefined,
    ),
  );
  clearInterval(sampler);
  process.stdout.write(`orders-etl benchmark: ${count.toLocaleString('en-US')} orders, ${counts.lines.toLocaleString('en-US')} fact lines, ${(staged.bytes / 1e6).toFixed(1)} MB of Parquet\n\n`);
  process.stdout.write(formatTable(rows));
  process.stdout.write(`\npeak RSS ${(peakRss / 1e6).toFixed(0)} MB (node ${process.version}, ${require('node:os').cpus().length} cores)\n`);
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exit(1);
});
