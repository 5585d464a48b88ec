import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';

/**
 * A lock file naming the processes that hold it. It is held while any of them is alive: a holder that died,
 * however it died, leaves a stale file that the next taker replaces. No daemon, no cleanup needed after a crash.
 */

interface Holder {
  pids: number[];
  /** Tells two holders apart, so a taker replaces only the stale file it judged. */
  token: string;
}

export class LockHeldError extends Error {
  constructor(readonly lockFile: string, readonly pid: number) {
    super(`${lockFile} is held by process ${pid}`);
    this.name = new.target.name;
  }
}

export interface FileLock {
  /** Adds a process (e.g. a server this one started) that holds the lock as long as it lives. */
  addHolder(pid: number): void;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

function readHolder(file: string): { text: string; holder: Holder } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return { text, holder: JSON.parse(text) as Holder };
  } catch {
    return { text, holder: { pids: [], token: '' } }; // not ours to read: as good as stale
  }
}

/** Writes the holder to a temporary file and links it into place: readers never see a half-written lock. */
function publish(lockFile: string, holder: Holder, replace: boolean): void {
  const temp = `${lockFile}.${holder.token}`;
  fs.writeFileSync(temp, JSON.stringify(holder));
  try {
    if (replace) fs.renameSync(temp, lockFile);
    else fs.linkSync(temp, lockFile); // fails with EEXIST when another process holds it
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Moves a stale lock out of the way, unless it changed since it was judged stale (another taker won). */
function removeStale(lockFile: string, judged: string): void {
  const aside = `${lockFile}.${randomUUID()}`;
  try {
    fs.renameSync(lockFile, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (fs.readFileSync(aside, 'utf8') !== judged) {
    // A fresh lock of another process: put it back (unless a third one already took the place).
    try {
      fs.linkSync(aside, lockFile);
    } catch {
      // the place is taken: that holder wins
    }
  }
  fs.rmSync(aside, { force: true });
}

export function acquireFileLock(lockFile: string): FileLock {
  const holder: Holder = { pids: [process.pid], token: randomUUID() };
  for (;;) {
    try {
      publish(lockFile, holder, false);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = readHolder(lockFile);
    if (!current) continue; // released meanwhile
    const living = current.holder.pids.find(alive);
    if (living !== undefined) throw new LockHeldError(lockFile, living);
    removeStale(lockFile, current.text);
  }
  const ours = () => readHolder(lockFile)?.holder.token === holder.token;
  return {
    addHolder(pid) {
      holder.pids.push(pid);
      if (ours()) publish(lockFile, holder, true);
    },
    release() {
      if (ours()) fs.rmSync(lockFile, { force: true });
    },
  };
}
