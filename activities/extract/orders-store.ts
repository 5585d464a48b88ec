import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { InvalidInputError } from '../../core/errors';
import { inWindow, type Window } from '../../core/window';

/**
 * What the bundled Orders API serves from: records in stream order, read a page at a time. A file is never
 * loaded whole: its cursor is a byte offset, so memory stays one page whatever the file's size.
 */

/** One record exactly as the source holds it. */
export interface StoreRecord {
  text: string;
  /** False for a JSONL line that is not JSON: it is served as a JSON string, to be quarantined, not lost. */
  isJson: boolean;
}

export interface StorePage {
  records: StoreRecord[];
  nextCursor: string | null;
  /**
   * The stream position after the last record read that can no longer change: for a JSONL file, before a last
   * line without its newline (a writer may still be appending to it).
   */
  readTo: number;
}

export interface OrdersStore {
  /**
   * Up to `limit` records in the window from `cursor` (a value this store returned, or undefined for the start).
   * With `end` (a stream position), the stream stops before the first record starting at or after it: a partition.
   */
  page(window: Window, cursor: string | undefined, limit: number, end?: number): Promise<StorePage>;
}

/** A cursor the store did not issue: the API answers 400. */
export class InvalidCursorError extends Error {}

/** The file broke JSON at some point: the API answers 422 (permanent, so the run fails fast and says where). */
export class CorruptFileError extends Error {}


function cursorNumber(cursor: string | undefined, max: number): number {
  if (cursor === undefined) return 0;
  if (!/^\d+$/.test(cursor) || Number(cursor) > max) throw new InvalidCursorError(`"cursor" is not one this API issued: "${cursor}"`);
  return Number(cursor);
}

/** Records held in memory (tests, drills); the cursor is an index into the stream. */
export function arrayStore(orders: unknown[]): OrdersStore {
  return {
    async page(window, cursor, limit, end = orders.length) {
      const records: StoreRecord[] = [];
      const stop = Math.min(end, orders.length);
      let i = cursorNumber(cursor, orders.length);
      for (; i < stop && records.length < limit; i++) {
        if (inWindow(orders[i], i, window)) records.push({ text: JSON.stringify(orders[i]) ?? 'null', isJson: true });
      }
      return { records, nextCursor: i < stop ? String(i) : null, readTo: i };
    },
  };
}

const CHUNK = 1 << 16;
const [LBRACE, RBRACE, LBRACKET, RBRACKET, QUOTE, BACKSLASH, COMMA, NEWLINE] = [...'{}[]"\\,\n'].map((c) => c.charCodeAt(0));
const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * Reads a file forward from a byte offset, a chunk at a time. Synchronous reads of 64 KiB from the page cache
 * cost microseconds, and keep the byte-by-byte scanning below free of a promise per byte.
 */
class ByteReader {
  private buffer = Buffer.alloc(0);
  private index = 0;
  /** While capturing: the finished slices of earlier chunks, and where the capture starts in this one. */
  private captured: Buffer[] | null = null;
  private captureStart = 0;
  constructor(private readonly fd: number, public position: number) {}

  close(): void {
    closeSync(this.fd);
  }

  /** The next byte without consuming it, or -1 at the end of the file. */
  peek(): number {
    if (this.index >= this.buffer.length) {
      if (this.captured) this.captured.push(this.buffer.subarray(this.captureStart));
      const chunk = Buffer.allocUnsafe(CHUNK);
      this.buffer = chunk.subarray(0, readSync(this.fd, chunk, 0, CHUNK, this.position));
      this.index = 0;
      this.captureStart = 0;
    }
    return this.index < this.buffer.length ? this.buffer[this.index] : -1;
  }

  next(): number {
    const byte = this.peek();
    if (byte !== -1) {
      this.index++;
      this.position++;
    }
    return byte;
  }

  /** Starts keeping the bytes consumed from here on (slices of the chunks, not copies byte by byte). */
  capture(): void {
    this.peek();
    this.captured = [];
    this.captureStart = this.index;
  }

