import { arrayElementTexts, decodeRawLine, memberText, parseJson } from '../../core/json';
import { NO_STAGED_COUNTS, type StagedCounts } from '../../core/load-counts';
import { NO_OBSERVED_FIELDS, type ObservedFields } from '../../core/schema-drift';
import { rawPageKey, stagedPartKey, type StagedPart } from '../../core/lake-layout';
import { cutToBytes, maxBytes, type TableName } from '../../core/schema';
import { epochDay, formatIso, parseIsoDateTime } from '../../core/time';
import { inWindow, type Window } from '../../core/window';
import type { Lake } from '../lake';
import { ParquetPartWriter } from '../parquet/parquet-writer';
import { FieldCollector } from './field-collector';
import {
  checkItem,
  checkRecord,
  currencyOf,
  fitsColumn,
  itemsOf,
  promoOf,
  sourceOf,
  totalAmountOf,
  type ItemRejectReason,
  type RejectReason,
  type ValidRecord,
} from './rules';
import { TableBuffer, type Value } from '../parquet/table-buffer';

/**
 * The transform of contract §4 for one partition, in one pass: each raw record is parsed once, the rules fill
 * typed columns, and each chunk is written as Parquet parts of the staged tables. Every valid version of an order
 * is staged with its stream position; the load keeps the latest of each order across all partitions (§4.2, see
 * merge-sql), so the result does not depend on how the stream was split.
 */

/** A partition's raw pages, as its extract wrote them. */
export interface RawPartition {
  /** Lake prefix of the pages (`rawPageKey`). */
  prefix: string;
  pages: number;
  /**
   * Verbatim pages are the source file's bytes as they are (JSONL: a record a line, blank lines skipped); other
   * pages hold one record a line as a JSON string of its text (`encodeRawLine`).
   */
  verbatim: boolean;
  /**
   * Stream position of the partition's start: a record's position is this plus its byte offset in the partition
   * (verbatim pages: its offset in the file) or plus its index in it (others). Positions only order versions.
   */
  base: number;
  /** The window the transform applies (verbatim pages); the extract applied it to other pages. */
  window?: Window;
}

export interface TransformInput {
  loadId: string;
  /** The partition's number in the run: names its parts. */
  partition: number;
  raw: RawPartition;
  /** When this load's rejections are stamped: the load's start, so a retry writes the same rows. */
  rejectedAt: string;
  /** Orders a chunk holds before it is written (at the end of a page): bounds the transform's memory. */
  chunkRows: number;
  /** The latest believable created_at (RFC 3339): a later record is quarantined as future_created_at. */
  notAfter: string;
}

/** What one partition staged; the load adds them up and resolves versions across partitions. */
export type TransformCounts = StagedCounts;

export interface TransformResult {
  parts: StagedPart[];
  counts: TransformCounts;
  /** Max created_at of the valid records (RFC 3339), or null when there were none. */
  watermark: string | null;
  /** The field paths and JSON types of the records (schema drift), bounded: see core/schema-drift. */
  fields: ObservedFields;
}

/** Where a transform stands after a chunk: heartbeated, so a retry resumes at the next page. */
export interface TransformProgress {
  nextPage: number;
  /** The stream position of that page's start. */
  nextOffset: number;
  /** What the chunks written so far hold (records after them are counted again on resume). */
  result: TransformResult;
}

/**
 * rejected_records.record: the record's text as received, cut on a UTF-8 character boundary when it exceeds
 * the column (the raw zone keeps it whole).
 */
export function recordColumnText(text: string): string {
  return cutToBytes(text, maxBytes('rejected_records', 'record'));
}

/** A raw record text, losslessly parsed; a text that is not JSON is no record (undefined: malformed_record). */
function parseRecord(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    return undefined;
  }
}

const NEWLINE = 0x0a;

/**
 * Calls `each` with every record of a page and its stream position (`offset` is the page's) and returns the next
 * page's position: verbatim pages are contiguous bytes of the source, encoded pages count records.
 */
function forEachRecord(page: Buffer, raw: RawPartition, offset: number, each: (text: string, position: number) => void): number {
  let index = 0;
  for (let start = 0; start < page.length; ) {
    let end = page.indexOf(NEWLINE, start);
    if (end === -1) end = page.length;
    const line = page.toString('utf8', start, end);
    if (raw.verbatim) {
      const text = line.trim();
      if (text !== '') each(text, offset + start);
    } else if (line !== '') {
      each(decodeRawLine(line), offset + index++);
    }
    start = end + 1;
  }
  return offset + (raw.verbatim ? page.length : index);
}

/** The rows of one chunk, one buffer per staged table. */
class ChunkTables {
  readonly orders: TableBuffer;
  readonly lines: TableBuffer;
  readonly rejections: TableBuffer;

  constructor(capacity: number) {
    this.orders = new TableBuffer('dim_order', capacity);
    this.lines = new TableBuffer('fact_sales', capacity * 3);
    this.rejections = new TableBuffer('rejected_records', 64);
  }
}

