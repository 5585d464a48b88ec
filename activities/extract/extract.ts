import path from 'node:path';
import { InvalidInputError, SourceContractError, TransientSourceError } from '../../core/errors';
import { encodeRawLine } from '../../core/json';
import { rawPageKey, rawPrefix } from '../../core/lake-layout';
import type { Lake } from '../lake';
import { parseIsoDateTime } from '../../core/time';
import { fetchOrdersPage } from './orders-api-client';
import { CorruptFileError, fileStore } from './orders-store';
import { markFile, newFrom, type SourceMark } from './source-mark';

export interface ExtractInput {
  loadId: string;
  /** An Orders API base URL, or the absolute path of a JSON/JSONL file of orders. */
  source: string;
  since?: string;
  until?: string;
  pageSize: number;
  requestTimeoutMs: number;
  /** A file source: the pipeline's previous mark. Records after it that lack a valid created_at are new. */
  sourceMark?: SourceMark | null;
  /** Where an earlier call of this extract stopped (after a transient failure): this call continues from there. */
  resumeFrom?: ExtractProgress;
}

/** Where an extract stands: heartbeated after every page, so a retry or another worker resumes from it. */
export interface ExtractProgress {
  pages: number;
  records: number;
  bytes: number;
  cursor: string | null;
  done: boolean;
  /** A file source: records without a valid created_at are taken from this byte offset on (the previous mark). */
  undatedFrom?: number;
  /** A file source: the byte offset up to which its records have been read. */
  readTo?: number;
}

export interface ExtractResult extends ExtractProgress {
  /** Lake prefix of the raw pages: one JSONL file a page, one record a line (`encodeRawLine`), in stream order. */
  rawPrefix: string;
  /** A file source, once done: how far this run read it, for the next run. */
  sourceMark?: SourceMark;
  /** Not done: the transient failure that stopped this call after it made progress. Call again with `resumeFrom`. */
  stoppedBy?: { message: string; retryAfterMs?: number };
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

interface SourcePage {
  /** Each record's text as the source sent it. */
  records: string[];
  nextCursor: string | null;
  readTo?: number;
}

function instant(name: string, iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const micros = parseIsoDateTime(iso);
  if (micros === null) throw new InvalidInputError(`"${name}" must be an ISO 8601 date-time, got "${iso}"`);
  return micros;
}

/** A file source is read directly, a page at a time from a byte offset. */
function filePages(input: ExtractInput, progress: ExtractProgress): (cursor: string | null) => Promise<SourcePage> {
  const file = path.resolve(input.source);
  const store = fileStore(file);
  progress.undatedFrom ??= newFrom(file, input.sourceMark ?? null);
  const window = { since: instant('since', input.since), until: instant('until', input.until), undatedFrom: progress.undatedFrom };
  return async (cursor) => {
    try {
      const page = await store.page(window, cursor ?? undefined, input.pageSize);
      return { records: page.records.map((record) => record.text), nextCursor: page.nextCursor, readTo: page.readTo };
    } catch (err) {
      throw err instanceof CorruptFileError ? new InvalidInputError(err.message) : err;
    }
  };
}

function apiPages(input: ExtractInput, { signal, headers }: ExtractOptions): (cursor: string | null) => Promise<SourcePage> {
  return (cursor) =>
    fetchOrdersPage({
      baseUrl: input.source,
      since: input.since,
      until: input.until,
      limit: input.pageSize,
      cursor: cursor ?? undefined,
      timeoutMs: input.requestTimeoutMs,
      signal,
      headers,
    });
}

export interface ExtractOptions {
  /** Where an earlier attempt stopped (its last heartbeat, or an earlier call's result): continue from there. */
  resumeFrom?: ExtractProgress;
  /** Aborts the request in flight when the run is cancelled. */
  signal?: AbortSignal;
  /** An API's authentication headers, from the worker's configuration (never from the workflow's input). */
  headers?: Record<string, string>;
}

/**
 * Pulls every page of the source into the lake's raw zone. A transient failure after this call has made progress
 * ends the call with its state (`stoppedBy`) instead of failing it, so the next call starts with a fresh attempt
 * budget: retries are for the failing request, not for the whole extract. One that fails before any progress throws.
 */
export async function extractOrders(
  input: ExtractInput,
  lake: Lake,
  heartbeat: (progress: ExtractProgress) => void,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const { resumeFrom } = options;
  const { pages, records, bytes, cursor, done, undatedFrom, readTo } = resumeFrom ?? { pages: 0, records: 0, bytes: 0, cursor: null, done: false };
  const progress: ExtractProgress = { pages, records, bytes, cursor, done, undatedFrom, readTo };
  const nextPage = isUrl(input.source) ? apiPages(input, options) : filePages(input, progress);
  const startedAt = progress.cursor;
  let stoppedBy: ExtractResult['stoppedBy'];
  while (!progress.done) {
    let page: SourcePage;
    try {
      page = await nextPage(progress.cursor);
    } catch (err) {
      if (!(err instanceof TransientSourceError) || progress.cursor === startedAt) throw err;
      stoppedBy = { message: err.message, retryAfterMs: err.retryAfterMs };
      break;
    }
    if (page.nextCursor !== null && page.nextCursor === progress.cursor) {
      throw new SourceContractError(`the source returned the same cursor "${page.nextCursor}" again: it would loop forever`);
    }
    if (page.records.length > 0) {
      const body = page.records.map(encodeRawLine).join('\n') + '\n';
      await lake.put(rawPageKey(rawPrefix(input.loadId), progress.pages + 1), body);
      progress.pages += 1;
      progress.records += page.records.length;
      progress.bytes += Buffer.byteLength(body);
    }
    progress.cursor = page.nextCursor;
    progress.done = page.nextCursor === null;
    if (page.readTo !== undefined) progress.readTo = page.readTo;
    heartbeat({ ...progress });
  }
  const sourceMark = progress.done && progress.readTo !== undefined ? markFile(path.resolve(input.source), progress.readTo) : undefined;
  return { rawPrefix: rawPrefix(input.loadId), ...progress, ...(sourceMark && { sourceMark }), ...(stoppedBy && { stoppedBy }) };
}
