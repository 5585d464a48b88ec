import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { fetchFailureReason } from '../../core/errors';
import { redactUrls } from '../../core/redact';
import type { RunEvent } from './lineage-event';

/** Where the worker sends lineage (OPENLINEAGE_URL + OPENLINEAGE_API_KEY, or OPENLINEAGE_FILE); neither: none. */
export interface LineageSettings {
  url?: string;
  apiKey?: string;
  file?: string;
}

export interface LineageTransport {
  /** For logs: the endpoint or the file, never a credential. */
  readonly target: string;
  send(event: RunEvent): Promise<void>;
}

const TIMEOUT_MS = 5_000;

/** Marquez's (and the OpenLineage HTTP transport's) endpoint under a base URL. */
export function lineageEndpoint(url: string): string {
  return `${url.replace(/\/+$/, '')}/api/v1/lineage`;
}

/** POSTs each event as JSON; anything but a 2xx throws, so the activity retries. */
function httpTransport(url: string, apiKey: string | undefined): LineageTransport {
  const endpoint = lineageEndpoint(url);
  const target = redactUrls(endpoint);
  return {
    target,
    async send(event) {
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        // Thrown fresh: undici's errors may carry the request, and with it the Authorization header.
        throw new Error(`lineage endpoint ${target}: ${fetchFailureReason(err, TIMEOUT_MS)}`);
      }
      await res.body?.cancel().catch(() => undefined); // the answer's body says nothing we use; release the connection
      if (!res.ok) throw new Error(`lineage endpoint ${target} answered HTTP ${res.status}`);
    },
  };
}

/** Appends each event as one JSON line (the OpenLineage file transport's format) to a file in an existing directory. */
function fileTransport(file: string): LineageTransport {
  const absolute = path.resolve(file);
  return {
    target: absolute,
    async send(event) {
      await appendFile(absolute, `${JSON.stringify(event)}\n`);
    },
  };
}

export function createLineageTransport(settings: LineageSettings): LineageTransport | undefined {
  if (settings.url) return httpTransport(settings.url, settings.apiKey);
  if (settings.file) return fileTransport(settings.file);
  return undefined;
}
