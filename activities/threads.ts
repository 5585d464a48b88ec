import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ApplicationFailure } from '@temporalio/common';
import { createLakes, type Lakes, type S3Settings } from './lake';
import type { StagedPart } from '../core/lake-layout';
import { stageReference } from './stage/stage';
import { streamProductsCsv, streamUsersCsv } from './transform/reference';
import { transformOrders, type TransformInput, type TransformProgress, type TransformResult } from './transform/transform';

/**
 * The activities whose work is JavaScript from end to end (a partition's transform, the reference files' stage),
 * each on a thread of its own. On the worker's one thread they would take turns with each other and with every
 * other activity (an extract waited for the CSV parser), and heartbeats would wait for them; on threads they run
 * side by side on every core, and the activity's own thread only relays their heartbeats. A thread opens its
 * lake from the location and S3 settings (a lake object cannot cross threads).
 */

export interface ThreadOptions<Progress> {
  /** The lake's location (`Lakes.open`). */
  lake: string;
  s3: S3Settings;
  /** Called with the job's progress; a throw (cancellation) stops the job at its next step. */
  heartbeat: (progress: Progress) => void;
}

/** The reference files to stage: their locations (a local path or an S3 URI). */
export interface ReferenceFiles {
  loadId: string;
  usersCsv?: string;
  productsCsv?: string;
}

/** What a thread is to do. */
type Job =
  | { kind: 'transform'; input: TransformInput; resumeFrom?: TransformProgress }
  | { kind: 'reference'; input: ReferenceFiles };

/** What the thread gets (its `workerData`). */
interface ThreadData {
  activityThread: true;
  job: Job;
  lake: string;
  s3: S3Settings;
  /** Set to 1 by the activity to stop the job at its next step. */
  stop: Int32Array;
}

type ThreadMessage<Progress, Result> = { progress: Progress } | { result: Result } | { error: { name: string; message: string; stack?: string } };

/** Run from TypeScript (Jest, tsx), the thread loads this module through tsx as well. */
const execArgv = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : undefined;

/**
 * A record's parse leaves garbage that dies young: a small young generation is collected more often, at the same
 * speed, and keeps each thread's memory lower (a worker's peak at 1M orders: about 70 MB less, measured).
 */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 12 };

/** One partition's transform on a thread; `resumeFrom` is the last heartbeat's progress, for a retry. */
export function transformInThread(input: TransformInput, options: ThreadOptions<TransformProgress> & { resumeFrom?: TransformProgress }): Promise<TransformResult> {
  return inThread({ kind: 'transform', input, resumeFrom: options.resumeFrom }, options);
}

/** The reference files as Parquet parts of dim_user and dim_product, on a thread; it heartbeats each part's table. */
export function stageReferenceInThread(input: ReferenceFiles, options: ThreadOptions<string>): Promise<StagedPart[]> {
  return inThread({ kind: 'reference', input }, options);
}

function inThread<Progress, Result>(job: Job, options: ThreadOptions<Progress>): Promise<Result> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const data: ThreadData = { activityThread: true, job, lake: options.lake, s3: options.s3, stop };
  const thread = new Worker(__filename, { workerData: data, execArgv, resourceLimits: RESOURCE_LIMITS });
  return new Promise<Result>((resolve, reject) => {
    let stopReason: unknown;
    thread.on('message', (message: ThreadMessage<Progress, Result>) => {
      if (stopReason !== undefined) {
        // Stopping: what the thread did meanwhile does not count, its end is this error.
        if (!('progress' in message)) reject(stopReason);
      } else if ('progress' in message) {
        try {
          options.heartbeat(message.progress);
        } catch (err) {
          // The job stops at its next step and closes its files.
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
    thread.on('exit', (code) => reject(stopReason ?? new Error(`the ${job.kind} thread exited (code ${code}) before it finished`)));
  });
}

/**
 * The thread's error as an ApplicationFailure of its class name (the type Temporal's `nonRetryableErrorTypes`
 * matches on; a plain Error would be of type "Error", and retried) and its message.
 */
function rebuiltError(error: { name: string; message: string; stack?: string }): ApplicationFailure {
  const rebuilt = ApplicationFailure.create({ type: error.name, message: error.message });
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

/** The reference files' rows, each file opened when the stage comes to it and streamed. */
async function* referenceRows(lakes: Lakes, location: string | undefined, read: typeof streamUsersCsv | typeof streamProductsCsv, name: string) {
  if (location) yield* read(await lakes.stream(location), `${name} file ${location}`);
}

function runJob(job: Job, lakes: Lakes, lake: string, heartbeat: (progress: unknown) => void): Promise<unknown> {
  if (job.kind === 'transform') return transformOrders(job.input, lakes.open(lake), heartbeat, job.resumeFrom);
  const { loadId, usersCsv, productsCsv } = job.input;
  const users = referenceRows(lakes, usersCsv, streamUsersCsv, 'users');
  const products = referenceRows(lakes, productsCsv, streamProductsCsv, 'products');
  return stageReference({ loadId, users, products }, lakes.open(lake), heartbeat);
}

async function runThread(data: ThreadData, port: NonNullable<typeof parentPort>): Promise<void> {
  const heartbeat = (progress: unknown) => {
    if (Atomics.load(data.stop, 0) === 1) throw new Error(`${data.job.kind} stopped`);
    port.postMessage({ progress });
  };
  try {
    port.postMessage({ result: await runJob(data.job, createLakes(data.s3), data.lake, heartbeat) });
  } catch (err) {
    const { name, message, stack } = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ error: { name, message, stack } });
  }
}

if (!isMainThread && parentPort && (workerData as Partial<ThreadData> | null)?.activityThread) void runThread(workerData as ThreadData, parentPort);
