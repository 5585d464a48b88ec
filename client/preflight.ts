import { open, realpath, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidInputError } from '../core/errors';
import { isUrl } from '../activities/extract/extract';
import { ordersFileKind } from '../activities/extract/orders-store';
import { createLakes, s3SettingsFromEnv } from '../activities/lake';
import { streamProductsCsv, streamUsersCsv } from '../activities/transform/reference';
import type { PipelineInput } from '../workflows/types';

/**
 * What can be checked of a pipeline's ground before it runs, as dlt checks a destination's capabilities: the
 * lake and the warehouse can be written, the source is a file of orders or an API that answers, the reference
 * files' headers and first rows parse, Redshift has an S3 lake. A failure is one line (InvalidInputError) within
 * seconds, instead of minutes of retries; what only deserves a word comes back as warnings. Workers check again when they act.
 */
export async function preflight(input: PipelineInput, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  if (input.warehouse === 'redshift' && !input.lake.startsWith('s3://')) {
    throw new InvalidInputError(`--warehouse redshift loads with COPY from S3: --lake must be s3://bucket/prefix, got "${input.lake}"`);
  }
  if (!input.lake.startsWith('s3://')) await checkWritableDirectory(input.lake, `the lake ${input.lake}`);
  if (input.warehouse.startsWith('duckdb:')) await checkWritableFile(input.warehouse.slice('duckdb:'.length));
  if (input.usersCsv) await checkReference(input.usersCsv, '--users', streamUsersCsv, env);
  if (input.productsCsv) await checkReference(input.productsCsv, '--products', streamProductsCsv, env);
  return isUrl(input.source) ? (await checkApi(input.source), []) : checkOrdersFile(input.source);
}

/** Filesystems of the kernel's own objects (statfs magic numbers): Node's recursive mkdir can spin there forever. */
const PSEUDO_FILESYSTEMS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x1cd1: 'devpts',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
};

/** The kernel's trees, whatever is mounted in them (a tmpfs at /sys/fs/cgroup, devtmpfs at /dev); /dev/shm is for files. */
const KERNEL_TREES = /^\/(proc|sys|dev)(?:\/|$)(?!shm(?:\/|$))/;

const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

function cannotWrite(err: unknown, place: string): string {
  const code = codeOf(err);
  if (code === 'EROFS') return 'is on a read-only filesystem';
  if (code === 'EACCES' || code === 'EPERM') return `cannot be written: no permission to write in ${place}`;
  return `cannot be written in ${place} (${code})`;
}

/**
 * A directory that exists or can be created, checked without creating it: its nearest existing ancestor must be
 * a directory on a real filesystem, where a probe file can be written (the only test that also holds for root).
 */
async function checkWritableDirectory(dir: string, label: string): Promise<void> {
  let existing = dir;
  for (;;) {
    try {
      if (!(await stat(existing)).isDirectory()) throw new InvalidInputError(`${label} cannot be a directory: ${existing} is a file`);
      break;
    } catch (err) {
      if (err instanceof InvalidInputError) throw err;
      const code = codeOf(err);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || existing === path.dirname(existing)) throw new InvalidInputError(`${label} cannot be reached (${code})`);
      existing = path.dirname(existing);
    }
  }
  const real = await realpath(existing);
  const tree = KERNEL_TREES.exec(real)?.[1];
  const pseudo = PSEUDO_FILESYSTEMS[(await statfs(real)).type] ?? (tree && `/${tree}`);
  if (pseudo) throw new InvalidInputError(`${label} is under ${real}, a pseudo-filesystem of the kernel (${pseudo}): choose a directory on a disk`);
  const probe = path.join(existing, `.orders-etl-preflight-${process.pid}-${Date.now()}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
    await unlink(probe);
  } catch (err) {
    throw new InvalidInputError(`${label} ${cannotWrite(err, existing)}`);
  }
}

/** A DuckDB file: a file path (not a directory) that can be opened for writing, in a directory that takes its WAL. */
async function checkWritableFile(file: string): Promise<void> {
  const label = `the warehouse file ${file}`;
  const stats = await stat(file).catch(() => undefined);
  if (stats?.isDirectory()) throw new InvalidInputError(`${label} is a directory: give a file path, e.g. duckdb:${path.join(file, 'warehouse.duckdb')}`);
  if (stats) {
    try {
      await (await open(file, 'r+')).close();
    } catch (err) {
      throw new InvalidInputError(`${label} ${cannotWrite(err, file)}`);
    }
  }
  await checkWritableDirectory(path.dirname(file), label);
}

/**
 * How much of a reference file the client reads: its header and first rows. Reading all of it would cost the
 * run a second pass over the file (1.2 s for 300k users) before it starts; the worker's stageReference checks
 * every row and fails the run at once (InvalidInputError, not retried) with the same line.
 */
const REFERENCE_ROWS_CHECKED = 1000;

/** Reads a reference file's start as the stage will, checking its header and first rows. */
async function checkReference(location: string, flag: string, read: (input: Readable) => AsyncIterable<unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  const cannotRead = (err: unknown) => new InvalidInputError(`${flag} ${location} cannot be read (${codeOf(err)})`);
  const input = await createLakes(s3SettingsFromEnv(env)).stream(location).catch((err: unknown) => {
    throw cannotRead(err);
  });
  try {
    let rows = 0;
    for await (const row of read(input)) {
      void row;
      if (++rows === REFERENCE_ROWS_CHECKED) break;
    }
  } catch (err) {
    throw err instanceof InvalidInputError ? new InvalidInputError(`${flag} ${location}: ${err.message}`) : cannotRead(err);
  } finally {
    input.destroy();
  }
}

async function checkOrdersFile(file: string): Promise<string[]> {
  const label = `the source ${file}`;
  const stats = await stat(file);
  if (stats.isDirectory()) throw new InvalidInputError(`${label} is a directory, not a JSON or JSONL file of orders`);
  if (!stats.isFile()) throw new InvalidInputError(`${label} is not a regular file`);
  let kind;
  try {
    kind = ordersFileKind(file);
  } catch (err) {
    throw err instanceof InvalidInputError ? new InvalidInputError(`the source ${err.message}`) : new InvalidInputError(`${label} cannot be read (${codeOf(err)})`);
  }
  return kind === 'empty' ? [`${label} is empty: the run extracts nothing`] : [];
}

const HEALTH_TIMEOUT_MS = 5000;

/** An Orders API answers `GET /health` with 200 (contract §2). */
async function checkApi(baseUrl: string): Promise<void> {
  const url = new URL('health', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.username = url.password = ''; // never shown, and fetch refuses them
  let status: number;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await response.body?.cancel();
    status = response.status;
  } catch (err) {
    const cause = (err as Error).name === 'TimeoutError' ? `no answer within ${HEALTH_TIMEOUT_MS / 1000} s` : codeOf((err as Error).cause ?? err);
    throw new InvalidInputError(`the source API does not answer GET ${url}: ${cause}`);
  }
  if (status !== 200) throw new InvalidInputError(`the source API answered GET ${url} with HTTP ${status}, not 200: is ${url.origin} an Orders API?`);
}
