import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

/** Peak memory and wall time of whole processes, read from Linux's /proc (and GNU time when installed). */

export interface MeasuredRun {
  code: number | null;
  seconds: number;
  /** bytes; the largest process of the tree (GNU time), else the largest sum over the tree seen by polling */
  peakRss: number;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';

/** Runs a command to its end; its peak RSS comes from `/usr/bin/time -v` when present, else from polling /proc. */
export async function runMeasured(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<MeasuredRun> {
  const useTime = existsSync(GNU_TIME);
  const statsDir = mkdtempSync(path.join(tmpdir(), 'orders-etl-bench-time-'));
  const statsFile = path.join(statsDir, 'time.txt');
  const [bin, argv] = useTime ? [GNU_TIME, ['-v', '-o', statsFile, command, ...args]] : [command, args];
  const start = performance.now();
  const child = spawn(bin, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let polledPeak = 0;
  const poller = useTime ? undefined : setInterval(() => (polledPeak = Math.max(polledPeak, treeRss(child.pid ?? 0, 'VmRSS'))), 100);
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('close', resolve));
  const seconds = (performance.now() - start) / 1000;
  clearInterval(poller);
  const peakRss = useTime ? gnuTimePeakRss(readFileSync(statsFile, 'utf8')) : polledPeak;
  rmSync(statsDir, { recursive: true, force: true });
  return { code, seconds, peakRss, stdout, stderr };
}

function gnuTimePeakRss(report: string): number {
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
  return kb ? Number(kb[1]) * 1024 : 0;
}

/** Sum of a /proc/<pid>/status memory field (VmRSS now, VmHWM the peak) over a process and its descendants, in bytes. */
export function treeRss(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return processTree(pid).reduce((sum, p) => sum + statusKb(p, field) * 1024, 0);
}

function processTree(pid: number): number[] {
  const children = readdirSafe(`/proc/${pid}/task`).flatMap((tid) => readSafe(`/proc/${pid}/task/${tid}/children`).split(' ').filter(Boolean).map(Number));
  return [pid, ...children.flatMap(processTree)];
}

function statusKb(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readSafe(`/proc/${pid}/status`));
  return match ? Number(match[1]) : 0;
}

/** A process may end between listing and reading: it then counts for nothing. */
function readSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
