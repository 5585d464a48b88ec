import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extractOrders } from '../../activities/extract/extract';
import { LocalLake } from '../../activities/lake/local-lake';
import { transformOrders } from '../../activities/transform/transform';
import { DEFAULT_CHUNK_ROWS } from '../../workflows/types';
import { benchInput } from './dataset';

/**
 * `node dist/tests/bench/transform.js`: the transform alone (the pipeline's hot loop) on one partition of generated
 * orders, to compare a change's cost: the file is extracted once (verbatim pages, as a file source's run does),
 * then transformed BENCH_RUNS times after a warm-up run. Prints each run's wall time and the process's CPU time
 * (user + system: DuckDB's Parquet threads included) and the medians. BENCH_ORDERS (default 200,000) and
 * BENCH_SEED (42) choose the input.
 */

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const orders = Number(process.env.BENCH_ORDERS ?? 200_000);
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const input = await benchInput(orders, Number(process.env.BENCH_SEED ?? 42));
  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-bench-transform-'));
  try {
    const lake = new LocalLake(dir);
    const extracted = await extractOrders({ loadId: 'bench', source: input.orders, pageSize: 500, requestTimeoutMs: 30_000 }, lake, () => undefined);
    const raw = { prefix: extracted.rawPrefix, pages: extracted.pages, verbatim: extracted.verbatim, base: extracted.base, window: extracted.window };
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let run = 0; run <= runs; run++) {
      const loadId = `bench-${run}`;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const result = await transformOrders(
        { loadId, partition: 0, raw, rejectedAt: '2025-10-05T08:00:00.000Z', chunkRows: DEFAULT_CHUNK_ROWS, notAfter: '2030-01-01T00:00:00.000Z' },
        lake,
        () => undefined,
      );
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpuBefore);
      const cpuSeconds = (used.user + used.system) / 1e6;
      rmSync(path.join(dir, 'staged', loadId), { recursive: true, force: true });
      const label = run === 0 ? 'warm-up' : `run ${run}`;
      process.stdout.write(`${label}: ${result.counts.extracted} records, wall ${seconds.toFixed(2)} s, cpu ${cpuSeconds.toFixed(2)} s (${Math.round(result.counts.extracted / seconds)} records/s)\n`);
      if (run === 0) continue;
      wall.push(seconds);
      cpu.push(cpuSeconds);
    }
    process.stdout.write(`median of ${runs}: wall ${median(wall).toFixed(2)} s, cpu ${median(cpu).toFixed(2)} s\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
