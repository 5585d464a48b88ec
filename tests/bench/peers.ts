import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchInput } from './dataset';
import { runMeasured } from './process-stats';

/** The tools a data engineer would pick instead, run on the same file: DuckDB SQL, and the Python peers of /work/shared/peers. */

/** `notRun` says why there are no figures: "skipped: …" (no Python, no packages) or "failed: …" (the tool's own error). */
export type PeerOutcome = { tool: string; seconds: number; peakRss: number; detail: string } | { tool: string; notRun: string };

const PEERS_DIR = process.env.BENCH_PEERS_DIR ?? '/work/shared/peers';
const PYTHON_PACKAGES = ['polars', 'dlt[duckdb]', 'pyarrow'];

/** The contract as one DuckDB script, in a child process of its own (tests/bench/duckdb-contract.sql). */
export async function runDuckDbPeer(input: BenchInput): Promise<PeerOutcome> {
  const sql = path.resolve(__dirname, '..', '..', '..', 'tests', 'bench', 'duckdb-contract.sql'); // the source, not dist/
  return inScratchDir('duckdb', async (dir) => {
    const run = await runMeasured(process.execPath, [path.join(__dirname, 'duckdb-peer.js'), sql, input.orders, input.users, input.products], { cwd: dir });
    if (run.code !== 0) return { tool: 'duckdb SQL (2 threads)', notRun: `failed: ${lastLine(run.stderr)}` };
    const { counts } = JSON.parse(run.stdout) as { counts: Record<string, string> };
    return { tool: 'duckdb SQL (2 threads)', seconds: run.seconds, peakRss: run.peakRss, detail: `orders ${counts.ordersLoaded}, lines ${counts.linesLoaded}, rejected ${counts.rejected}+${counts.rejectedItems} items` };
  });
}

/** The venv lives outside the checkout, beside the CLI's other tools; made on first use. */
function venvDir(): string {
  const tools = process.env.ORDERS_ETL_TOOLS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'orders-etl', 'tools');
  return path.join(tools, 'bench-venv');
}

/** The venv's python, installing it when needed; a reason instead when Python or pip cannot provide it. */
export function pythonForPeers(): { python: string; installSeconds: number } | { skipped: string } {
  const dir = venvDir();
  const python = path.join(dir, 'bin', 'python');
  if (existsSync(python) && spawnSync(python, ['-c', 'import polars, dlt, pyarrow, duckdb']).status === 0) return { python, installSeconds: 0 };
  const start = performance.now();
  mkdirSync(path.dirname(dir), { recursive: true });
  const venv = spawnSync('python3', ['-m', 'venv', dir], { encoding: 'utf8' });
  if (venv.error || venv.status !== 0) return { skipped: `python3 -m venv failed: ${venv.error?.message ?? lastLine(venv.stderr)}` };
  process.stderr.write(`bench: installing ${PYTHON_PACKAGES.join(' ')} into ${dir}\n`);
  const pip = spawnSync(path.join(dir, 'bin', 'pip'), ['install', '--quiet', ...PYTHON_PACKAGES], { encoding: 'utf8' });
  if (pip.error || pip.status !== 0) return { skipped: `pip install failed: ${pip.error?.message ?? lastLine(pip.stderr)}` };
  return { python, installSeconds: (performance.now() - start) / 1000 };
}

/** `seed_polars.py` and `dlt_pipeline.py`, run from the peers' folder and timed as whole processes. */
export async function runPythonPeers(input: BenchInput, python: { python: string } | { skipped: string }): Promise<PeerOutcome[]> {
  const peers = [
    { tool: 'polars (seed job)', script: 'seed_polars.py', args: (out: string) => [input.orders, input.users, input.products, out] },
    { tool: 'dlt merge → duckdb', script: 'dlt_pipeline.py', args: (out: string) => [input.orders, out, 'parquet'] },
  ];
  const outcomes: PeerOutcome[] = [];
  for (const peer of peers) {
    if ('skipped' in python) {
      outcomes.push({ tool: peer.tool, notRun: `skipped: ${python.skipped}` });
      continue;
    }
    outcomes.push(
      await inScratchDir(peer.script, async (dir) => {
        const run = await runMeasured(python.python, [path.join(PEERS_DIR, peer.script), ...peer.args(dir)], { cwd: PEERS_DIR });
        if (run.code !== 0) return { tool: peer.tool, notRun: `failed: ${peer.script}: ${lastLine(run.stderr)}` };
        return { tool: peer.tool, seconds: run.seconds, peakRss: run.peakRss, detail: lastLine(run.stdout) };
      }),
    );
  }
  return outcomes;
}

async function inScratchDir<T>(name: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), `orders-etl-bench-${name}-`));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function lastLine(text: string | null | undefined): string {
  return (text ?? '').trim().split('\n').pop() ?? '';
}
