import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extractOrders, type ExtractProgress } from '../activities/extract/extract';
import { fetchOrdersPage, parseRetryAfter } from '../activities/extract/orders-api-client';
import { startOrdersApi, type OrdersApiServer } from '../dev/orders-api-server';
import { fileStore } from '../activities/extract/orders-store';
import { InvalidInputError, PermanentSourceError, SourceContractError, TransientSourceError } from '../core/errors';
import { decodeRawLine } from '../core/json';
import { LocalLake } from '../activities/lake/local-lake';

/** The Orders API of contract §2: the bundled server (file and memory stores) and the extract's client. */

const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-api-'));
const ORDERS = [
  { order_id: 'a', created_at: '2025-10-01T00:00:00Z', note: 'brackets ] } [ { and "quotes" \\" inside' },
  { order_id: 'b', created_at: '2025-10-01T12:00:00+02:00', items: [{ sku: 'x', qty: 1, tags: [[1], { deep: [2] }] }] },
  { order_id: 'c' },
  42,
  'a string',
  null,
  { order_id: 'd', created_at: '2025-10-02T00:00:00Z' },
  { order_id: 'e', created_at: 'not a date' },
  { order_id: 'f', created_at: '2025-10-03T00:00:00.5Z', price: -1.5e2 },
];

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const files = {
  'a pretty-printed JSON array': write('orders.json', JSON.stringify(ORDERS, null, 2)),
  'a compact JSON array with a byte order mark': write('bom.json', `\ufeff${JSON.stringify(ORDERS)}`),
  'a JSONL file': write('orders.jsonl', ORDERS.map((o) => JSON.stringify(o)).join('\n') + '\n'),
};

async function get(api: OrdersApiServer, query: string): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${api.url}${query}`);
  return { status: response.status, body: await response.json(), headers: response.headers };
}

async function everything(api: OrdersApiServer, query: string): Promise<{ records: unknown[]; pages: number }> {
  const records: unknown[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const { status, body } = await get(api, `/orders?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(status).toBe(200);
    records.push(...body.data);
    cursor = body.next_cursor;
    pages++;
  } while (cursor !== null);
  return { records, pages };
}

describe.each([...Object.entries(files).map(([what, file]) => [what, () => fileStore(file)] as const), ['records in memory', () => ORDERS] as const])(
  'served from %s',
  (_what, orders) => {
    let api: OrdersApiServer;
    beforeAll(async () => (api = await startOrdersApi({ orders: orders() })));
    afterAll(() => api.close());

    test('without a window every record is served, in stream order, across pages', async () => {
      const { records, pages } = await everything(api, 'limit=2');
      expect(records).toEqual(ORDERS);
      expect(pages).toBe(5);
    });

    test('since is inclusive and until exclusive on created_at, compared as instants; others are left out', async () => {
      const { records } = await everything(api, 'since=2025-10-01T10:00:00Z&until=2025-10-03T00:00:00.5Z&limit=1');
      expect(records.map((r) => (r as { order_id: string }).order_id)).toEqual(['b', 'd']);
      const { records: from } = await everything(api, 'since=2025-10-02T00:00:00Z');
      expect(from.map((r) => (r as { order_id: string }).order_id)).toEqual(['d', 'f']);
    });

    test.each([
      ['since=yesterday', '"since" must be an ISO 8601 date-time, got "yesterday"'],
      ['until=2025-02-30T00:00:00Z', '"until" must be an ISO 8601 date-time'],
      ['limit=0', '"limit" must be an integer from 1 to 1000, got "0"'],
      ['limit=1001', '"limit" must be an integer from 1 to 1000'],
      ['cursor=abc', '"cursor" is not one this API issued: "abc"'],
      ['cursor=99999999', '"cursor" is not one this API issued'],
    ])('?%s is a 400 with a JSON error', async (query, message) => {
      const { status, body } = await get(api, `/orders?${query}`);
      expect(status).toBe(400);
      expect(body.error).toContain(message);
    });

    test('/health is 200; other routes 404', async () => {
      expect((await get(api, '/health')).status).toBe(200);
      expect((await get(api, '/nope')).status).toBe(404);
    });
  },
);

test('a JSONL line that is not JSON is served as its text, to be quarantined, not lost', async () => {
  const api = await startOrdersApi({ orders: fileStore(write('broken.jsonl', '{"order_id":"a"}\n{"order_id": trunc\n\n{"order_id":"b"}\n')) });
  try {
    expect((await everything(api, '')).records).toEqual([{ order_id: 'a' }, '{"order_id": trunc', { order_id: 'b' }]);
  } finally {
    await api.close();
  }
});

test('a JSON array file that breaks off is a 422 saying where (permanent: the run fails fast)', async () => {
  const api = await startOrdersApi({ orders: fileStore(write('cut.json', '[{"order_id":"a"},{"order_id":"b", "x": [1, 2')) });
  try {
    const first = await get(api, '/orders?limit=1');
    expect(first.body.data).toEqual([{ order_id: 'a' }]);
    const rest = await get(api, `/orders?limit=5&cursor=${first.body.next_cursor}`);
    expect(rest.status).toBe(422);
    expect(rest.body.error).toMatch(/cut\.json (is not valid JSON before byte|ends before its JSON array is closed)/);
  } finally {
    await api.close();
  }
});

