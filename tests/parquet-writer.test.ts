/**
 * The Parquet writer's texts: inlined into DuckDB's string structs up to 12 UTF-8 bytes, assigned one by one
 * beyond; every text must come back byte for byte, at every length around the boundary, in any script.
 */
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalLake } from '../activities/lake/local-lake';
import { ParquetPartWriter } from '../activities/parquet/parquet-writer';
import { TableBuffer } from '../activities/parquet/table-buffer';
import { sqlLiteral } from '../core/sql';
import { tempDir } from './support/rules-pipeline';

const TEXTS = [
  '',
  'u',
  'abcdefghijkl', // 12 bytes: the most inlined
  'abcdefghijklm', // 13: the fewest on DuckDB's heap
  'éééééé', // 6 units, 12 bytes: inlined
  'ééééééé', // 7 units, 14 bytes: fewer than 12 units, yet too long
  '😀😀😀', // surrogate pairs, 12 bytes
  '😀😀😀a',
  'ñandú',
  `${'x'.repeat(300)}@example.com`,
];

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('parquet-writer')));
afterEach(() => cleanup());

test('texts of every length and script, repeated and NULL, over several vectors, come back as written', async () => {
  const rows = 5000; // more than two DuckDB vectors of 2,048
  const buffer = new TableBuffer('dim_user', 16);
  const expected: { user_id: string; email: string | null; country: string | null }[] = [];
  for (let row = 0; row < rows; row++) {
    const userId = `${TEXTS[row % TEXTS.length]}#${row}`; // a key: a new text on each row
    const email = row % 7 === 3 ? null : TEXTS[row % TEXTS.length];
    const country = row % 5 === 0 ? null : TEXTS[(row * 3) % TEXTS.length];
    buffer.append([userId, email, country, null, false, row]);
    expected.push({ user_id: userId, email, country });
  }
  const lake = new LocalLake(path.join(dir, 'lake'));
  const writer = await ParquetPartWriter.open();
  try {
    const part = await writer.write(buffer, 'staged/L/dim_user/part-1.parquet', lake);
    expect(part).toMatchObject({ table: 'dim_user', rows });
  } finally {
    await writer.close();
  }
  const connection = await (await DuckDBInstance.create(':memory:')).connect();
  const read = await connection.runAndReadAll(
    `SELECT user_id, email, country FROM read_parquet(${sqlLiteral(lake.uri('staged/L/dim_user/part-1.parquet'))}) ORDER BY source_line`,
  );
  expect(read.getRowObjectsJson()).toEqual(expected);
});
