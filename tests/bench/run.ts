import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { formatTable } from '../../client/output';
import { benchInput, type BenchInput } from './dataset';
import { runPipeline, stageTimings, startServer, startWorkers, type CliRunResult, type StageTiming } from './pipeline';
import { pythonForPeers, runDuckDbPeer, runPythonPeers, type PeerOutcome } from './peers';

/**
 * `npm run bench [-- --json]`: orders-etl end to end through Temporal (a warm dev server, 1 and then 2 worker
 * processes) beside the tools a data engineer would use instead, on one generated messy input. Figures only:
 * nothing is asserted.
 *
 * BENCH_ORDERS (default 1,000,000) and BENCH_SEED (42) choose the input; BENCH_WORKERS ("1,2") the worker
 * counts; `worker --concurrency` is BENCH_CONCURRENCY (default the number of cores, plus one slot for the
 * reference files' staging, which runs beside the partitions) and `run --partitions` / `--parallelism` are
 * BENCH_PARTITIONS and BENCH_PARALLELISM (default the machine's cores, which its workers share). BENCH_PEERS=0 times
 * orders-etl alone (e.g. `BENCH_ORDERS=5000000 BENCH_WORKERS=1 BENCH_PEERS=0` for the worker's memory at 5M).
 */

const WARM_UP_ORDERS = 1000;

interface ToolRow {
  tool: string;
  seconds?: number;
  peakRss?: number;
  detail: string;
}

interface PipelineMeasure {
  workers: number;
  run: CliRunResult;
  stages: StageTiming[];
  workerPeakRss: number[];
  args: { worker: string[]; run: string[] };
}

/** A positive integer, else the error names the variable. */
function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${text}"`);
  return value;
}

const envInt = (name: string, fallback: number): number => positiveInt(name, process.env[name] ?? String(fallback));

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/**
 * The flags of one configuration. The bench's workers share this machine's cores: a partition per core, whatever
 * the number of workers (a partition per core of each worker oversubscribed them: 4 transform threads on 2 cores).
 */
function configurationArgs(): { worker: string[]; run: string[] } {
  const concurrency = envInt('BENCH_CONCURRENCY', cpus().length + 1);
  const slots = cpus().length;
  return {
    worker: ['--concurrency', String(concurrency)],
    run: ['--partitions', String(envInt('BENCH_PARTITIONS', slots)), '--parallelism', String(envInt('BENCH_PARALLELISM', slots))],
  };
}

/** N fresh workers on a task queue of their own, warmed by one small run, then the timed run (a pipeline of its own). */
async function measurePipeline(address: string, workers: number, input: BenchInput, warmUp: BenchInput, dir: string): Promise<PipelineMeasure> {
  const args = configurationArgs();
  const taskQueue = `orders-etl-bench-${workers}w-${randomUUID().slice(0, 8)}`;
  const runDir = (name: string) => {
    const d = path.join(dir, `${workers}w-${name}`);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const pool = startWorkers(workers, address, taskQueue, path.join(dir, `workers-${workers}.log`), args.worker);
  try {
    progress(`${workers} worker(s)${args.worker.map((a) => ` ${a}`).join('')}: warm-up run of ${WARM_UP_ORDERS} orders`);
    await runPipeline(address, taskQueue, warmUp, runDir('warm-up'), args.run);
    progress(`${workers} worker(s): timed run of ${input.count.toLocaleString('en-US')} orders${args.run.map((a) => ` ${a}`).join('')}`);
    const run = await runPipeline(address, taskQueue, input, runDir('timed'), args.run);
    return { workers, run, stages: await stageTimings(address, run.result.pipelineId), workerPeakRss: pool.peakRss(), args };
  } finally {
    await pool.stop();
  }
}

function pipelineRow(m: PipelineMeasure): ToolRow {
  const r = m.run.result;
  return {
    tool: `orders-etl (${m.workers} worker${m.workers > 1 ? 's' : ''})`,
    seconds: m.run.seconds,
    peakRss: m.workerPeakRss.reduce((a, b) => a + b, 0),
    detail: `orders ${r.ordersLoaded}, lines ${r.linesLoaded}, rejected ${r.rejected}+${r.rejectedItems} items${m.workers > 1 ? `; RSS sum of ${m.workerPeakRss.map(mb).join(' + ')}` : ''}`,
  };
}

function peerRow(outcome: PeerOutcome): ToolRow {
  return 'notRun' in outcome ? { tool: outcome.tool, detail: outcome.notRun } : outcome;
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1e6)} MB`;
}

function machine(): Record<string, string | number> {
  const cpu = cpus();
  return { cores: cpu.length, cpu: cpu[0]?.model ?? 'unknown', ram: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`, node: process.version, platform: `${process.platform} ${process.arch}` };
}

