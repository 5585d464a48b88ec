import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { generateDataset, toCsv } from '../../sample_data/generate';

/** The bench's input: generated messy orders as JSONL, with the users and products reference files. */
export interface BenchInput {
  dir: string;
  orders: string;
  users: string;
  products: string;
  count: number;
  seed: number;
  /** false when the files came from the cache */
  generated: boolean;
}

/** Generating 1M orders takes a while and the same (count, seed) always gives the same bytes: reruns reuse the files. */
export function benchCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'orders-etl', 'bench');
}

const inputFiles = (dir: string) => ({ orders: path.join(dir, 'orders.jsonl'), users: path.join(dir, 'users.csv'), products: path.join(dir, 'products.csv') });

export async function benchInput(count: number, seed: number): Promise<BenchInput> {
  const dir = path.join(benchCacheDir(), `orders-${count}-seed-${seed}`);
  const files = inputFiles(dir);
  // The orders file is written last, under a temporary name: its presence means the set is complete.
  if (existsSync(files.orders)) return { dir, ...files, count, seed, generated: false };
  await generateInProcessOfItsOwn(dir, count, seed);
  return { dir, ...files, count, seed, generated: true };
}

/**
 * The generator holds the whole dataset (about 2.5 GB of heap per million orders, as duplicates refer back to
 * earlier orders): it runs in a process of its own with a heap to match, so 5M orders generate and the bench's
 * own process stays small.
 */
async function generateInProcessOfItsOwn(dir: string, count: number, seed: number): Promise<void> {
  const heapMb = Math.max(2048, Math.ceil((count / 1_000_000) * 3000));
  const child = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, __filename, dir, String(count), String(seed)], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  if (code !== 0) throw new Error(`generating ${count} bench orders failed (exit ${code})`);
}

/** Writes the reference files, then the orders (see benchInput). */
async function writeBenchInput(dir: string, count: number, seed: number): Promise<void> {
  const files = inputFiles(dir);
  mkdirSync(dir, { recursive: true });
  const dataset = generateDataset(count, seed);
  writeFileSync(files.users, toCsv(dataset.users, ['user_id', 'email', 'country', 'created_at']));
  writeFileSync(files.products, toCsv(dataset.products, ['sku', 'name', 'category', 'price']));
  const partial = `${files.orders}.partial`;
  await writeJsonLines(partial, dataset.orders);
  renameSync(partial, files.orders);
}

/** One line per record, streamed: a single string of 1M records would be several hundred MB. */
async function writeJsonLines(file: string, records: unknown[]): Promise<void> {
  const out = createWriteStream(file);
  for (const record of records) {
    if (!out.write(`${JSON.stringify(record)}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

// `node dataset.js DIR COUNT SEED`: the generating process of generateInProcessOfItsOwn.
if (require.main === module) {
  const [dir, count, seed] = process.argv.slice(2);
  writeBenchInput(dir, Number(count), Number(seed)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
