import * as aq from 'arquero';
import { arrayElementTexts, decodeRawLine, memberText, parseJson } from '../../core/json';
import { rawPageKey, tablePartKey, tablesPrefix } from '../../core/lake-layout';
import type { LoadCounts } from '../../core/load-counts';
import type { Lake } from '../lake';
import { columnNames, maxBytes, type TableName } from '../../core/schema';
import { formatCents } from '../../core/money';
import type { ProductRow, UserRow } from './reference';
import {
  checkItem,
  checkRecord,
  currencyOf,
  fitsColumn,
  isNewerVersion,
  itemsOf,
  promoOf,
  sourceOf,
  totalAmountOf,
  type ItemRejectReason,
  type RejectReason,
  type ValidRecord,
  type Version,
} from './rules';
import { formatDate, formatIso, formatTimestamp, parseIsoDateTime } from '../../core/time';

export interface TransformInput {
  loadId: string;
  rawPrefix: string;
  /** Pages the extract wrote (a retried extract may have left others beyond it). */
  pages: number;
  /** When this load's rejections are stamped: the load's start, so a retry writes the same rows. */
  rejectedAt: string;
  /** Rows a table part holds before it is written: bounds the memory of the transform. */
  chunkRows: number;
  /** The latest believable created_at (RFC 3339): a later record is quarantined as future_created_at. */
  notAfter: string;
}

export interface TransformCounts extends LoadCounts {
  rejectedByReason: Partial<Record<RejectReason, number>>;
}

export interface TransformResult {
  /** Lake prefix of the tables: `<table>/part-NNNNNN.jsonl`, columns in the schema's order. */
  tablesPrefix: string;
  counts: TransformCounts;
  /** Max created_at of the accepted records (RFC 3339), or null when there were none. */
  watermark: string | null;
}

type Row = Record<string, unknown>;

/** A raw record text, losslessly parsed; a text that is not JSON is no record (undefined: malformed_record). */
function parseRecord(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    return undefined;
  }
}

/**
 * rejected_records.record: the record's text as received, cut on a UTF-8 character boundary when it exceeds
 * the column (the raw zone keeps it whole).
 */
export function recordColumnText(text: string): string {
  const limit = maxBytes('rejected_records', 'record');
  if (text.length * 3 <= limit) return text;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  let end = limit;
  while ((bytes[end] & 0xc0) === 0x80) end--; // a continuation byte: the character started before it
  return bytes.subarray(0, end).toString('utf8');
}

/** Reads the raw pages in stream order, one page in memory at a time; a record's position counts across pages. */
async function* rawPages(lake: Lake, input: TransformInput): AsyncGenerator<{ page: number; records: string[] }> {
  for (let page = 1; page <= input.pages; page++) {
    const lines = (await lake.get(rawPageKey(input.rawPrefix, page))).toString('utf8').split('\n').filter((line) => line !== '');
    yield { page, records: lines.map(decodeRawLine) };
  }
}

/** Buffers the rows of each table and writes them as numbered JSONL parts, shaped by arquero. */
class TableWriter {
  private readonly parts = new Map<TableName, number>();
  private buffered = 0;
  private rows: Record<'orders' | 'lines' | 'rejections', Row[]> = { orders: [], lines: [], rejections: [] };

  constructor(private readonly lake: Lake, private readonly prefix: string, private readonly chunkRows: number) {}

  add(kind: 'orders' | 'lines' | 'rejections', row: Row): void {
    this.rows[kind].push(row);
    this.buffered++;
  }

  /** Called between pages only, so an order and its lines always land in the same part. */
  async flushWhenFull(): Promise<void> {
    if (this.buffered >= this.chunkRows) await this.flush();
  }

  /** Writes a table's rows as one part, columns in schema order. */
  async write(table: TableName, data: aq.ColumnTable): Promise<void> {
    if (data.numRows() === 0) return;
    const part = (this.parts.get(table) ?? 0) + 1;
    this.parts.set(table, part);
    const body = (data.select(columnNames(table)).objects() as Row[]).map((r) => JSON.stringify(r)).join('\n') + '\n';
    await this.lake.put(tablePartKey(this.prefix, table, part), body);
  }

  async flush(): Promise<void> {
    const lines = aq.from(this.rows.lines, columnNames('fact_sales'));
    // item_count is the number of fact rows of the order; every order's items sit in the same chunk as the order.
    const itemCounts = lines.groupby('order_id').count({ as: 'item_count' });
    const orders = aq
      .from(this.rows.orders, columnNames('dim_order').filter((c) => c !== 'item_count'))
      .join_left(itemCounts, 'order_id')
      .derive({ item_count: (d: Row) => (d.item_count == null ? 0 : d.item_count) });
    await this.write('dim_order', orders);
    await this.write('fact_sales', lines);
    await this.write('rejected_records', aq.from(this.rows.rejections, columnNames('rejected_records')));
    this.rows = { orders: [], lines: [], rejections: [] };
    this.buffered = 0;
  }
}

/**
 * The transform of contract §4, in two streaming passes over the raw pages: the first finds each order's
 * winning version (a small key index), the second emits the winners' rows and the rejections in chunks.
 */
