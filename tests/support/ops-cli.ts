import { main } from '../../client';

/** What an in-process CLI command wrote. */
export interface CliOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs `orders-etl <args>` in this process (the CLI's own `main`, so the same code path as the binary) and
 * captures what it writes to stdout and stderr. A failing command rejects with its error, its output attached.
 */
export async function runCliInProcess(args: string[]): Promise<CliOutput> {
  const out: string[] = [];
  const err: string[] = [];
  const capture = (into: string[]) => (chunk: string | Uint8Array, ...rest: unknown[]) => {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(capture(out) as typeof process.stdout.write);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(capture(err) as typeof process.stderr.write);
  try {
    await main(['node', 'orders-etl', ...args]);
  } catch (error) {
    stdout.mockRestore();
    stderr.mockRestore();
    throw Object.assign(error as Error, { output: { stdout: out.join(''), stderr: err.join('') } });
  }
  stdout.mockRestore();
  stderr.mockRestore();
  return { stdout: out.join(''), stderr: err.join('') };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
