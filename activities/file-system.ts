import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { LakeAccessError, LakeNotFoundError, WarehouseAccessError } from './errors';

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
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const file = (err as NodeJS.ErrnoException).path;
  const where = `${doing}${file ? ` (${file})` : ''}`;
  if (DENIED[code]) return new ERRORS[owner].access(`${owner} ${where}: ${DENIED[code]} (${code})`);
  if (MISSING[code]) return new ERRORS[owner].notFound(`${owner} ${where}: ${MISSING[code]} (${code})`);
  return err;
}

/**
 * Creates a directory and its missing parents, one level at a time. Node's `mkdir({ recursive: true })` spins
 * forever where creating is refused with ENOENT although the parent exists (/proc and other pseudo-filesystems);
 * here that is one clear error.
 */
export async function ensureDirectory(dir: string, owner: FileOwner): Promise<void> {
  const create = async (target: string): Promise<void> => {
    try {
      await mkdir(target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      const parent = path.dirname(target);
      if (code !== 'ENOENT' || parent === target) throw fileError(err, owner, `cannot create directory ${target}`);
      await create(parent);
      try {
        await mkdir(target);
      } catch (again) {
        const code2 = (again as NodeJS.ErrnoException).code;
        if (code2 === 'EEXIST') return;
        // The parent exists now, yet the directory still cannot be made: this filesystem does not allow it.
        if (code2 === 'ENOENT') throw new ERRORS[owner].access(`${owner}: cannot create directory ${target}: ${parent} does not allow new directories`);
        throw fileError(again, owner, `cannot create directory ${target}`);
      }
    }
  };
  await create(path.resolve(dir));
}
