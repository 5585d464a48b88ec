import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createLakes, type S3Settings } from '../lake';
import { transformOrders, type TransformInput, type TransformProgress, type TransformResult } from './transform';

/**
 * One partition's transform on a thread of its own. The rules are JavaScript, so a worker's partitions would share
 * its one thread; each on a thread, they run side by side on every core, and the activity's own thread stays free
 * to heartbeat. The thread opens its lake from the location and S3 settings (a lake object cannot cross threads).
 */

export interface TransformThreadOptions {
  /** The lake's location (`Lakes.open`). */
  lake: string;
  s3: S3Settings;
  /** The last heartbeat's progress, for a retry to resume from. */
  resumeFrom?: TransformProgress;
  /** Called with each chunk's progress; a throw (cancellation) stops the transform. */
  heartbeat: (progress: TransformProgress) => void;
}

/** What the thread gets (its `workerData`). */
interface ThreadData {
  transformThread: true;
  input: TransformInput;
  lake: string;
  s3: S3Settings;
  resumeFrom?: TransformProgress;
  /** Set to 1 by the activity to stop the transform at its next chunk. */
  stop: Int32Array;
}

type ThreadMessage =
  | { progress: TransformProgress }
  | { result: TransformResult }
  | { error: { name: string; message: string; stack?: string } };

/** Run from TypeScript (Jest, tsx), the thread loads this module through tsx as well. */
const execArgv = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : undefined;

/**
 * A record's parse leaves garbage that dies young: a small young generation is collected more often, at the same
 * speed, and keeps each thread's memory lower (a worker's peak at 1M orders: about 70 MB less, measured).
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 12 };

export function transformInThread(input: TransformInput, options: TransformThreadOptions): Promise<TransformResult> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const data: ThreadData = { transformThread: true, input, lake: options.lake, s3: options.s3, resumeFrom: options.resumeFrom, stop };
  const thread = new Worker(__filename, { workerData: data, execArgv, resourceLimits: RESOURCE_LIMITS });
  return new Promise<TransformResult>((resolve, reject) => {
    let stopReason: unknown;
    thread.on('message', (message: ThreadMessage) => {
      if (stopReason !== undefined) {
        // Stopping: what the thread did meanwhile does not count, its end is this error.
        if (!('progress' in message)) reject(stopReason);
      } else if ('progress' in message) {
        try {
          options.heartbeat(message.progress);
        } catch (err) {
          // The transform stops at its next chunk and closes its files.
          stopReason = err;
          Atomics.store(stop, 0, 1);
        }
      } else if ('result' in message) {
        resolve(message.result);
      } else {
        reject(rebuiltError(message.error));
      }
    });
    thread.on('error', reject);
    thread.on('exit', (code) => reject(stopReason ?? new Error(`the transform thread exited (code ${code}) before it finished`)));
  });
}

/** The thread's error as the same name and message: the name is what Temporal's retry policy matches on. */
function rebuiltError(error: { name: string; message: string; stack?: string }): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

async function runThread(data: ThreadData, port: NonNullable<typeof parentPort>): Promise<void> {
  const lake = createLakes(data.s3).open(data.lake);
  const heartbeat = (progress: TransformProgress) => {
    if (Atomics.load(data.stop, 0) === 1) throw new Error('transform stopped');
    port.postMessage({ progress } satisfies ThreadMessage);
  };
  try {
    port.postMessage({ result: await transformOrders(data.input, lake, heartbeat, data.resumeFrom) } satisfies ThreadMessage);
  } catch (err) {
    const { name, message, stack } = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ error: { name, message, stack } } satisfies ThreadMessage);
  }
}

if (!isMainThread && parentPort && (workerData as Partial<ThreadData> | null)?.transformThread) void runThread(workerData as ThreadData, parentPort);
