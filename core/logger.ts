import pino from 'pino';
import pretty from 'pino-pretty';
import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';
import { redactUrls } from './redact';

/**
 * Fields that may hold credentials. Both the top level and one level down are listed because
 * pino's `*.x` wildcard does not match a top-level `x`; headers get their own path since they nest deeper.
 */
const SECRET_KEYS = ['password', 'secret', 'secretKey', 'token', 'authorization', 'accessKeyId', 'secretAccessKey', 'smtpUrl', 'webhookUrl', 'apiKey'];
export const redactPaths: string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'headers.authorization',
  '*.headers.authorization',
];

function levelFrom(env: NodeJS.ProcessEnv): pino.LevelWithSilent {
  const wanted = (env.LOG_LEVEL ?? 'info').trim().toLowerCase();
  // pino throws on an unknown level; a typo in LOG_LEVEL should not stop the pipeline.
  return wanted === 'silent' || wanted in pino.levels.values ? (wanted as pino.LevelWithSilent) : 'info';
}

/**
 * Pretty output is written by a pino-pretty *stream* in this thread, not a worker-thread transport:
 * transports are resolved by module path, which breaks under jest and inside bundled/Temporal worker processes.
 * Both destinations are synchronous so the last lines before `process.exit` are not lost.
 */
function defaultDestination(env: NodeJS.ProcessEnv): pino.DestinationStream {
  const format = env.LOG_FORMAT?.trim().toLowerCase();
  const isTty = Boolean(process.stderr.isTTY);
  if (format === 'pretty' || (format !== 'json' && isTty)) {
    return pretty({ destination: 2, sync: true, colorize: isTty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  }
  return pino.destination({ dest: 2, sync: true });
}

/**
 * Where a logger's lines go. Each finished line has the credentials of its URLs redacted, wherever they hide (a
 * message, an error's stack, a nested field), which key-based redaction alone cannot promise.
 */
class LogOutput {
  constructor(public target: pino.DestinationStream) {}
  write(line: string): void {
    this.target.write(redactUrls(line));
  }
  flush(callback?: (err?: Error) => void): void {
    const target = this.target as { flush?: (cb?: (err?: Error) => void) => void };
    if (target.flush) target.flush(callback);
    else callback?.();
  }
}

/** A logger with the project's level, redaction and serializers; `destination` lets tests capture the output. */
export function createLogger(destination?: pino.DestinationStream, env: NodeJS.ProcessEnv = process.env): pino.Logger {
  const level = levelFrom(env);
  const log = pino(
    {
      name: 'orders-etl',
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      // Temporal's meta carries failures under `error`; serialize them like `err` instead of as `{}`.
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    destination instanceof LogOutput ? destination : new LogOutput(destination ?? defaultDestination(env)),
  );
  if (env.LOG_LEVEL && level !== env.LOG_LEVEL.trim().toLowerCase()) log.warn({ LOG_LEVEL: env.LOG_LEVEL }, 'unknown LOG_LEVEL, using info');
  return log;
}

const processOutput = new LogOutput(defaultDestination(process.env));
export const logger: pino.Logger = createLogger(processOutput);

/** From now on the process's logs go to `file` (appended, JSON lines), e.g. to keep a command's stderr for people. */
export function logToFile(file: string): void {
  processOutput.target = pino.destination({ dest: file, sync: true, mkdir: true, append: true });
}

const PINO_LEVELS: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
/** Keys pino writes itself; a meta field of the same name would produce duplicate JSON keys. */
const RESERVED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

function fieldsOf(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  // Object.keys skips the SDK's symbol keys (e.g. its log timestamp), which JSON cannot carry anyway.
  for (const key of Object.keys(meta ?? {})) {
    const value = meta![key];
    if (value !== undefined) fields[RESERVED.has(key) ? `meta_${key}` : key] = value;
  }
  return fields;
}

/**
 * Adapts pino to Temporal's Logger for `Runtime.install({ logger })`, so SDK, Core, workflow and activity
 * logs share one format; their meta (workflowId, runId, activityType, attempt, sdkComponent …) become fields.
 * `flush` is called by the Runtime on shutdown.
 */
export function createTemporalLogger(base: pino.Logger): TemporalLogger & { flush(): void } {
  const log = (level: LogLevel, message: string, meta?: LogMetadata): void => {
    base[PINO_LEVELS[level] ?? 'info'](fieldsOf(meta), message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
    flush: () => base.flush(),
  };
}
