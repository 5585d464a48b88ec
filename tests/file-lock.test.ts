import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseInUseError, startDevServer } from '../dev/dev-server';
import { acquireFileLock, LockHeldError } from '../client/file-lock';

/** The lock that keeps one Temporal dev server per SQLite file (issue 8, #7). */

const lockFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'orders-etl-lock-')), 'history.db.lock');

/** The pid of a process that has exited: what a crashed holder leaves in its lock. */
function deadPid(): number {
  const exited = spawnSync(process.execPath, ['-e', '']);
  return exited.pid!;
}

test('a lock is held while its holder lives, and released by it', () => {
  const file = lockFile();
  const lock = acquireFileLock(file);
  expect(() => acquireFileLock(file)).toThrow(new LockHeldError(file, process.pid));
  lock.release();
  expect(existsSync(file)).toBe(false);
  acquireFileLock(file).release();
});

test('a lock whose holders are all gone, or that is unreadable, is stale: the next taker replaces it', () => {
  for (const stale of [JSON.stringify({ pids: [deadPid(), deadPid()], token: 'crashed' }), '']) {
    const file = lockFile();
    writeFileSync(file, stale);
    const lock = acquireFileLock(file);
    expect(JSON.parse(readFileSync(file, 'utf8')).pids).toEqual([process.pid]);
    lock.release();
    expect(existsSync(file)).toBe(false);
  }
});

test('a lock is held while any of its holders lives: a server outlives its crashed starter until it stops', () => {
  const file = lockFile();
  const lock = acquireFileLock(file);
  writeFileSync(file, JSON.stringify({ pids: [deadPid(), process.pid], token: 'server still stopping' }));
  expect(() => acquireFileLock(file)).toThrow(new LockHeldError(file, process.pid));
  // Not its lock any more: releasing leaves the other holder's file alone.
  lock.release();
  expect(existsSync(file)).toBe(true);
});

test('a second dev server on one SQLite file is refused; the first holds it until it stops', async () => {
  const dbFile = path.join(mkdtempSync(path.join(tmpdir(), 'orders-etl-lock-')), 'temporal.db');
  const first = await startDevServer({ dbFile, headless: true });
  try {
    await expect(startDevServer({ dbFile, headless: true })).rejects.toThrow(new DatabaseInUseError(dbFile, process.pid));
  } finally {
    await first.stop();
  }
  expect(existsSync(`${dbFile}.lock`)).toBe(false);
  const again = await startDevServer({ dbFile, headless: true });
  await again.stop();
});
