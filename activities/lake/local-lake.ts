import { copyFile, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { ensureDirectory, fileError, openForReading } from '../file-system';
import type { Lake, LakeObject } from './lake';

/**
 * A lake in a local directory. Writes go to a temporary name and are renamed, so readers never see half a file.
 * A permission or a missing file fails as a typed error naming the path (terminal); other errors stay retryable.
 */
export class LocalLake implements Lake {
  readonly location: string;

  constructor(directory: string) {
    this.location = path.resolve(directory);
  }

  uri(key: string): string {
    return path.join(this.location, ...key.split('/'));
  }

  private async writeAtomically(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.uri(key);
    await ensureDirectory(path.dirname(target), 'lake');
    const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
    try {
      await write(tmp);
      await rename(tmp, target);
    } catch (err) {
      throw fileError(err, 'lake', `cannot write ${key} in ${this.location}`);
    }
  }

  put(key: string, body: string | Uint8Array): Promise<void> {
    return this.writeAtomically(key, (tmp) => writeFile(tmp, body));
  }

  putFile(key: string, localPath: string): Promise<void> {
    return this.writeAtomically(key, (tmp) => copyFile(localPath, tmp)); // the kernel copies, not a stream through JS
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.uri(key));
    } catch (err) {
      throw fileError(err, 'lake', `cannot read ${key} in ${this.location}`);
    }
  }

  async getStream(key: string): Promise<Readable> {
    return openForReading(this.uri(key), `cannot read ${key} in ${this.location}`);
  }

  async localFile(key: string): Promise<string> {
    return this.uri(key);
  }

  keyOf(uri: string): string {
    return path.relative(this.location, uri).split(path.sep).join('/');
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const found: LakeObject[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return []; // nothing under this prefix yet
        throw fileError(err, 'lake', `cannot list ${keyPrefix || '/'} in ${this.location}`);
      });
      for (const entry of entries) {
        const key = `${keyPrefix}${entry.name}`;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full, `${key}/`);
        else if (!entry.name.endsWith('.tmp') && key.startsWith(prefix)) found.push({ key, size: (await stat(full)).size });
      }
    };
    // Walk from the deepest directory the prefix names; the rest of the prefix filters file names.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    await walk(this.uri(dirPart), dirPart);
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
