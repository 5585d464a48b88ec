import type { Readable } from 'node:stream';

/**
 * A streaming CSV reader for the reference files (RFC 4180: fields separated by commas, double quotes around a
 * field that holds commas, quotes or line breaks, `""` for a quote inside them; LF, CRLF or CR line ends; a UTF-8
 * byte order mark). Fields are trimmed outside quotes, blank lines are skipped, and each record comes with the
 * line it ends on. Written for speed: csv-parse built an info object per record and took three times as long
 * (300k users: 1.2 s), on the thread that the partitions' transforms share the cores with.
 */

/** The file is not CSV (its message names the line). */
export class CsvSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface CsvRecord {
  fields: string[];
  /** The line the record ends on (1-based; a quoted line break makes a record span lines). */
  line: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** Reads records out of text that arrives in pieces; what is left of an unfinished record waits for the next. */
class CsvReader {
  private pending = '';
  /** Lines before `pending`. */
  private linesBefore = 0;
  private fieldCount: number | undefined;

  /** The complete records of `pending` + `text`; at the end (`last`), the unfinished one too, or an error. */
  read(text: string, last: boolean): CsvRecord[] {
    const data = this.pending + text;
    const records: CsvRecord[] = [];
    let line = this.linesBefore + 1;
    let pos = 0;
    while (pos < data.length) {
      const start = pos;
      const startLine = line;
      const fields: string[] = [];
      let quoted = false;
      let complete = false;
      for (;;) {
        // One field from `pos`: spaces before a quote are trimmed.
        let at = pos;
        while (at < data.length && isBlank(data.charCodeAt(at))) at++;
        if (at < data.length && data.charCodeAt(at) === QUOTE) {
          quoted = true;
          let value = '';
          let from = at + 1;
          let close: number;
          for (;;) {
            close = data.indexOf('"', from);
            if (close === -1 || close + 1 === data.length) break; // a closing quote may be followed by another: wait
            if (data.charCodeAt(close + 1) !== QUOTE) break;
            value += data.slice(from, close + 1);
            from = close + 2;
          }
          if (close === -1 || (close + 1 === data.length && !last)) break;
          value += data.slice(from, close);
          line += countLineBreaks(data, at, close);
          at = close + 1;
          while (at < data.length && isBlank(data.charCodeAt(at))) at++;
          const next = at < data.length ? data.charCodeAt(at) : -1;
          if (next !== COMMA && next !== LF && next !== CR && next !== -1) {
            throw new CsvSyntaxError(`a closing quote is followed by "${data[at]}" at line ${line}, not by a comma or the line's end`);
          }
          fields.push(value);
          pos = at;
        } else {
          let end = at;
          for (; end < data.length; end++) {
            const c = data.charCodeAt(end);
            if (c === COMMA || c === LF || c === CR) break;
            if (c === QUOTE) throw new CsvSyntaxError(`a quote inside the unquoted field ${fields.length + 1} at line ${line}: quote the whole field, with "" for each quote in it`);
          }
          if (end === data.length && !last) break;
          fields.push(data.slice(pos, end).trim());
          pos = end;
        }
        const c = pos < data.length ? data.charCodeAt(pos) : -1;
        if (c === COMMA) {
          pos++;
          continue;
        }
        if (c === CR && pos + 1 === data.length && !last) break; // CRLF split between pieces
        if (c === CR && data.charCodeAt(pos + 1) === LF) pos++;
        if (c !== -1) pos++;
        complete = true;
        break;
      }
      if (!complete) {
        if (!last) {
          pos = start;
          line = startLine;
          break;
        }
        throw new CsvSyntaxError(`Quote Not Closed: the parsing is finished with an opening quote at line ${startLine + lineBreaksBefore(data, start, pos)}`);
      }
      if (fields.length === 1 && !quoted && fields[0] === '') {
        line++;
        continue; // a blank line
      }
      this.fieldCount ??= fields.length;
      if (fields.length !== this.fieldCount) throw new CsvSyntaxError(`line ${line} has ${fields.length} fields, the first record ${this.fieldCount}`);
      records.push({ fields, line });
      line++;
    }
    this.pending = data.slice(pos);
    this.linesBefore = line - 1;
    return records;
  }
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function countLineBreaks(data: string, from: number, to: number): number {
  let breaks = 0;
  for (let i = from; i < to; i++) {
    const c = data.charCodeAt(i);
    if (c === LF || (c === CR && data.charCodeAt(i + 1) !== LF)) breaks++;
  }
  return breaks;
}

/** Line breaks of the unfinished record before its open quote: the line the quote opened on is reported. */
function lineBreaksBefore(data: string, start: number, openedAt: number): number {
  const quote = data.indexOf('"', openedAt);
  return countLineBreaks(data, start, quote === -1 ? openedAt : quote);
}

/** The records of a CSV byte stream, a batch per chunk read. A failed read throws its own error. */
export async function* csvRecords(input: Readable | AsyncIterable<Buffer>): AsyncGenerator<CsvRecord[]> {
  const decoder = new TextDecoder(); // drops a byte order mark at the start, even split between chunks
  const reader = new CsvReader();
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const records = reader.read(decoder.decode(chunk, { stream: true }), false);
    if (records.length) yield records;
  }
  const records = reader.read(decoder.decode(), true);
  if (records.length) yield records;
}
