import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidInputError } from '../errors';
import { parseIsoDateTime } from '../transform/time';

/** The bundled Orders API of contract §2, serving a file, with fault injection for drills and tests. */
export interface OrdersApiOptions {
  /** The orders, in stream order: any JSON values (non-objects are served as they are, to be quarantined). */
  orders: unknown[];
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  host?: string;
  /** Share of /orders requests answered with `failStatus` instead of data, 0..1. */
  failRate?: number;
  /** The status of injected failures (default 503; 429 answers carry `Retry-After: 1`). */
  failStatus?: number;
  /** Delay before every answer. */
  latencyMs?: number;
  /** Seed of the fault injection's random choices, so a drill can be replayed. */
  seed?: number;
}

export interface OrdersApiServer {
  url: string;
  port: number;
  /** Requests answered so far, by status. */
  stats: Map<number, number>;
  close(): Promise<void>;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/**
 * Reads a JSON array or a JSONL file of orders. A JSONL line that is not JSON is served as its text (a JSON
 * string), so the pipeline quarantines it as `malformed_record` instead of losing it.
 */
export async function readOrdersFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read orders file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as unknown[];
    } catch (err) {
      throw new InvalidInputError(`${path} is not a valid JSON array: ${(err as Error).message}`);
    }
  }
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return line;
      }
    });
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class BadRequest extends Error {}

function instantParam(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null) return undefined;
  const micros = parseIsoDateTime(value);
  if (micros === null) throw new BadRequest(`"${name}" must be an ISO 8601 date-time, got "${value}"`);
  return micros;
}

function integerParam(params: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const value = params.get(name);
  if (value === null) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new BadRequest(`"${name}" must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

function createdAtOf(order: unknown): number | null {
  const value = (order as { created_at?: unknown } | null)?.created_at;
  return typeof value === 'string' ? parseIsoDateTime(value) : null;
}

/** Answers one /orders request: filter on created_at (since inclusive, until exclusive), then a page from the cursor. */
export function ordersPage(orders: unknown[], params: URLSearchParams): { data: unknown[]; next_cursor: string | null } {
  const since = instantParam(params, 'since');
  const until = instantParam(params, 'until');
  const limit = integerParam(params, 'limit', 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
  const offset = integerParam(params, 'cursor', 0, Number.MAX_SAFE_INTEGER, 0);
  const filtered =
    since === undefined && until === undefined
      ? orders
      : orders.filter((order) => {
          const at = createdAtOf(order);
          return at !== null && (since === undefined || at >= since) && (until === undefined || at < until);
        });
  const data = filtered.slice(offset, offset + limit);
  const next = offset + limit < filtered.length ? String(offset + limit) : null;
  return { data, next_cursor: next };
}

export async function startOrdersApi(options: OrdersApiOptions): Promise<OrdersApiServer> {
  const { orders, failRate = 0, failStatus = 503, latencyMs = 0 } = options;
  const random = mulberry32(options.seed ?? 1);
  const stats = new Map<number, number>();

  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      stats.set(status, (stats.get(status) ?? 0) + 1);
      const send = () => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return reply(405, { error: 'only GET is supported' });
    if (url.pathname === '/health') return reply(200, { status: 'ok', orders: orders.length });
    if (url.pathname !== '/orders') return reply(404, { error: `no route ${url.pathname}` });
    if (failRate > 0 && random() < failRate) {
      return reply(failStatus, { error: 'injected failure' }, failStatus === 429 ? { 'retry-after': '1' } : {});
    }
    try {
      return reply(200, ordersPage(orders, url.searchParams));
    } catch (err) {
      if (err instanceof BadRequest) return reply(400, { error: err.message });
      throw err;
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
