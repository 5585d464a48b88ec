import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { formatIso, parseIsoDateTime } from '../../core/time';
import { isUrl } from './extract';
import { arrayElementStarts, fileHead } from './orders-store';
import { newFrom, type SourceMark } from './source-mark';

/**
 * A run's partitions: pieces of the source that any worker may extract and transform on its own. Each one's
 * records carry global stream positions (`base` + their place in it), so the load's latest-wins resolves versions
 * across partitions exactly as in one: any split gives the same tables.
 */

/** API time slices are this far apart in stream positions: more records than any slice holds. */
export const API_SLICE_POSITIONS = 2 ** 40;

/** The automatic size of a file partition. */
export const AUTO_PARTITION_BYTES = 32 * 1024 * 1024;

/** More partitions than this only lengthen the workflow's history. */
export const MAX_PARTITIONS = 1000;

export type Partition =
  /** A JSONL file's bytes [start, end), starting at a line: copied verbatim, the transform applies the window. */
  | { kind: 'jsonl'; index: number; start: number; end: number; base: number }
  /** A JSON array's elements starting in [start, end): read with the store, the extract applies the window. */
  | { kind: 'array'; index: number; start: number; end: number; base: number }
  /** An API's records created in [since, until) (the run's window when absent): paged over HTTP. */
  | { kind: 'api'; index: number; since?: string; until?: string; base: number };

export interface PartitionPlan {
  partitions: Partition[];
  /** How the count was chosen, for people (progress, logs). */
  chosen: string;
  /**
   * A file source: records without a valid created_at are new from this byte offset on (the previous run's mark,
   * if the file still holds it). Judged once for the run, so every partition agrees.
   */
  undatedFrom?: number;
}

export interface PlanInput {
  /** An Orders API base URL, or the absolute path of a JSON/JSONL file. */
  source: string;
  since?: string;
  until?: string;
  /** Partitions asked for; absent: automatic (files by size, an API one). */
  partitions?: number;
  sourceMark?: SourceMark | null;
}

export function planPartitions(input: PlanInput): PartitionPlan {
  return isUrl(input.source) ? planApi(input) : planFile(input);
}

/**
 * A bounded window splits into equal time slices, one partition each; an unbounded one cannot (its records
 * without a valid created_at belong to no slice), nor is an API's size known beforehand: one partition.
 */
function planApi(input: PlanInput): PartitionPlan {
  const asked = input.partitions ?? 1;
  const since = input.since === undefined ? null : parseIsoDateTime(input.since);
  const until = input.until === undefined ? null : parseIsoDateTime(input.until);
  if (asked === 1 || since === null || until === null) {
    const chosen = asked === 1 ? '1 (an API source: its size is unknown; --partitions N splits a --since/--until window)' : `1 (an API is split only in a window bounded by both --since and --until, not the ${asked} asked for)`;
    return { partitions: [{ kind: 'api', index: 0, base: 0 }], chosen };
  }
  const count = Math.max(1, Math.min(asked, until - since));
  const at = (k: number) => formatIso(since + Math.floor(((until - since) * k) / count));
  const partitions: Partition[] = [];
  for (let k = 0; k < count; k++) partitions.push({ kind: 'api', index: k, since: at(k), until: at(k + 1), base: k * API_SLICE_POSITIONS });
  return { partitions, chosen: `${count} time slices of the window (asked for ${asked})` };
}

function planFile(input: PlanInput): PartitionPlan {
  const file = path.resolve(input.source);
  const { size, start, isArray } = fileHead(file);
  const bytes = Math.max(0, size - start);
  const asked = input.partitions ?? Math.max(1, Math.ceil(bytes / AUTO_PARTITION_BYTES));
  const wanted = Math.min(asked, MAX_PARTITIONS);
  const targets: number[] = [];
  for (let k = 1; k < wanted; k++) targets.push(start + Math.floor((bytes * k) / wanted));
  // Boundaries at record starts; targets that land in one record give one boundary (a small file, long records).
  const found = isArray ? arrayElementStarts(file, targets) : targets.map((t) => lineStartAfter(file, t, size));
  const starts = [start];
  for (const boundary of found) if (boundary !== null && boundary > starts[starts.length - 1] && boundary < size) starts.push(boundary);
  const kind = isArray ? 'array' : 'jsonl';
  const partitions: Partition[] = starts.map((from, index) => ({ kind, index, start: from, end: starts[index + 1] ?? size, base: from }));
  const how = input.partitions === undefined ? `by size: one per ${AUTO_PARTITION_BYTES / 1024 / 1024} MiB of ${bytes} bytes` : `asked for ${asked}`;
  const chosen = `${partitions.length} byte range${partitions.length === 1 ? '' : 's'} of the ${kind === 'array' ? 'JSON array' : 'JSONL'} file (${how}${wanted < asked ? `, at most ${MAX_PARTITIONS}` : ''})`;
  return { partitions, chosen, undatedFrom: newFrom(file, input.sourceMark ?? null) };
}

/** The offset just after the first newline at or after `target - 1` (so a target at a line start stays), or null. */
function lineStartAfter(file: string, target: number, size: number): number | null {
  const fd = openSync(file, 'r');
  const chunk = Buffer.allocUnsafe(1 << 16);
  try {
    for (let at = Math.max(0, target - 1); at < size; at += chunk.length) {
      const n = readSync(fd, chunk, 0, chunk.length, at);
      if (n === 0) break;
      const newline = chunk.subarray(0, n).indexOf(0x0a);
      if (newline !== -1) return at + newline + 1;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}
