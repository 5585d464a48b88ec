import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseIsoDateTime } from '../core/time';
import { arrayStore, CorruptFileError, InvalidCursorError, type OrdersStore } from '../activities/extract/orders-store';
import { mulberry32 } from '../sample_data/generate';

/** The bundled Orders API of contract §2, serving a file, with fault injection for drills and tests. */
export interface OrdersApiOptions {
  /** The orders in stream order: a store (a file, read a page at a time) or values in memory (any JSON values:
   * non-objects are served as they are, to be quarantined). */
  orders: OrdersStore | unknown[];
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
  /** Headers (name → exact value) every /orders request must carry, else 401: an API behind authentication. */
  requireHeaders?: Record<string, string>;
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

/** Answers one /orders request (contract §2): since inclusive, until exclusive, in stream order from the cursor. */
export async function ordersPage(store: OrdersStore, params: URLSearchParams): Promise<string> {
  const window = { since: instantParam(params, 'since'), until: instantParam(params, 'until') };
  const limit = integerParam(params, 'limit', 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
  const { records, nextCursor } = await store.page(window, params.get('cursor') ?? undefined, limit);
  // The records are served as the file holds them: the body is assembled, not re-serialised.
  const data = records.map((record) => (record.isJson ? record.text : JSON.stringify(record.text)));
  return `{"data":[${data.join(',')}],"next_cursor":${JSON.stringify(nextCursor)}}`;
}

export async function startOrdersApi(options: OrdersApiOptions): Promise<OrdersApiServer> {
  const { failRate = 0, failStatus = 503, latencyMs = 0 } = options;
  const store = Array.isArray(options.orders) ? arrayStore(options.orders) : options.orders;
  const random = mulberry32(options.seed ?? 1);
  const stats = new Map<number, number>();

  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      stats.set(status, (stats.get(status) ?? 0) + 1);
      const send = () => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return reply(405, { error: 'only GET is supported' });
    if (url.pathname === '/health') return reply(200, { status: 'ok' });
    if (url.pathname !== '/orders') return reply(404, { error: `no route ${url.pathname}` });
    const required = Object.entries(options.requireHeaders ?? {});
    if (required.some(([name, value]) => req.headers[name.toLowerCase()] !== value)) return reply(401, { error: 'missing or wrong credentials' });
    if (failRate > 0 && random() < failRate) {
      return reply(failStatus, { error: 'injected failure' }, failStatus === 429 ? { 'retry-after': '1' } : {});
    }
    ordersPage(store, url.searchParams).then(
      (body) => reply(200, body),
      (err: Error) => {
        if (err instanceof BadRequest || err instanceof InvalidCursorError) reply(400, { error: err.message });
        else if (err instanceof CorruptFileError) reply(422, { error: err.message });
        else reply(500, { error: err.message });
      },
    );
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
