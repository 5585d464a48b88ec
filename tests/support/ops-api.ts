import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startOrdersApi, type OrdersApiOptions, type OrdersApiServer } from '../../dev/orders-api-server';

/** One /orders page the bundled API answered, as it is about to reach the client. */
export interface ObservedPage {
  url: URL;
  body: { data: unknown[]; next_cursor: string | null };
}

export interface ObservedOrdersApi {
  /** The URL clients use (the observing front). */
  url: string;
  /** The bundled Orders API behind it, with its stats. */
  api: OrdersApiServer;
  close(): Promise<void>;
}

/**
 * The bundled Orders API (startOrdersApi) behind a thin forwarding front that calls `onPage` with every
 * successful /orders page BEFORE the client receives it. A test can thus act at an exact point of an extract
 * (e.g. add orders right after a run read its last page) instead of racing it with timers.
 */
export async function startObservedOrdersApi(options: OrdersApiOptions, onPage: (page: ObservedPage) => void): Promise<ObservedOrdersApi> {
  const api = await startOrdersApi(options);
  const front = http.createServer((req, res) => {
    void (async () => {
      try {
        const upstream = await fetch(`${api.url}${req.url ?? '/'}`, { method: req.method });
        const text = await upstream.text();
        const url = new URL(req.url ?? '/', api.url);
        if (upstream.status === 200 && url.pathname === '/orders') onPage({ url, body: JSON.parse(text) });
        const headers: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
        const retryAfter = upstream.headers.get('retry-after');
        if (retryAfter) headers['retry-after'] = retryAfter;
        res.writeHead(upstream.status, headers);
        res.end(text);
      } catch (err) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err) }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', resolve);
  });
  const { port } = front.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    api,
    close: async () => {
      front.closeAllConnections();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await api.close();
    },
  };
}
