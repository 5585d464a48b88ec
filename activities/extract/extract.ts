import { open } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError, SourceContractError, TransientSourceError } from '../../core/errors';
import { encodeRawLine } from '../../core/json';
import { rawPageKey, rawPrefix } from '../../core/lake-layout';
import type { Lake } from '../lake';
import { parseIsoDateTime } from '../../core/time';
import type { Window } from '../../core/window';
import { fetchOrdersPage } from './orders-api-client';
import { CorruptFileError, fileStore } from './orders-store';
import { planPartitions, type Partition } from './partitions';
import { markFile, newFrom, type SourceMark } from './source-mark';

export interface ExtractInput {
  loadId: string;
  /** An Orders API base URL, or the absolute path of a JSON/JSONL file of orders. */
  source: string;
  since?: string;
  until?: string;
  /** Records per API (or JSON array) page. */
  pageSize: number;
  requestTimeoutMs: number;
  /** The partition this call extracts (`planPartitions`); absent: the whole source as partition 0. */
  partition?: Partition;
  /** A file source: from the run's plan, records without a valid created_at from this byte offset on are new. */
  undatedFrom?: number;
  /** A file source without a plan: the pipeline's previous mark, to judge `undatedFrom` by. */
  sourceMark?: SourceMark | null;
  /** Bytes per verbatim page of a JSONL file (cut after a line); default VERBATIM_PAGE_BYTES. */
  pageBytes?: number;
  /** Where an earlier call of this extract stopped (after a transient failure): this call continues from there. */
  resumeFrom?: ExtractProgress;
}

/** Large pages: few lake objects and heartbeats, while a worker holds only one or two of them. */
export const VERBATIM_PAGE_BYTES = 8 * 1024 * 1024;

/** Where an extract stands: heartbeated after every page, so a retry or another worker resumes from it. */
export interface ExtractProgress {
  pages: number;
  /** Records written (a verbatim page: its lines; the transform, which applies the window there, counts records). */
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
  /** Lake prefix of the partition's raw pages (`rawPageKey`), in stream order. */
  rawPrefix: string;
  /**
   * Verbatim pages hold the file's bytes as they are (a JSONL record a line); the others one record a line as a
   * JSON string of its text (`encodeRawLine`).
   */
  verbatim: boolean;
  /** The stream position of the partition's start (see `RawPartition.base`). */
  base: number;
  /** Verbatim pages: the window the transform applies (the extract applied it to the others). */
  window?: Window;
  /** A file source, once done: how far this partition read it (the run's mark is its last partition's). */
  sourceMark?: SourceMark;
  /** Not done: the transient failure that stopped this call after it made progress. Call again with `resumeFrom`. */
  stoppedBy?: { message: string; retryAfterMs?: number };
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

interface SourcePage {
  /** The page as the lake keeps it; empty when the source had nothing here. */
  body: string | Buffer;
  records: number;
  nextCursor: string | null;
  readTo?: number;
}

function instant(name: string, iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const micros = parseIsoDateTime(iso);
  if (micros === null) throw new InvalidInputError(`"${name}" must be an ISO 8601 date-time, got "${iso}"`);
  return micros;
}

/** Encoded pages: one record a line, as a JSON string of the text the source sent. */
function encodedPage(records: string[], nextCursor: string | null, readTo?: number): SourcePage {
  return { body: records.length > 0 ? records.map(encodeRawLine).join('\n') + '\n' : '', records: records.length, nextCursor, readTo };
}

/** A JSON array file's partition, read with the store: its elements are found by scanning, the window applied here. */
function arrayPages(input: ExtractInput, partition: Extract<Partition, { kind: 'array' }>, window: Window): (cursor: string | null) => Promise<SourcePage> {
  const store = fileStore(path.resolve(input.source));
  return async (cursor) => {
    try {
      const page = await store.page(window, cursor ?? String(partition.start), input.pageSize, partition.end);
      return encodedPage(page.records.map((record) => record.text), page.nextCursor, page.readTo);
    } catch (err) {
      throw err instanceof CorruptFileError ? new InvalidInputError(err.message) : err;
    }
  };
}

const NEWLINE = 0x0a;

function countLines(body: Buffer): number {
  let lines = 0;
  for (let at = body.indexOf(NEWLINE); at !== -1; at = body.indexOf(NEWLINE, at + 1)) lines++;
  return body.length > 0 && body[body.length - 1] !== NEWLINE ? lines + 1 : lines;
}

/**
 * A JSONL file's partition, copied as it is: pages of about `pageBytes`, each cut after a line (a longer line
 * makes its page longer), so pages are contiguous bytes holding whole lines. Nothing is parsed here: the
 * transform parses each record once. Memory: one page.
 */
function verbatimPages(input: ExtractInput, partition: Extract<Partition, { kind: 'jsonl' }>): (cursor: string | null) => Promise<SourcePage> {
  const file = path.resolve(input.source);
  const pageBytes = input.pageBytes ?? VERBATIM_PAGE_BYTES;
  return async (cursor) => {
    const from = cursor === null ? partition.start : Number(cursor);
    const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new InvalidInputError(`cannot read orders file ${file}: ${err.code ?? err.message}`);
    });
    try {
      for (let length = pageBytes; ; length *= 2) {
        const wanted = Math.min(length, partition.end - from);
        const body = Buffer.allocUnsafe(wanted);
        const { bytesRead } = await handle.read(body, 0, wanted, from);
        if (bytesRead < wanted) throw new InvalidInputError(`${file} became shorter while it was read (a rewritten file?): run again`);
        const last = body.lastIndexOf(NEWLINE);
        // A line without its newline at the very end may still be written to: it is read, but not past readTo.
        const readTo = last === -1 ? undefined : from + last + 1;
        if (from + wanted === partition.end) return { body, records: countLines(body), nextCursor: null, readTo };
        if (last !== -1) {
          const page = body.subarray(0, last + 1);
          return { body: page, records: countLines(page), nextCursor: String(readTo), readTo };
        }
      }
    } finally {
      await handle.close();
    }
  };
}

