import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * How far a run read a file source: every record starting before `offset` has been seen. The fingerprint (a hash
 * of the file's first 64 KiB and of the 64 KiB just before the offset) tells an appended file, which still holds
 * those bytes, from a rewritten or truncated one, which is new as a whole.
 */
export interface SourceMark {
  offset: number;
  fingerprint: string;
}

const SPAN = 64 * 1024;

function fingerprint(fd: number, offset: number): string {
  const hash = createHash('sha256');
  for (const start of [0, Math.max(0, offset - SPAN)]) {
    const bytes = Buffer.alloc(Math.min(SPAN, offset));
    hash.update(bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, start)));
  }
  return hash.digest('hex');
}

export function markFile(path: string, offset: number): SourceMark {
  const fd = openSync(path, 'r');
  try {
    return { offset, fingerprint: fingerprint(fd, offset) };
  } finally {
    closeSync(fd);
  }
}

/** The offset from which the file's records are new to the pipeline: the mark's, if the file still holds it, else 0. */
export function newFrom(path: string, mark: SourceMark | null): number {
  if (mark === null || statSync(path).size < mark.offset) return 0;
  return markFile(path, mark.offset).fingerprint === mark.fingerprint ? mark.offset : 0;
}