export async function transformOrders(
  input: TransformInput,
  lake: Lake,
  heartbeat: (progress: TransformProgress) => void,
  resumeFrom?: TransformProgress,
): Promise<TransformResult> {
  const notAfter = parseIsoDateTime(input.notAfter);
  const rejectedAt = parseIsoDateTime(input.rejectedAt);
  if (notAfter === null || rejectedAt === null) throw new Error(`notAfter and rejectedAt must be RFC 3339 instants: ${input.notAfter}, ${input.rejectedAt}`);
  const { raw } = input;
  const result: TransformResult = resumeFrom?.result ?? {
    parts: [],
    counts: { ...NO_STAGED_COUNTS },
    watermark: null,
    fields: NO_OBSERVED_FIELDS,
  };
  const { counts } = result;
  // A heartbeat of a version before schema drift has no fields: its chunks' are then missing from the set.
  const fields = new FieldCollector(result.fields as ObservedFields | undefined);
  let watermark = result.watermark === null ? null : parseIsoDateTime(result.watermark);
  let chunk = new ChunkTables(input.chunkRows);
  const writer = await ParquetPartWriter.open();

  const reject = (reason: RejectReason, orderId: string | null, lineNumber: number | null, text: string, position: number | null) => {
    // An id too long for the column is left out here: the record holds it.
    const id = orderId !== null && fitsColumn('rejected_records', 'order_id', orderId) ? orderId : null;
    chunk.rejections.append([input.loadId, id, lineNumber, reason, recordColumnText(text), rejectedAt, position]);
  };

  // A chunk is written while the next one is parsed: DuckDB works on its own threads, the rules on this one.
  let writing: Promise<void> = Promise.resolve();
  const flush = async (nextPage: number, nextOffset: number) => {
    await writing;
    const full = chunk;
    // The checkpoint is taken now: the next chunk's records are counted while this one is written.
    const checkpoint = { counts: { ...counts }, watermark: watermark === null ? null : formatIso(watermark), fields: fields.observed() };
    chunk = new ChunkTables(input.chunkRows);
    writing = (async () => {
      const tables: [TableName, TableBuffer][] = [['dim_order', full.orders], ['fact_sales', full.lines], ['rejected_records', full.rejections]];
      for (const [table, buffer] of tables) {
        if (buffer.rows === 0) continue;
        result.parts.push(await writer.write(buffer, stagedPartKey(input.loadId, table, input.partition, result.parts.length + 1), lake));
      }
      result.watermark = checkpoint.watermark;
      result.fields = checkpoint.fields;
      heartbeat({ nextPage, nextOffset, result: { ...checkpoint, parts: [...result.parts] } });
    })();
  };

  try {
    let offset = resumeFrom?.nextOffset ?? raw.base;
    for (let page = resumeFrom?.nextPage ?? 1; page <= raw.pages; page++) {
      offset = forEachRecord(await lake.get(rawPageKey(raw.prefix, page)), raw, offset, (text, position) => {
        const record = parseRecord(text);
        if (raw.window && !inWindow(record, position, raw.window)) return;
        counts.extracted++;
        fields.observe(record);
        const check = checkRecord(record, notAfter);
        if (!check.ok) {
          counts.rejectedOrders++;
          reject(check.reason, check.orderId, null, text, null);
          return;
        }
        counts.versions++;
        if (watermark === null || check.value.createdAt > watermark) watermark = check.value.createdAt;
        emitVersion(check.value, text, position, chunk, counts, reject);
      });
      if (chunk.orders.rows >= input.chunkRows || page === raw.pages) await flush(page + 1, offset);
    }
    await writing;
  } finally {
    await writing.catch(() => undefined); // its failure is the one thrown above
    await writer.close();
  }
  return result;
}

// Rows are appended from these arrays, reused for every row: a row costs no allocation.
const orderRow: Value[] = [];
const lineRow: Value[] = [];

/** One valid version: its dim_order row, its valid items as fact_sales rows, its invalid ones rejected. */
function emitVersion(
  order: ValidRecord,
  text: string,
  position: number,
  chunk: ChunkTables,
  counts: TransformCounts,
  reject: (reason: RejectReason, orderId: string, lineNumber: number | null, record: string, position: number) => void,
): void {
  const { orderId, userId, createdAt, record } = order;
  const orderDate = epochDay(createdAt);
  const currency = currencyOf(record);
  // Rejected items keep their text as received; it is looked up only when one is rejected.
  const rejectItem = (reason: ItemRejectReason, lineNumber: number | null, itemText: string) => {
    counts.itemRejections++;
    reject(reason, orderId, lineNumber, itemText, position);
  };
  let itemTexts: string[] | undefined;
  const { items, malformed } = itemsOf(record);
  if (malformed) rejectItem('invalid_item', null, memberText(text, 'items')!);
  let itemCount = 0;
  for (let index = 0; index < items.length; index++) {
    const check = checkItem(items[index], index + 1);
    if (!check.ok) {
      itemTexts ??= arrayElementTexts(memberText(text, 'items')!);
      rejectItem(check.reason, check.lineNumber, itemTexts[index]);
      continue;
    }
    const { lineNumber, sku, quantity, unitPrice, lineAmount } = check.value;
    itemCount++;
    lineRow[0] = orderId;
    lineRow[1] = lineNumber;
    lineRow[2] = userId;
    lineRow[3] = sku;
    lineRow[4] = createdAt;
    lineRow[5] = orderDate;
    lineRow[6] = quantity;
    lineRow[7] = unitPrice;
    lineRow[8] = lineAmount;
    lineRow[9] = currency;
    lineRow[10] = position;
    chunk.lines.append(lineRow);
  }
  counts.versionLines += itemCount;
  orderRow[0] = orderId;
  orderRow[1] = userId;
  orderRow[2] = createdAt;
  orderRow[3] = orderDate;
  orderRow[4] = totalAmountOf(record);
  orderRow[5] = currency;
  orderRow[6] = sourceOf(record);
  orderRow[7] = promoOf(record);
  orderRow[8] = itemCount;
  orderRow[9] = position;
  chunk.orders.append(orderRow);
}
