import { PermanentSourceError, SourceContractError, TransientSourceError } from '../errors';
import { arrayElementTexts, memberText } from '../json';

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
  const url = pageUrl(request);
  let response: Response;
  let text: string;
  try {
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    response = await fetch(url, { signal, headers: { accept: 'application/json' } });
    text = await response.text();
  } catch (err) {
    if (request.signal?.aborted) throw request.signal.reason ?? err;
    const reason = (err as Error).name === 'TimeoutError' ? `timed out after ${request.timeoutMs} ms` : (err as Error).message;
    throw new TransientSourceError(`GET ${url}: ${reason}`);
  }
  const status = response.status;
  if (status === 408 || status === 429 || status >= 500) {
    throw new TransientSourceError(`GET ${url}: HTTP ${status}`, parseRetryAfter(response.headers.get('retry-after')));
  }
  if (status >= 400) throw new PermanentSourceError(`GET ${url}: HTTP ${status} ${text.slice(0, 200)}`.trim(), status);
  if (status !== 200) throw new SourceContractError(`GET ${url}: unexpected HTTP ${status}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new TransientSourceError(`GET ${url}: the body is not complete JSON (${text.length} bytes)`);
  }
  const page = body as { data?: unknown; next_cursor?: unknown };
  if (typeof body !== 'object' || body === null || !Array.isArray(page.data)) {
    throw new SourceContractError(`GET ${url}: the body has no "data" array`);
  }
  const next = page.next_cursor ?? null;
  if (next !== null && (typeof next !== 'string' || next === '')) {
    throw new SourceContractError(`GET ${url}: "next_cursor" must be a non-empty string or null`);
  }
  // The records as the API sent them: exact slices of the body, never re-serialised.
  return { records: arrayElementTexts(memberText(text, 'data')!), nextCursor: next };
}
