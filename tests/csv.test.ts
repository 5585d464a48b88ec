/**
 * The reference files' CSV reader: RFC 4180 fields, the line each record ends on, and the same records however the
 * bytes are cut into chunks (every cut of a file with every construct in it).
 */
import { Readable } from 'node:stream';
import { csvRecords, CsvSyntaxError, type CsvRecord } from '../activities/transform/csv';

async function read(chunks: Buffer[]): Promise<CsvRecord[]> {
  const records: CsvRecord[] = [];
  for await (const batch of csvRecords(Readable.from(chunks))) records.push(...batch);
  return records;
}

const text = (csv: string) => read([Buffer.from(csv)]);

describe('CSV records', () => {
  test('fields, quotes, escaped quotes, line breaks in quotes, and the line each record ends on', async () => {
    expect(await text('id,name,note\r\n1, Pen ,"a, b"\r\n2,"say ""hi""","two\nlines"\r\n\r\n3,,\n')).toEqual([
      { fields: ['id', 'name', 'note'], line: 1 },
      { fields: ['1', 'Pen', 'a, b'], line: 2 },
      { fields: ['2', 'say "hi"', 'two\nlines'], line: 4 },
      { fields: ['3', '', ''], line: 6 },
    ]);
  });

  test('spaces are trimmed outside quotes, kept inside them; blank and space-only lines are skipped', async () => {
    expect(await text('a,b\n  x  ,  " y "  \n   \n\n"",z')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['x', ' y '], line: 2 },
      { fields: ['', 'z'], line: 5 },
    ]);
  });

  test('a byte order mark is dropped; a lone CR ends a line; the last line needs no line break', async () => {
    expect(await text('\uFEFFa,b\r1,2\r3,4')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['1', '2'], line: 2 },
      { fields: ['3', '4'], line: 3 },
    ]);
    expect(await text('')).toEqual([]);
  });

  test('the same records for every cut of the bytes into two chunks, and for one chunk per byte', async () => {
    const bytes = Buffer.from('\uFEFFid,name\r\n1,"é, ""ü""\r\nnext"\r\n\r\n2,  日本  \n3,"x"\n');
    const expected = await read([bytes]);
    expect(expected).toEqual([
      { fields: ['id', 'name'], line: 1 },
      { fields: ['1', 'é, "ü"\r\nnext'], line: 3 },
      { fields: ['2', '日本'], line: 5 },
      { fields: ['3', 'x'], line: 6 },
    ]);
    for (let cut = 1; cut < bytes.length; cut++) expect(await read([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    expect(await read([...bytes].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  test.each([
    ['a quote left open', 'a,b\n1,2\n3,"open\nstill\n', 'Quote Not Closed: the parsing is finished with an opening quote at line 3'],
    ['text after a closing quote', 'a,b\n"x"y,2\n', 'a closing quote is followed by "y" at line 2, not by a comma or the line\'s end'],
    ['a quote inside an unquoted field', 'a,b\n1,x"y\n', 'a quote inside the unquoted field 2 at line 2: quote the whole field, with "" for each quote in it'],
    ['a record with more fields than the first', 'a,b\n1,2\n3,4,5\n', 'line 3 has 3 fields, the first record 2'],
  ])('%s is a CsvSyntaxError naming the line', async (_what, csv, message) => {
    await expect(text(csv)).rejects.toThrow(new CsvSyntaxError(message));
  });
});
