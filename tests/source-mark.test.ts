import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { extractOrders, type ExtractInput, type ExtractResult } from '../activities/extract/extract';
import { decodeRawLine } from '../core/json';
import { inWindow } from '../core/window';
import { fileStore } from '../activities/extract/orders-store';
import { markFile, newFrom } from '../activities/extract/source-mark';
import { LocalLake } from '../activities/lake/local-lake';

/** A file source's mark: what a run has read, so the next one knows which undated records are new. */

const dir = mkdtempSync(path.join(tmpdir(), 'orders-etl-mark-'));
const lake = new LocalLake(path.join(dir, 'lake'));
let files = 0;
function write(text: string, ext = 'jsonl'): string {
  const file = path.join(dir, `orders-${++files}.${ext}`);
  writeFileSync(file, text);
  return file;
}

const DATED = '{"order_id":"a","created_at":"2025-10-01T00:00:00Z"}';
const UNDATED = '{"order_id":"b"}';

/**
 * The records a load takes: a JSON array's encoded pages, decoded; a JSONL file's verbatim pages' lines, in the
 * window the transform applies to them (a record's position is its byte offset in the file).
 */
async function rawRecords(loadId: string): Promise<string[]> {
  const result = extracted.get(loadId)!;
  const bytes = Buffer.concat(await Promise.all((await lake.list(result.rawPrefix)).map((p) => lake.get(p.key))));
  if (!result.verbatim) return bytes.toString('utf8').split('\n').filter((l) => l !== '').map(decodeRawLine);
  const records: string[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start) === -1 ? bytes.length : bytes.indexOf(0x0a, start);
    const text = bytes.toString('utf8', start, end).trim();
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      record = text;
    }
    if (text !== '' && inWindow(record, result.base + start, result.window!)) records.push(text);
    start = end + 1;
  }
  return records;
}

const extracted = new Map<string, ExtractResult>();

async function extract(input: Partial<ExtractInput> & { loadId: string; source: string }) {
  const result = await extractOrders({ pageSize: 2, requestTimeoutMs: 1_000, ...input }, lake, () => undefined);
  extracted.set(input.loadId, result);
  return result;
}

test('newFrom: an appended file keeps its mark; a truncated, rewritten or unmarked one is new from byte 0', () => {
  const file = write(`${DATED}\n${UNDATED}\n`);
  const mark = markFile(file, Buffer.byteLength(`${DATED}\n${UNDATED}\n`));
  expect(newFrom(file, null)).toBe(0);
  expect(newFrom(file, mark)).toBe(mark.offset);
  appendFileSync(file, `${UNDATED}\n`);
  expect(newFrom(file, mark)).toBe(mark.offset);
  writeFileSync(file, `${DATED}\n`);
  expect(newFrom(file, mark)).toBe(0);
  writeFileSync(file, `${DATED.replace('"a"', '"z"')}\n${UNDATED}\n${UNDATED}\n`);
  expect(newFrom(file, mark)).toBe(0);
});

test('a JSONL line without its newline is read, but left after the mark: a writer may still be appending to it', async () => {
  const complete = `${DATED}\n${UNDATED}\n`;
  const file = write(`${complete}{"order_id":"c","crea`);
  const page = await fileStore(file).page({}, undefined, 10);
  expect(page.records).toEqual([
    { text: DATED, isJson: true },
    { text: UNDATED, isJson: true },
    { text: '{"order_id":"c","crea', isJson: false },
  ]);
  expect(page.readTo).toBe(Buffer.byteLength(complete));

  const run = await extract({ loadId: 'partial', source: file, since: '2025-01-01T00:00:00Z' });
  expect(run.sourceMark).toEqual(markFile(file, Buffer.byteLength(complete)));
  appendFileSync(file, 'ted_at":"2025-10-02T00:00:00Z"}\n');
  const next = await extract({ loadId: 'partial-next', source: file, since: '2025-01-01T00:00:00Z', sourceMark: run.sourceMark });
  expect(await rawRecords('partial-next')).toEqual([DATED, '{"order_id":"c","created_at":"2025-10-02T00:00:00Z"}']);
  expect(next.sourceMark!.offset).toBe(readFileSync(file).length);
});

test('a windowed extract takes the undated records after the mark, across pages, exactly as the file holds them', async () => {
  const file = write(`${DATED}\n${UNDATED}\n`);
  const first = await extract({ loadId: 'w1', source: file, since: '2025-01-01T00:00:00Z' });
  // No mark yet: the whole file is new.
  expect(await rawRecords('w1')).toEqual([DATED, UNDATED]);
  appendFileSync(file, `  not json  \n${DATED}\n${UNDATED.replace('b', 'c')}\n`);
  const second = await extract({ loadId: 'w2', source: file, since: '2025-01-01T00:00:00Z', sourceMark: first.sourceMark });
  expect(await rawRecords('w2')).toEqual([DATED, 'not json', DATED, '{"order_id":"c"}']);
  expect(second).toMatchObject({ pages: 1, records: 5, verbatim: true, done: true, undatedFrom: first.sourceMark!.offset });
  // Unwindowed, everything is taken, whatever the mark.
  await extract({ loadId: 'w3', source: file, sourceMark: second.sourceMark });
  expect(await rawRecords('w3')).toEqual([DATED, UNDATED, 'not json', DATED, '{"order_id":"c"}']);
});

test('a JSON array extended before its closing bracket: the elements after the mark are new', async () => {
  const element = `{\n  "order_id": "b",\n  "note": "spans lines"\n}`;
  const file = write(`[\n  ${DATED},\n  ${UNDATED}\n]\n`, 'json');
  const first = await extract({ loadId: 'a1', source: file, since: '2025-01-01T00:00:00Z' });
  expect(await rawRecords('a1')).toEqual([DATED, UNDATED]);
  writeFileSync(file, `[\n  ${DATED},\n  ${UNDATED},\n  ${element}\n]\n`);
  await extract({ loadId: 'a2', source: file, since: '2025-01-01T00:00:00Z', sourceMark: first.sourceMark });
  expect(await rawRecords('a2')).toEqual([DATED, element]);
});
