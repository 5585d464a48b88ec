import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from './temporal';

/** Opens the file read-write, says so, and keeps it open until its stdin closes. */
const HOLDER = `
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const instance = await DuckDBInstance.create(process.argv[1]);
  process.stdout.write('held\\n');
  process.stdin.resume();
  process.stdin.on('end', () => { instance.closeSync(); process.exit(0); });
})();
`;

export interface DuckDbHolder {
  pid: number;
  /** Closes the file and waits for the process to exit. */
  release(): Promise<void>;
}

/** Another process holding a DuckDB file, as a BI tool or a worker on another machine sharing the disk would. */
export async function holdDuckDbFile(file: string): Promise<DuckDbHolder> {
  const child = spawn(process.execPath, ['-e', HOLDER, file], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`the DuckDB holder exited with ${code} before opening ${file}`)));
  });
  return {
    pid: child.pid!,
    release: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