export async function transformOrders(
  input: TransformInput,
  lake: Lake,
  reference: { users: UserRow[]; products: ProductRow[] },
  heartbeat: (detail: { pass: number; page: number }) => void,
): Promise<TransformResult> {
  const counts: TransformCounts = { extracted: 0, duplicates: 0, rejectedOrders: 0, rejectedItems: 0, orders: 0, lines: 0, rejectedByReason: {} };
  const winners = new Map<string, Version>();
  let watermark: number | null = null;
  const notAfter = parseIsoDateTime(input.notAfter);
  if (notAfter === null) throw new Error(`notAfter is not an RFC 3339 instant: ${input.notAfter}`);

  let position = 0;
  for await (const { page, records } of rawPages(lake, input)) {
    heartbeat({ pass: 1, page });
    for (const text of records) {
      const check = checkRecord(parseRecord(text), notAfter);
      const at = position++;
      if (!check.ok) continue;
      const candidate = { createdAt: check.value.createdAt, position: at };
      const current = winners.get(check.value.orderId);
      if (!current || isNewerVersion(candidate, current)) winners.set(check.value.orderId, candidate);
      if (watermark === null || candidate.createdAt > watermark) watermark = candidate.createdAt;
    }
  }

  const prefix = tablesPrefix(input.loadId);
  const writer = new TableWriter(lake, prefix, input.chunkRows);
  const usedUsers = new Set<string>();
  const usedSkus = new Set<string>();
  const reject = (reason: RejectReason, orderId: string | null, lineNumber: number | null, record: string) => {
    counts.rejectedByReason[reason] = (counts.rejectedByReason[reason] ?? 0) + 1;
    // An id too long for the column is left out here: the record holds it.
    const id = orderId !== null && fitsColumn('rejected_records', 'order_id', orderId) ? orderId : null;
    writer.add('rejections', { load_id: input.loadId, order_id: id, line_number: lineNumber, reason, record: recordColumnText(record), rejected_at: input.rejectedAt });
  };

  position = 0;
  for await (const { page, records } of rawPages(lake, input)) {
    heartbeat({ pass: 2, page });
    for (const text of records) {
      counts.extracted++;
      const check = checkRecord(parseRecord(text), notAfter);
      if (!check.ok) {
        counts.rejectedOrders++;
        reject(check.reason, check.orderId, null, text);
      } else if (winners.get(check.value.orderId)!.position !== position) {
        counts.duplicates++;
      } else {
        counts.orders++;
        usedUsers.add(check.value.userId);
        emitOrder(check.value, text, writer, reject, (sku) => usedSkus.add(sku), counts);
      }
      position++;
    }
    await writer.flushWhenFull();
  }
  await writer.flush();

  const inferred = (used: Set<string>, key: string, known: aq.ColumnTable) =>
    aq.from([...used].sort().map((id) => ({ [key]: id })), [key]).antijoin(known, key);
  const users = aq.from(reference.users, columnNames('dim_user'));
  await writer.write('dim_user', users.concat(inferred(usedUsers, 'user_id', users).derive({ email: () => null, country: () => null, created_at: () => null, is_inferred: () => true })));
  const products = aq.from(reference.products, columnNames('dim_product'));
  await writer.write('dim_product', products.concat(inferred(usedSkus, 'sku', products).derive({ name: () => null, category: () => null, price: () => null, is_inferred: () => true })));

  return { tablesPrefix: prefix, counts, watermark: watermark === null ? null : formatIso(watermark) };
}

function emitOrder(
  order: ValidRecord,
  text: string,
  writer: TableWriter,
  reject: (reason: RejectReason, orderId: string, lineNumber: number | null, record: string) => void,
  useSku: (sku: string) => void,
  counts: TransformCounts,
): void {
  const { orderId, userId, createdAt, record } = order;
  const createdAtText = formatTimestamp(createdAt);
  const orderDate = formatDate(createdAt);
  const currency = currencyOf(record);
  const total = totalAmountOf(record);
  writer.add('orders', {
    order_id: orderId,
    user_id: userId,
    created_at: createdAtText,
    order_date: orderDate,
    total_amount: total === null ? null : formatCents(total),
    currency,
    source: sourceOf(record),
    promo: promoOf(record),
  });
  // Rejected items keep their text as received; it is looked up only when one is rejected.
  const rejectItem = (reason: ItemRejectReason, lineNumber: number | null, itemText: string) => {
    counts.rejectedItems++;
    reject(reason, orderId, lineNumber, itemText);
  };
  let itemTexts: string[] | undefined;
  const { items, malformed } = itemsOf(record);
  if (malformed) rejectItem('invalid_item', null, memberText(text, 'items')!);
  for (const [index, item] of items.entries()) {
    const check = checkItem(item, index + 1);
    if (!check.ok) {
      itemTexts ??= arrayElementTexts(memberText(text, 'items')!);
      rejectItem(check.reason, check.lineNumber, itemTexts[index]);
      continue;
    }
    const { lineNumber, sku, quantity, unitPrice, lineAmount } = check.value;
    useSku(sku);
    counts.lines++;
    writer.add('lines', {
      order_id: orderId,
      line_number: lineNumber,
      user_id: userId,
      sku,
      created_at: createdAtText,
      order_date: orderDate,
      quantity,
      unit_price: unitPrice === null ? null : formatCents(unitPrice),
      line_amount: lineAmount === null ? null : formatCents(lineAmount),
      currency,
    });
  }
}
