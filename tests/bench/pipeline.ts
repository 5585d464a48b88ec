import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import type { BenchInput } from './dataset';
import { treeRss } from './process-stats';

/**
 * orders-etl driven as a user drives it: `orders-etl server`, N `orders-etl worker` processes and
 * `orders-etl run --json` as a plain client of TEMPORAL_ADDRESS. Only the Temporal client is used directly, to
 * read the run's history.
 */

const CLI = path.resolve(__dirname, '..', '..', 'client.js'); // dist/client.js, beside dist/tests/bench/
const SERVER_START_TIMEOUT_MS = 120_000;

/** The CLI exited non-zero or printed something else than expected. */
export class BenchCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface CliRunResult {
  seconds: number;
  result: { pipelineId: string; loadId: string; extracted: number; duplicates: number; rejected: number; rejectedItems: number; ordersLoaded: number; linesLoaded: number };
}

export interface StageTiming {
  activity: string;
  calls: number;
  /** sum of scheduled → completed over its calls (so retries and queueing count) */
  seconds: number;
  /** When its first call was scheduled and its last completed (ms since the epoch): calls side by side overlap. */
  firstScheduled: number;
  lastCompleted: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `orders-etl server` on free ports with its history in `dir`; ready once it prints where it listens. */
export async function startServer(dir: string): Promise<{ address: string; stop(): Promise<void> }> {
  const [port, uiPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [CLI, 'server', '--db', path.join(dir, 'temporal.db'), '--port', String(port), '--ui-port', String(uiPort)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchCommandError(`orders-etl server did not start in ${SERVER_START_TIMEOUT_MS / 1000} s: ${output}`)), SERVER_START_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Temporal dev server on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchCommandError(`orders-etl server exited (${code}): ${output.trim()}`));
    });
  });
  child.removeAllListeners('exit');
  return { address: `127.0.0.1:${port}`, stop: () => stopProcess(child) };
}

export interface Workers {
  pids: number[];
  /** per worker: VmHWM of it and its children, in bytes (peak since it started, warm-up run included) */
  peakRss(): number[];
  stop(): Promise<void>;
}

/** n `orders-etl worker` processes on `taskQueue`, logging (warnings and up) into `logFile`. */
export function startWorkers(n: number, address: string, taskQueue: string, logFile: string, extraArgs: string[]): Workers {
  const log = createWriteStream(logFile, { flags: 'a' });
  // Without METRICS_PORT: several workers on one port would collide, and the bench reads no metrics.
  const { METRICS_PORT: _metrics, ...inherited } = process.env;
  const env = { ...inherited, TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' };
  const children = Array.from({ length: n }, () => {
    const child = spawn(process.execPath, [CLI, 'worker', ...extraArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    return child;
  });
  return {
    pids: children.map((c) => c.pid!),
    peakRss: () => children.map((c) => treeRss(c.pid!, 'VmHWM')),
    stop: async () => {
      await Promise.all(children.map(stopProcess));
      log.end();
    },
  };
}

/** `orders-etl run --json` against the server, timed as a whole (client start to result). */
export async function runPipeline(address: string, taskQueue: string, input: BenchInput, dir: string, extraArgs: string[]): Promise<CliRunResult> {
  const args = [CLI, 'run', '--source', input.orders, '--users', input.users, '--products', input.products,
    '--warehouse', `duckdb:${path.join(dir, 'warehouse.duckdb')}`, '--lake', path.join(dir, 'lake'), '--json', ...extraArgs];
  const env = { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_TASK_QUEUE: taskQueue, ORDERS_ETL_DATA_DIR: dir };
  const start = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0) throw new BenchCommandError(`orders-etl run exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return { seconds, result: JSON.parse(stdout) as CliRunResult['result'] };
}

/** Each activity type's time in the run's history: scheduled → completed, summed over its calls. */
export async function stageTimings(address: string, pipelineId: string): Promise<StageTiming[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    let workflowId: string | undefined;
    for await (const run of client.workflow.list({ query: `PipelineId = '${pipelineId}' AND WorkflowType = 'ordersEtl'` })) workflowId = run.workflowId;
    if (!workflowId) throw new BenchCommandError(`no ordersEtl run of pipeline ${pipelineId} in the server's history`);
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = new Map<string, { activity: string; at: number }>();
    const timings = new Map<string, StageTiming>();
    for (const event of history.events ?? []) {
      const at = Number(event.eventTime?.seconds ?? 0) * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;
      const id = String(event.eventId);
      if (event.activityTaskScheduledEventAttributes) {
        scheduled.set(id, { activity: event.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
      }
      const completed = event.activityTaskCompletedEventAttributes;
      const of = completed && scheduled.get(String(completed.scheduledEventId));
      if (of) {
        const timing = timings.get(of.activity) ?? { activity: of.activity, calls: 0, seconds: 0, firstScheduled: of.at, lastCompleted: at };
        timing.calls += 1;
        timing.seconds += (at - of.at) / 1000;
        timing.firstScheduled = Math.min(timing.firstScheduled, of.at);
        timing.lastCompleted = Math.max(timing.lastCompleted, at);
        timings.set(of.activity, timing);
      }
    }
    return [...timings.values()];
  } finally {
    await connection.close();
  }
}

/** SIGTERM (the CLI drains and exits on it), then waits for the exit. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