  /** The bytes consumed since `capture()`, minus `dropLast` at the end. */
  captureEnd(dropLast = 0): Buffer {
    const parts = [...this.captured!, this.buffer.subarray(this.captureStart, this.index)];
    this.captured = null;
    const bytes = Buffer.concat(parts);
    return dropLast ? bytes.subarray(0, bytes.length - dropLast) : bytes;
  }
}

/**
 * Scans one element of a JSON array, starting at its first byte: objects and arrays end where their depth
 * returns to zero, strings at their closing quote, numbers and literals before `,`, `]` or white space.
 */
function scanElement(reader: ByteReader): Buffer {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let length = 0;
  const first = reader.peek();
  const composite = first === LBRACE || first === LBRACKET;
  reader.capture();
  for (let b = reader.peek(); b !== -1; b = reader.peek()) {
    if (!composite && !inString && length > 0 && first !== QUOTE && (b === COMMA || b === RBRACKET || isSpace(b))) break;
    reader.next();
    length++;
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) {
        inString = false;
        if (first === QUOTE && depth === 0) break;
      }
    } else if (b === QUOTE) inString = true;
    else if (b === LBRACE || b === LBRACKET) depth++;
    else if (b === RBRACE || b === RBRACKET) {
      if (--depth === 0) break;
    }
  }
  return reader.captureEnd();
}

/** Where a file's records start, and its form: read from its first bytes. */
export interface FileHead {
  size: number;
  /** The first record's byte offset: after a UTF-8 byte order mark and white space (and an array's `[`). */
  start: number;
  isArray: boolean;
}

