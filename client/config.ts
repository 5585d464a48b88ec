import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ActivityConfig } from '../activities';
import { InvalidInputError } from '../core/errors';
import { sourceHeaders } from '../activities/extract/orders-api-client';
import { s3SettingsFromEnv } from '../activities/lake';
import { readRedshiftEnv, type RedshiftTarget } from '../activities/warehouse/redshift-warehouse';
import { parseIsoDateTime } from '../core/time';

/**
 * The one set of parsers for every instant, number and duration a user gives, as a flag or an environment
 * variable: strict (no `1e3`, `0x10`, ` 5`, February 30), and each problem said the same way everywhere.
 */
export type Parser<T> = (text: string) => T;

/** A value that does not parse; the message says what it must be, the caller names the flag or variable. */
export class InvalidValue extends Error {}

export function integer(min: number, max: number): Parser<number> {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new InvalidValue(`must be an integer from ${min} to ${max}, got "${text}"`);
    return n;
  };
}

/** A plain decimal number (digits, an optional fraction) within bounds. */
export function decimal(min: number, max: number): Parser<number> {
  return (text) => {
    const n = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || n < min || n > max) throw new InvalidValue(`must be a number from ${min} to ${max}, got "${text}"`);
    return n;
  };
}

/** An ISO 8601 date-time (the data rules' own parser), in microseconds since the epoch. */
export const instant: Parser<number> = (text) => {
  const micros = parseIsoDateTime(text);
  if (micros === null) throw new InvalidValue(`must be an ISO 8601 date-time such as 2025-10-01T00:00:00Z, got "${text}"`);
  return micros;
};

/** A duration like `90s`, `15m`, `2h` or `1d`, in seconds. */
export const duration: Parser<number> = (text) => {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new InvalidValue(`must be a number followed by s, m, h or d (e.g. 15m), got "${text}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
};

/** A flag's value through a parser, or one line naming the flag. */
export function parseFlag<T>(flag: string, text: string, parse: Parser<T>): T {
  try {
    return parse(text);
  } catch (err) {
    throw err instanceof InvalidValue ? new InvalidInputError(`${flag} ${err.message}`) : err;
  }
}

/** An environment variable through the same parser (zod names the variable). */
function envValue<T>(parse: Parser<T>) {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });
}

/**
 * Configuration from the environment, typed and validated in one place. Flags override these; every problem
 * is one clear line. The README's table of variables documents each.
 */
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port');
const port = envValue(integer(0, 65535));

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('orders-etl'),
  TEMPORAL_UI_URL: z.string().url().optional(),
  ORDERS_ETL_SOURCE: z.string().min(1).optional(),
  ORDERS_ETL_WAREHOUSE: z.string().min(1).optional(),
  ORDERS_ETL_LAKE: z.string().min(1).optional(),
  ORDERS_ETL_DATA_DIR: z.string().min(1).default('./data'),
  /** Seconds. */
  ORDERS_ETL_LOOKBACK: envValue(duration).optional(),
  /** Seconds. */
  ORDERS_ETL_FUTURE_TOLERANCE: envValue(duration).optional(),
  ORDERS_ETL_PAGE_SIZE: envValue(integer(1, 1000)).optional(),
  /** Quality gates over the defaults, in `--quality` syntax: parsed with the flags (client/quality-options.ts). */
  ORDERS_ETL_QUALITY: z.string().min(1).optional(),
  ORDERS_ETL_VOLUME_WINDOW: envValue(integer(1, 1000)).optional(),
  METRICS_PORT: port.optional(),
  S3_ENDPOINT: z.string().url().optional(),
});

export type EnvConfig = z.infer<typeof EnvSchema>;

export function loadEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`environment variable ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** The package's own directory (where sample_data and sql live), from source or from dist/. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** The package's version, for what the product stamps with it (lineage's `producer`). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Every problem of a configuration, one line each: the worker refuses to start until all are fixed. */
export class ConfigurationError extends InvalidInputError {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1');

/** What only the worker reads, on top of EnvSchema: where metrics listen, AWS, Redshift and the alert channels. */
const WorkerEnvSchema = EnvSchema.extend({
  METRICS_HOST: z.union([z.ipv4(), z.ipv6(), z.string().regex(/^[A-Za-z0-9.-]+$/)], 'must be an IP address or a host name').default('127.0.0.1'),
  AWS_REGION: awsRegion.optional(),
  AWS_DEFAULT_REGION: awsRegion.optional(),
  ALERT_SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional(),
  ALERT_EMAIL_TO: z.string().min(1).optional(),
  ALERT_EMAIL_FROM: z.string().min(1).optional(),
  ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  OPENLINEAGE_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL (the base of /api/v1/lineage)' }).optional(),
  OPENLINEAGE_API_KEY: z.string().min(1).optional(),
  OPENLINEAGE_FILE: z.string().min(1).optional(),
});

export type WorkerConfig = z.infer<typeof WorkerEnvSchema> & { activities: ActivityConfig };

/**
 * The worker's whole configuration, read and checked once at its start: every bad value is one line of a
 * ConfigurationError. The activities get the result (their S3 and Redshift clients are built from it once).
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = WorkerEnvSchema.safeParse(present);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `environment variable ${i.path.join('.')}: ${i.message}`);
  const usesRedshift = Object.keys(present).some((name) => name.startsWith('REDSHIFT_'));
  const redshift = usesRedshift ? readRedshiftEnv(env) : undefined;
  problems.push(...(redshift?.problems ?? []).map((p) => `Redshift configuration: ${p}`));
  let headers: Record<string, string> = {};
  try {
    headers = sourceHeaders(env);
  } catch (err) {
    problems.push((err as Error).message); // names the variable, never quotes its value
  }
  if (present.ALERT_SMTP_URL && !present.ALERT_EMAIL_TO) problems.push('environment variable ALERT_EMAIL_TO: required with ALERT_SMTP_URL (the recipients of failure emails)');
  if (present.OPENLINEAGE_URL && present.OPENLINEAGE_FILE) problems.push('environment variables OPENLINEAGE_URL and OPENLINEAGE_FILE: set one of them (where lineage events go)');
  if (!parsed.success || problems.length) throw new ConfigurationError(problems);
  const { ALERT_SMTP_URL, ALERT_EMAIL_TO, ALERT_EMAIL_FROM, ALERT_WEBHOOK_URL, OPENLINEAGE_URL, OPENLINEAGE_API_KEY, OPENLINEAGE_FILE } = parsed.data;
  return {
    ...parsed.data,
    activities: {
      s3: s3SettingsFromEnv(env),
      redshift: redshift && (redshift.target as RedshiftTarget),
      alerts: { ALERT_SMTP_URL, ALERT_EMAIL_TO, ALERT_EMAIL_FROM, ALERT_WEBHOOK_URL },
      uiUrl: parsed.data.TEMPORAL_UI_URL,
      sourceHeaders: headers,
      lineage: { url: OPENLINEAGE_URL, apiKey: OPENLINEAGE_API_KEY, file: OPENLINEAGE_FILE, version: packageVersion() },
    },
  };
}
