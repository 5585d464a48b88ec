import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, temporalAddress } from './temporal';

/** A `node dist/client.js worker` child process on the suite's dev server: a worker that can really be killed. */
export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  /** The last lines it printed (stdout and stderr), to explain a failure. */
  output(): string;
  /** Resolves when the process has exited, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless already gone; resolves once it has exited. */
  kill(): Promise<void>;
}

export function spawnWorkerProcess(taskQueue: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'client.js'), 'worker', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      TEMPORAL_NAMESPACE: 'default',
      LOG_LEVEL: 'warn',
      METRICS_PORT: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('the worker process could not be started');
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      tail.push(...chunk.toString().split('\n').filter((l) => l.trim()));
      tail.splice(0, Math.max(0, tail.length - 40));
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    pid: child.pid,
    child,
    output: () => tail.join('\n'),
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}