export function fileHead(path: string): FileHead {
  let size: number;
  let fd: number;
  try {
    size = statSync(path).size;
    fd = openSync(path, 'r');
  } catch (err) {
    throw new InvalidInputError(`cannot read orders file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const head = new ByteReader(fd, 0);
    if (head.peek() === 0xef) for (let i = 0; i < 3; i++) head.next(); // a UTF-8 byte order mark
    while (isSpace(head.peek())) head.next();
    const isArray = head.peek() === LBRACKET;
    return { size, start: isArray ? head.position + 1 : head.position, isArray };
  } finally {
    closeSync(fd);
  }
}

/**
 * Where a JSON array's elements start, for each target offset (ascending): the first element starting at or after
 * it, or null when none does. One forward scan with the store's own scanner (a string may hold any bracket, so a
 * boundary cannot be found by seeking); elements are skipped, not parsed.
 */
export function arrayElementStarts(path: string, targets: readonly number[]): (number | null)[] {
  const { start } = fileHead(path);
  const reader = new ByteReader(openSync(path, 'r'), start);
  const starts: (number | null)[] = [];
  try {
    for (const target of targets) {
      for (;;) {
        for (let b = reader.peek(); isSpace(b) || b === COMMA; b = reader.peek()) reader.next();
        const b = reader.peek();
        if (b === -1 || b === RBRACKET) break;
        if (reader.position >= target) break;
        scanElement(reader);
      }
      const b = reader.peek();
      starts.push(b === -1 || b === RBRACKET ? null : reader.position);
    }
  } finally {
    reader.close();
  }
  return starts;
}

/**
 * A JSON array or JSONL file; a stream position is a byte offset. In a JSONL file a line that is not JSON is a
 * record too (its text), so the pipeline quarantines it as `malformed_record` rather than losing it.
 */
export function fileStore(path: string): OrdersStore {
  const { size, start, isArray } = fileHead(path);
  return {
    async page(window, cursor, limit, end = Infinity) {
      const reader = new ByteReader(openSync(path, 'r'), Math.max(start, cursorNumber(cursor, size)));
      try {
        const records: StoreRecord[] = [];
        let readTo = reader.position;
        while (records.length < limit) {
          const found = isArray ? nextArrayElement(reader, path, end) : nextLine(reader, end);
          if (found === null) return { records, nextCursor: null, readTo };
          let record: unknown;
          let isJson = true;
          try {
            record = JSON.parse(found.text);
          } catch {
            if (isArray) throw new CorruptFileError(`${path} is not valid JSON before byte ${reader.position}`);
            record = found.text;
            isJson = false;
          }
          if (inWindow(record, found.start, window)) records.push({ text: found.text, isJson });
          if (found.complete) readTo = reader.position;
        }
        // A full page that ends the stream says so, sparing the client a last, empty page.
        return { records, nextCursor: atEnd(reader, isArray, end) ? null : String(reader.position), readTo };
      } finally {
        reader.close();
      }
    },
  };
}

/** Whether only separators remain: white space (and, in an array, commas) up to `]`, `end` or the end of the file. */
function atEnd(reader: ByteReader, isArray: boolean, end: number): boolean {
  for (let b = reader.peek(); isSpace(b) || (isArray && b === COMMA); b = reader.peek()) reader.next();
  const b = reader.peek();
  return b === -1 || (isArray && b === RBRACKET) || reader.position >= end;
}

/** A record's text, the byte offset it starts at, and whether it is complete (a JSONL line with its newline). */
interface Found {
  text: string;
  start: number;
  complete: boolean;
}

/** The next element of the array, or null after the closing bracket or at `end`. */
function nextArrayElement(reader: ByteReader, path: string, end: number): Found | null {
  for (let b = reader.peek(); isSpace(b) || b === COMMA; b = reader.peek()) reader.next();
  const b = reader.peek();
  if (b === RBRACKET || reader.position >= end) return null;
  if (b === -1) throw new CorruptFileError(`${path} ends before its JSON array is closed`);
  const start = reader.position;
  return { text: scanElement(reader).toString('utf8'), start, complete: true };
}

/** The next non-blank line, trimmed, or null at the end of the file or at `end`. */
function nextLine(reader: ByteReader, end: number): Found | null {
  for (;;) {
    if (reader.peek() === -1 || reader.position >= end) return null;
    const start = reader.position;
    reader.capture();
    let b = reader.next();
    while (b !== -1 && b !== NEWLINE) b = reader.next();
    const text = reader.captureEnd(b === NEWLINE ? 1 : 0).toString('utf8').trim();
    if (text !== '') return { text, start, complete: b === NEWLINE };
  }
}

/** What a file of orders holds, judged from its first bytes. */
export type OrdersFileKind = 'array' | 'jsonl' | 'empty';

/**
 * Whether a file is one the extract can read (a JSON array, or JSONL: one record a line), from its first 64 KiB;
 * anything else is an InvalidInputError saying what was found. Read line by line, a pretty-printed document or a
 * binary file would otherwise become a screen of `malformed_record`s.
 */
export function ordersFileKind(path: string): OrdersFileKind {
  const fd = openSync(path, 'r');
  let head: Buffer;
  let size: number;
  try {
    size = fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(CHUNK);
    head = chunk.subarray(0, readSync(fd, chunk, 0, CHUNK, 0));
  } finally {
    closeSync(fd);
  }
  const nul = head.indexOf(0);
  if (nul !== -1) throw new InvalidInputError(`${path} is a binary file (a NUL byte at byte ${nul}), not JSON or JSONL of orders`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true }); // a character cut at 64 KiB is not an error
  } catch {
    throw new InvalidInputError(`${path} is not UTF-8 text (a binary or compressed file?), not JSON or JSONL of orders`);
  }
  text = text.replace(/^\uFEFF/, '');
  const whole = head.length === size;
  if (text.trim() === '') return whole ? 'empty' : 'jsonl';
  if (text.trimStart().startsWith('[')) return 'array';
  // Complete lines only: the last one may be cut at 64 KiB.
  const lines = (whole ? text : text.slice(0, text.lastIndexOf('\n') + 1)).split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const isJson = (line: string) => {
    try {
      JSON.parse(line);
      return true;
    } catch {
      return false;
    }
  };
  if (lines.length >= 2 && lines[0].startsWith('{') && !isJson(lines[0]) && !isJson(lines[1])) {
    const key = /^\s*\{\s*("(?:[^"\\]|\\.)*")/.exec(text)?.[1];
    throw new InvalidInputError(`${path} is one JSON object over several lines${key ? ` (its first key is ${key})` : ''}, not a JSON array or JSONL of orders: give the array of orders itself`);
  }
  if (lines.length > 0 && !lines.some(isJson)) throw new InvalidInputError(`${path} is not JSON or JSONL of orders: no line of its start is JSON (it begins ${JSON.stringify(lines[0].slice(0, 40))})`);
  return 'jsonl';
}