async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const count = envInt('BENCH_ORDERS', 1_000_000);
  const seed = envInt('BENCH_SEED', 42);
  const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map((n) => positiveInt('BENCH_WORKERS', n));
  progress(`input: ${count.toLocaleString('en-US')} orders, seed ${seed}`);
  const input = await benchInput(count, seed);
  const warmUp = await benchInput(WARM_UP_ORDERS, seed);
  progress(`${input.generated ? 'generated' : 'cached'} ${input.orders} (${mb(statSync(input.orders).size)})`);

  const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-bench-'));
  const measures: PipelineMeasure[] = [];
  try {
    const server = await startServer(dir);
    progress(`Temporal dev server on ${server.address}`);
    try {
      for (const workers of workerCounts) measures.push(await measurePipeline(server.address, workers, input, warmUp, dir));
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const withPeers = process.env.BENCH_PEERS !== '0';
  const peers: PeerOutcome[] = [];
  const python = withPeers ? pythonForPeers() : { skipped: 'BENCH_PEERS=0' };
  if (withPeers) {
    progress('duckdb SQL script');
    peers.push(await runDuckDbPeer(input));
    progress('Python peers');
    peers.push(...(await runPythonPeers(input, python)));
  }

  const rows = [...measures.map(pipelineRow), ...peers.map(peerRow)];
  const baseline = rows[0]?.seconds;
  const tools = rows.map((row) => ({
    tool: row.tool,
    wallSeconds: row.seconds === undefined ? null : Number(row.seconds.toFixed(2)),
    ratioVsOneWorker: row.seconds === undefined || !baseline ? null : Number((row.seconds / baseline).toFixed(2)),
    peakRssBytes: row.peakRss ?? null,
    ordersPerSecond: row.seconds === undefined ? null : Math.round(count / row.seconds),
    detail: row.detail,
  }));
  const stages = measures.flatMap((m) =>
    m.stages.map((s) => {
      const wallSeconds = (s.lastCompleted - s.firstScheduled) / 1000;
      return { workers: m.workers, activity: s.activity, calls: s.calls, seconds: Number(s.seconds.toFixed(2)), wallSeconds: Number(wallSeconds.toFixed(2)), ordersPerSecond: Math.round(m.run.result.extracted / wallSeconds) };
    }),
  );
  // Transform and stage together: from the first transform scheduled to the manifests written (the reference files
  // are staged meanwhile), per worker.
  const transformAndStage = measures.map((m) => {
    const [transform, stage] = ['transform', 'stage'].map((a) => m.stages.find((s) => s.activity === a));
    const seconds = transform && stage ? (stage.lastCompleted - transform.firstScheduled) / 1000 : null;
    return { workers: m.workers, wallSeconds: seconds === null ? null : Number(seconds.toFixed(2)), ordersPerSecondPerWorker: seconds === null ? null : Math.round(m.run.result.extracted / seconds / m.workers) };
  });
  const report = {
    input: { orders: count, seed, file: input.orders, bytes: statSync(input.orders).size },
    configurations: measures.map((m) => ({ workers: m.workers, workerArgs: m.args.worker, runArgs: m.args.run, result: m.run.result })),
    tools,
    stages,
    transformAndStage,
    machine: machine(),
    pythonVenvInstallSeconds: 'skipped' in python ? null : Number(python.installSeconds.toFixed(1)),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  process.stdout.write(`orders-etl bench: ${count.toLocaleString('en-US')} orders (seed ${seed}, ${mb(report.input.bytes)} of JSONL)\n\n`);
  process.stdout.write(
    formatTable(
      tools.map((t) => ({
        tool: t.tool,
        'wall s': t.wallSeconds === null ? '' : t.wallSeconds.toFixed(2),
        'vs 1 worker': t.ratioVsOneWorker === null ? '' : `${t.ratioVsOneWorker.toFixed(2)}x`,
        'peak RSS': t.peakRssBytes === null ? '' : mb(t.peakRssBytes),
        'orders/s': t.ordersPerSecond ?? '',
        detail: t.detail,
      })),
    ),
  );
  process.stdout.write('\nper stage (activity scheduled → completed in the Temporal history: summed over calls, and wall from the first to the last)\n');
  process.stdout.write(
    formatTable(stages.map((s) => ({ workers: s.workers, activity: s.activity, calls: s.calls, 'sum s': s.seconds.toFixed(2), 'wall s': s.wallSeconds.toFixed(2), 'orders/s (wall)': s.ordersPerSecond }))),
  );
  for (const t of transformAndStage) {
    if (t.wallSeconds !== null) process.stdout.write(`transform + stage, ${t.workers} worker(s): ${t.wallSeconds.toFixed(2)} s wall, ${t.ordersPerSecondPerWorker!.toLocaleString('en-US')} orders/s per worker\n`);
  }
  process.stdout.write(`\nmachine: ${Object.entries(report.machine).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exit(1);
});
