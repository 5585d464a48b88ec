import path from 'node:path';
import { SourceContractError } from '../errors';
import type { Lake } from '../lake';
import { fetchOrdersPage } from './orders-api-client';
import { startOrdersApi } from './orders-api-server';
import { fileStore } from './orders-store';

export interface ExtractInput {
  loadId: string;
  /** An Orders API base URL, or the absolute path of a JSON/JSONL file of orders. */
  source: string;
  since?: string;
  until?: string;
  pageSize: number;
  requestTimeoutMs: number;
}

/** Where an extract stands: heartbeated after every page, so a retry or another worker resumes from it. */
export interface ExtractProgress {
  pages: number;
  records: number;
  bytes: number;
  cursor: string | null;
  done: boolean;
}

export interface ExtractResult {
  /** Lake prefix of the raw pages: one JSONL file a page, one record a line, in stream order. */
  rawPrefix: string;
  pages: number;
  records: number;
  bytes: number;
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export const rawPrefix = (loadId: string): string => `raw/${loadId}/`;
const pageKey = (loadId: string, page: number): string => `${rawPrefix(loadId)}page-${String(page).padStart(6, '0')}.jsonl`;

/**
 * Pulls every page of the source into the lake's raw zone. A file source is served by the bundled Orders API
 * for the duration, so files and real APIs take the same path (and the same failure handling).
 */
export async function extractOrders(
  input: ExtractInput,
  lake: Lake,
  heartbeat: (progress: ExtractProgress) => void,
  resumeFrom?: ExtractProgress,
  /** Aborts the request in flight when the run is cancelled. */
  signal?: AbortSignal,
): Promise<ExtractResult> {
  const server = isUrl(input.source) ? undefined : await startOrdersApi({ orders: fileStore(path.resolve(input.source)) });
  const baseUrl = server?.url ?? input.source;
  const progress: ExtractProgress = resumeFrom ?? { pages: 0, records: 0, bytes: 0, cursor: null, done: false };
  try {
    while (!progress.done) {
      const page = await fetchOrdersPage({
        baseUrl,
        since: input.since,
        until: input.until,
        limit: input.pageSize,
        cursor: progress.cursor ?? undefined,
        timeoutMs: input.requestTimeoutMs,
        signal,
      });
      if (page.nextCursor !== null && page.nextCursor === progress.cursor) {
        throw new SourceContractError(`the source returned the same cursor "${page.nextCursor}" again: it would loop forever`);
      }
      if (page.data.length > 0) {
        const body = page.data.map((record) => JSON.stringify(record) ?? 'null').join('\n') + '\n';
        await lake.put(pageKey(input.loadId, progress.pages + 1), body);
        progress.pages += 1;
        progress.records += page.data.length;
        progress.bytes += Buffer.byteLength(body);
      }
      progress.cursor = page.nextCursor;
      progress.done = page.nextCursor === null;
      heartbeat({ ...progress });
    }
  } finally {
    await server?.close();
  }
  return { rawPrefix: rawPrefix(input.loadId), pages: progress.pages, records: progress.records, bytes: progress.bytes };
}
