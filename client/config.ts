import path from 'node:path';
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { InvalidInputError } from '../activities/errors';

/**
 * Configuration from the environment, typed and validated in one place. Flags override these; every problem
 * is one clear line. The README's table of variables documents each.
 */
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port');
const port = z.coerce.number().int().min(0).max(65535);

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('orders-etl'),
  TEMPORAL_UI_URL: z.string().url().optional(),
  ORDERS_ETL_SOURCE: z.string().min(1).optional(),
  ORDERS_ETL_WAREHOUSE: z.string().min(1).optional(),
  ORDERS_ETL_LAKE: z.string().min(1).optional(),
  ORDERS_ETL_DATA_DIR: z.string().min(1).default('./data'),
  ORDERS_ETL_LOOKBACK: z.string().regex(/^\d+[smhd]$/, 'must be a duration like 15m or 2h').optional(),
  ORDERS_ETL_FUTURE_TOLERANCE: z.string().regex(/^\d+[smhd]$/, 'must be a duration like 5m or 1h').optional(),
  ORDERS_ETL_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).optional(),
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

/** A duration like `90s`, `15m`, `2h` or `1d` in seconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  if (!m) throw new InvalidInputError(`${what} must be a number followed by s, m, h or d (e.g. 15m), got "${text}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** The package's own directory (where sample_data and sql live), from source or from dist/. */
export function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}