test('a missing file is one clear error', () => {
  expect(() => fileStore(path.join(dir, 'missing.json'))).toThrow(`cannot read orders file ${path.join(dir, 'missing.json')}: ENOENT`);
});

describe('the extract client classifies every failure', () => {
  const request = (api: OrdersApiServer, timeoutMs = 5_000) => fetchOrdersPage({ baseUrl: api.url, limit: 10, timeoutMs });

  test.each([
    [503, TransientSourceError, undefined],
    [500, TransientSourceError, undefined],
    [429, TransientSourceError, 1000],
    [401, PermanentSourceError, undefined],
    [404, PermanentSourceError, undefined],
  ])('HTTP %i is a %p (Retry-After %p ms)', async (status, type, retryAfterMs) => {
    const api = await startOrdersApi({ orders: ORDERS, failRate: 1, failStatus: status });
    try {
      const error = await request(api).catch((err: Error) => err);
      expect(error).toBeInstanceOf(type);
      expect((error as TransientSourceError).retryAfterMs).toBe(retryAfterMs);
      expect((error as Error).message).toContain(`HTTP ${status}`);
    } finally {
      await api.close();
    }
  });

  test('a timeout is transient', async () => {
    const api = await startOrdersApi({ orders: ORDERS, latencyMs: 500 });
    try {
      await expect(request(api, 50)).rejects.toThrow(new TransientSourceError(`GET ${api.url}/orders?limit=10: timed out after 50 ms`));
    } finally {
      await api.close();
    }
  });

  test.each([
    ['a truncated body', '{"data": [{"order_id": "a"}', TransientSourceError],
    ['HTML instead of JSON', '<html>gateway</html>', TransientSourceError],
    ['a body without a data array', '{"orders": []}', SourceContractError],
    ['an empty next_cursor', '{"data": [], "next_cursor": ""}', SourceContractError],
  ])('%s', async (_what, body, type) => {
    const http = await import('node:http');
    const server = http.createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      await expect(fetchOrdersPage({ baseUrl: `http://127.0.0.1:${port}`, limit: 10, timeoutMs: 5_000 })).rejects.toBeInstanceOf(type);
    } finally {
      server.close();
    }
  });

  test('Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7')).toBe(7000);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:10 GMT', Date.parse('Wed, 21 Oct 2026 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

test('the extract resumes from its heartbeated cursor: it fetches and writes only the pages after it', async () => {
  const api = await startOrdersApi({ orders: fileStore(files['a JSONL file']) });
  const lake = new LocalLake(path.join(dir, 'lake'));
  const beats: ExtractProgress[] = [];
  try {
    const input = { loadId: 'L1', source: api.url, pageSize: 2, requestTimeoutMs: 5_000 };
    const full = await extractOrders(input, lake, (p) => beats.push(p));
    expect(full).toEqual({ rawPrefix: 'raw/L1/p0000/', verbatim: false, base: 0, pages: 5, records: 9, bytes: expect.any(Number), cursor: null, done: true });
    const served = api.stats.get(200);

    const resumed = await extractOrders({ ...input, loadId: 'L2' }, lake, () => undefined, { resumeFrom: beats[2] });
    expect(resumed.pages).toBe(5);
    expect(resumed.records).toBe(9);
    expect(api.stats.get(200)! - served!).toBe(2); // pages 4 and 5 only
    expect((await lake.list('raw/L2/')).map((o) => o.key)).toEqual(['raw/L2/p0000/page-000004.jsonl', 'raw/L2/p0000/page-000005.jsonl']);
    expect((await lake.get('raw/L2/p0000/page-000005.jsonl')).toString()).toBe((await lake.get('raw/L1/p0000/page-000005.jsonl')).toString());
  } finally {
    await api.close();
  }
});

test('the raw zone holds each record exactly as the API sent it: no number goes through a double', async () => {
  const records = ['{"order_id": 12345678901234567890, "amount": 9999999999999999.99}', '{ "order_id" : "b",\n "items": [] }', '"not an object"'];
  const http = await import('node:http');
  const server = http.createServer((_req, res) => res.end(`{ "data" : [ ${records.join(' ,\n')} ], "next_cursor": null }`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  const lake = new LocalLake(path.join(dir, 'lake'));
  try {
    await extractOrders({ loadId: 'exact', source: `http://127.0.0.1:${port}`, pageSize: 10, requestTimeoutMs: 5_000 }, lake, () => undefined);
    const lines = (await lake.get('raw/exact/p0000/page-000001.jsonl')).toString('utf8').split('\n').filter((l) => l !== '');
    expect(lines.map(decodeRawLine)).toEqual(records);
  } finally {
    server.close();
  }
});

test('a JSON array file that breaks off, read by the extract itself, fails it with an InvalidInputError saying where', async () => {
  const source = write('cut-direct.json', '[{"order_id":"a"},{"order_id":"b", "x": [1, 2');
  const lake = new LocalLake(path.join(dir, 'lake'));
  const error = await extractOrders({ loadId: 'cut', source, pageSize: 1, requestTimeoutMs: 5_000 }, lake, () => undefined).catch((err: Error) => err);
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as Error).message).toBe(`${source} is not valid JSON before byte 45`);
});
