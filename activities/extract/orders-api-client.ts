import { InvalidInputError, PermanentSourceError, SourceContractError, TransientSourceError } from '../../core/errors';
import { arrayElementTexts, memberText } from '../../core/json';

/** One page of the Orders API (contract §2). */
export interface OrdersPage {
  /** Each record's text as the API sent it. */
  records: string[];
  nextCursor: string | null;
}

export interface PageRequest {
  baseUrl: string;
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
  /** Per-request timeout; a slower answer is a transient failure. */
  timeoutMs: number;
  /** Cancellation: aborts the request and rethrows the signal's reason, which is not a source failure. */
  signal?: AbortSignal;
  /** Authentication headers (`sourceHeaders` of the worker's environment); none by default. */
  headers?: Record<string, string>;
}

/**
 * A source URL never carries credentials: the URL is the run's input, so it would reach Temporal's history,
 * search attributes, progress lines and alerts. Credentials come from the worker's environment instead.
 */
export function refuseUrlCredentials(source: string): void {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return; // not a URL: nothing to refuse here
  }
  if (url.username || url.password) {
    throw new InvalidInputError(
      `the source URL ${url.protocol}//${url.host}${url.pathname} holds credentials: remove them and set ` +
        'ORDERS_API_TOKEN (sent as a Bearer token) or ORDERS_API_HEADERS (a JSON object of headers) where the worker runs',
    );
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The headers that authenticate the extract to an Orders API, read from the environment of the worker that runs
 * it (never from the run's input, so no secret reaches Temporal): ORDERS_API_HEADERS, a JSON object of header
 * names to string values, then ORDERS_API_TOKEN as `Authorization: Bearer <token>` (it wins over an
 * `Authorization` of ORDERS_API_HEADERS). A bad value is one line that never quotes it.
 */
export function sourceHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const headers: Record<string, string> = {};
  const extra = env.ORDERS_API_HEADERS?.trim();
  if (extra) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(extra);
    } catch {
      parsed = undefined;
    }
    const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed) : [];
    if (entries.length === 0 || !entries.every(([name, value]) => HEADER_NAME.test(name) && typeof value === 'string' && !/[\r\n\0]/.test(value))) {
      throw new InvalidInputError('environment variable ORDERS_API_HEADERS: must be a JSON object of header names to string values, e.g. {"X-Api-Key": "..."}');
    }
    for (const [name, value] of entries) headers[name.toLowerCase()] = value as string;
  }
  const token = env.ORDERS_API_TOKEN?.trim();
  if (token) {
    if (/[\s\0]/.test(token)) throw new InvalidInputError('environment variable ORDERS_API_TOKEN: must not contain whitespace');
    headers.authorization = `Bearer ${token}`;
  }
  return headers;
}

/** An API's error body may echo what it was sent: the header values (and their credentials after a scheme) are masked. */
function masked(text: string, headers: Record<string, string>): string {
  const secrets = Object.values(headers).flatMap((value) => [value, value.replace(/^\S+ /, '')]).filter((v) => v.length > 0);
  return secrets.sort((a, b) => b.length - a.length).reduce((out, secret) => out.split(secret).join('***'), text);
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function pageUrl(request: PageRequest): string {
  const url = new URL('orders', request.baseUrl.endsWith('/') ? request.baseUrl : `${request.baseUrl}/`);
  if (request.since) url.searchParams.set('since', request.since);
  if (request.until) url.searchParams.set('until', request.until);
  url.searchParams.set('limit', String(request.limit));
  if (request.cursor) url.searchParams.set('cursor', request.cursor);
  return url.toString();
}

/**
 * Fetches one page and classifies every failure: transient ones (network, timeout, 408, 429, 5xx, a truncated
 * or non-JSON body) are retried by Temporal; permanent ones (other 4xx, a body that breaks the contract) are not.
 */
export async function fetchOrdersPage(request: PageRequest): Promise<OrdersPage> {
  refuseUrlCredentials(request.baseUrl);
  const url = pageUrl(request);
  const headers = request.headers ?? {};
  // Messages reach logs, Temporal's history and alerts: what they quote of the server is masked.
  const about = (detail: string) => masked(`GET ${url}: ${detail}`, headers);
  let response: Response;
  let text: string;
  try {
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    response = await fetch(url, { signal, headers: { accept: 'application/json', ...headers } });
    text = await response.text();
  } catch (err) {
    if (request.signal?.aborted) throw request.signal.reason ?? err;
    const reason = (err as Error).name === 'TimeoutError' ? `timed out after ${request.timeoutMs} ms` : (err as Error).message;
    throw new TransientSourceError(about(reason));
  }
  const status = response.status;
  if (status === 408 || status === 429 || status >= 500) {
    throw new TransientSourceError(about(`HTTP ${status}`), parseRetryAfter(response.headers.get('retry-after')));
  }
  if (status >= 400) throw new PermanentSourceError(about(`HTTP ${status} ${text.slice(0, 200)}`).trim(), status);
  if (status !== 200) throw new SourceContractError(about(`unexpected HTTP ${status}`));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TransientSourceError(about(`the body is not complete JSON (${text.length} bytes)`));
  }
  const page = body as { data?: unknown; next_cursor?: unknown };
  if (typeof body !== 'object' || body === null || !Array.isArray(page.data)) {
    throw new SourceContractError(about('the body has no "data" array'));
  }
  const next = page.next_cursor ?? null;
  if (next !== null && (typeof next !== 'string' || next === '')) {
    throw new SourceContractError(about('"next_cursor" must be a non-empty string or null'));
  }
  // The records as the API sent them: exact slices of the body, never re-serialised.
  return { records: arrayElementTexts(memberText(text, 'data')!), nextCursor: next };
}
