import { mkdir, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { LakeAccessError, LakeNotFoundError, WarehouseAccessError } from '../core/errors';

/** Which typed errors a local file failure becomes: the lake's or the warehouse's. */
export type FileOwner = 'lake' | 'warehouse';

const ERRORS = {
  lake: { access: LakeAccessError, notFound: LakeNotFoundError },
  // A warehouse file is created when missing: a path that cannot hold it is refused access, like a denied one.
  warehouse: { access: WarehouseAccessError, notFound: WarehouseAccessError },
};

const DENIED: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
};
const MISSING: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
};

/**
 * A failed file operation as a typed error naming the path and its cause: no permission and a missing file are
 * terminal (retrying cannot change them); anything else (a full disk, an I/O error) stays as it is, retryable.
 */
export function fileError(err: unknown, owner: FileOwner, doing: string): unknown {
  const { code = '', path: file } = (err ?? {}) as NodeJS.ErrnoException;
  const where = file && !doing.includes(file) ? `${doing} (${file})` : doing;
  if (DENIED[code]) return new ERRORS[owner].access(`${owner}: ${where}: ${DENIED[code]} (${code})`);
  if (MISSING[code]) return new ERRORS[owner].notFound(`${owner}: ${where}: ${MISSING[code]} (${code})`);
  return err;
}

/** A lake file's bytes as a stream, opened first: a missing or denied file fails here as fileError says. */
export async function openForReading(file: string, doing: string): Promise<Readable> {
  const handle = await open(file).catch((err: unknown) => {
    throw fileError(err, 'lake', doing);
  });
  return handle.createReadStream();
}

/**
 * Creates a directory and its missing parents, one level at a time. Node's `mkdir({ recursive: true })` spins
 * forever where creating is refused with ENOENT although the parent exists (/proc and other pseudo-filesystems);
 * here that is one clear error.
 */
export async function ensureDirectory(dir: string, owner: FileOwner): Promise<void> {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  const made = await mkdir(target).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return true;
      if (err.code === 'ENOENT' && parent !== target) return false; // a parent is missing
      throw fileError(err, owner, `cannot create directory ${target}`);
    },
  );
  if (made) return;
  await ensureDirectory(parent, owner);
  await mkdir(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') return;
    // The parent exists now, yet the directory still cannot be made: this filesystem does not allow it.
    if (err.code === 'ENOENT') throw new ERRORS[owner].access(`${owner}: cannot create directory ${target}: ${parent} does not allow new directories`);
    throw fileError(err, owner, `cannot create directory ${target}`);
  });
}
