import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './temporal';

/** The command line as users run it: `node dist/client.js` in a child process (`npm test` builds dist/ first). */
export const CLI = path.join(ROOT, 'dist', 'client.js');

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** What it has written to stderr so far. */
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr, once it shows. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<Exit>;
}

/** The environment of the test process without any setting of the CLI's own, plus `extra`. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  for (const name of Object.keys(env)) if (name.startsWith('TEMPORAL_') || name.startsWith('ORDERS_ETL_') || name.startsWith('ALERT_')) delete env[name];
  return { ...env, ...extra };
}

export interface CliOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** A command that runs node, given after it with its arguments (e.g. `unshare … sh -c '…; exec "$@"' sh`). */
  wrapper?: string[];
}

export function spawnCli(args: string[], opts: CliOptions): CliProcess {
  const [file, ...wrapperArgs] = [...(opts.wrapper ?? []), process.execPath];
  const child = spawn(file, [...wrapperArgs, CLI, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const stderr = () => Buffer.concat(err).toString('utf8');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: stderr() });
    });
  });
  const waitForStderr = async (pattern: RegExp, timeoutMs = 60_000) => {
    for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 100))) {
      const match = stderr().match(pattern);
      if (match) return match;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before ${pattern} showed on stderr:\n${stderr()}`);
      if (Date.now() > deadline) throw new Error(`${pattern} did not show on stderr within ${timeoutMs} ms:\n${stderr()}`);
    }
  };
  return { child, stderr, waitForStderr, exited };
}

export function cli(args: string[], opts: CliOptions): Promise<Exit> {
  return spawnCli(args, opts).exited;
}

/** User-facing errors never show a stack trace. */
export const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

/** stdout holds exactly one JSON value on one line. */
export function oneJson(exit: Exit): unknown {
  expect(exit.stdout.endsWith('\n')).toBe(true);
  expect(exit.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(exit.stdout);
}
