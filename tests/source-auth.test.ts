import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidInputError, PermanentSourceError } from '../core/errors';
import { fetchOrdersPage, refuseUrlCredentials, sourceHeaders } from '../activities/extract/orders-api-client';
import { startOrdersApi } from '../dev/orders-api-server';

/** Authentication to an Orders API: headers from the worker's environment, never credentials in the URL. */
describe('sourceHeaders', () => {
  test('ORDERS_API_TOKEN is a Bearer token; ORDERS_API_HEADERS a JSON object of headers; the token wins', () => {
    expect(sourceHeaders({})).toEqual({});
    expect(sourceHeaders({ ORDERS_API_TOKEN: ' t0k ' })).toEqual({ authorization: 'Bearer t0k' });
    expect(sourceHeaders({ ORDERS_API_HEADERS: '{"X-Api-Key": "k1", "X-Tenant": "acme"}' })).toEqual({ 'x-api-key': 'k1', 'x-tenant': 'acme' });
    expect(sourceHeaders({ ORDERS_API_HEADERS: '{"Authorization": "Basic abc"}', ORDERS_API_TOKEN: 't0k' })).toEqual({ authorization: 'Bearer t0k' });
  });

  test.each([
    ['not JSON', 'X-Api-Key: k1-secret'],
    ['an array', '["k1-secret"]'],
    ['a number value', '{"X-Api-Key": 1}'],
    ['a bad header name', '{"X Api Key": "k1-secret"}'],
    ['a value with a newline', '{"X-Api-Key": "k1-secret\\nX-Evil: 1"}'],
    ['an empty object', '{}'],
  ])('a bad ORDERS_API_HEADERS (%s) is one line that never quotes it', (_what, value) => {
    expect(() => sourceHeaders({ ORDERS_API_HEADERS: value })).toThrow(
      new InvalidInputError('environment variable ORDERS_API_HEADERS: must be a JSON object of header names to string values, e.g. {"X-Api-Key": "..."}'),
    );
  });
});

test('credentials in a source URL are refused, naming the variables to use instead and not the password', () => {
  expect(() => refuseUrlCredentials('https://ann:pw-secret@api.example.com/v1')).toThrow(
    new InvalidInputError(
      'the source URL https://api.example.com/v1 holds credentials: remove them and set ORDERS_API_TOKEN (sent as a Bearer token) ' +
        'or ORDERS_API_HEADERS (a JSON object of headers) where the worker runs',
    ),
  );
  expect(() => refuseUrlCredentials('https://api.example.com/v1')).not.toThrow();
  expect(() => refuseUrlCredentials('/data/orders.json')).not.toThrow();
});

test('the extract sends the headers; without them an API behind authentication answers 401, a permanent failure', async () => {
  const api = await startOrdersApi({ orders: [{ order_id: 'o-1' }], requireHeaders: { authorization: 'Bearer t0k', 'x-api-key': 'k1' } });
  try {
    const request = { baseUrl: api.url, limit: 10, timeoutMs: 5_000 };
    const page = await fetchOrdersPage({ ...request, headers: sourceHeaders({ ORDERS_API_TOKEN: 't0k', ORDERS_API_HEADERS: '{"X-Api-Key": "k1"}' }) });
    expect(page).toEqual({ records: ['{"order_id":"o-1"}'], nextCursor: null });
    const refused = fetchOrdersPage({ ...request, headers: { authorization: 'Bearer t0k' } });
    await expect(refused).rejects.toBeInstanceOf(PermanentSourceError);
    await expect(refused).rejects.toThrow(`GET ${api.url}/orders?limit=10: HTTP 401 {"error":"missing or wrong credentials"}`);
  } finally {
    await api.close();
  }
});

test('an API that echoes the credentials in its error body does not put them in the error message', async () => {
  const echo = http.createServer((req, res) => res.writeHead(403).end(`forbidden for ${req.headers.authorization} / ${req.headers['x-api-key']}`));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  try {
    const attempt = fetchOrdersPage({ baseUrl: url, limit: 10, timeoutMs: 5_000, headers: { authorization: 'Bearer t0k-secret', 'x-api-key': 'k1-secret' } });
    await expect(attempt).rejects.toThrow(`GET ${url}/orders?limit=10: HTTP 403 forbidden for *** / ***`);
  } finally {
    echo.close();
  }
});