function apiPages(input: ExtractInput, partition: Extract<Partition, { kind: 'api' }>, { signal, headers }: ExtractOptions): (cursor: string | null) => Promise<SourcePage> {
  return async (cursor) => {
    const page = await fetchOrdersPage({
      baseUrl: input.source,
      since: partition.since ?? input.since,
      until: partition.until ?? input.until,
      limit: input.pageSize,
      cursor: cursor ?? undefined,
      timeoutMs: input.requestTimeoutMs,
      signal,
      headers,
    });
    return encodedPage(page.records, page.nextCursor);
  };
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
  const partition = input.partition ?? planPartitions({ source: input.source, since: input.since, until: input.until, partitions: 1 }).partitions[0];
  const isFile = partition.kind !== 'api';
  const { pages, records, bytes, cursor, done, undatedFrom, readTo } = options.resumeFrom ?? { pages: 0, records: 0, bytes: 0, cursor: null, done: false };
  const progress: ExtractProgress = { pages, records, bytes, cursor, done, undatedFrom, readTo };
  if (isFile) {
    progress.undatedFrom ??= input.undatedFrom ?? newFrom(path.resolve(input.source), input.sourceMark ?? null);
    progress.readTo ??= partition.start;
  }
  const window: Window = { since: instant('since', input.since), until: instant('until', input.until), undatedFrom: progress.undatedFrom };
  const nextPage =
    partition.kind === 'api' ? apiPages(input, partition, options) : partition.kind === 'array' ? arrayPages(input, partition, window) : verbatimPages(input, partition);
  const prefix = rawPrefix(input.loadId, partition.index);
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
    if (page.body.length > 0) {
      await lake.put(rawPageKey(prefix, progress.pages + 1), page.body);
      progress.pages += 1;
      progress.records += page.records;
      progress.bytes += Buffer.byteLength(page.body);
    }
    progress.cursor = page.nextCursor;
    progress.done = page.nextCursor === null;
    if (page.readTo !== undefined) progress.readTo = page.readTo;
    heartbeat({ ...progress });
  }
  const sourceMark = progress.done && isFile ? markFile(path.resolve(input.source), progress.readTo!) : undefined;
  const verbatim = partition.kind === 'jsonl';
  return {
    rawPrefix: prefix,
    verbatim,
    base: partition.base,
    ...(verbatim && { window }),
    ...progress,
    ...(sourceMark && { sourceMark }),
    ...(stoppedBy && { stoppedBy }),
  };
}
