import { stagedColumns, type Column, type ColumnType, type TableName } from '../../core/schema';

/**
 * The rows of one staged table in a chunk, as typed columns derived from the schema: what the rules fill and the
 * Parquet writer reads, never an object per row. Texts are dictionary-coded (a code per row, each distinct text
 * held once), money is bigint cents, instants are microseconds and dates days since the epoch, UTC.
 */

/** A value as the transform hands it: text, number (int, µs, days), cents, flag, or NULL. */
export type Value = string | number | bigint | boolean | null;

/** Distinct texts of a column, each with its code (its index). */
export class Dictionary {
  private readonly codes = new Map<string, number>();
  readonly values: string[] = [];

  code(value: string): number {
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.codes.set(value, code);
      this.values.push(value);
    }
    return code;
  }
}

type Data = Int32Array | Float64Array | BigInt64Array | Uint8Array;

/** How each logical type is held: the typed array, and what a value becomes in it. */
const STORAGE: Record<ColumnType, { create: (n: number) => Data }> = {
  string: { create: (n) => new Int32Array(n) },
  text: { create: (n) => new Int32Array(n) },
  int: { create: (n) => new Int32Array(n) },
  bigint: { create: (n) => new Float64Array(n) },
  money: { create: (n) => new BigInt64Array(n) },
  timestamp: { create: (n) => new Float64Array(n) },
  date: { create: (n) => new Int32Array(n) },
  boolean: { create: (n) => new Uint8Array(n) },
};

function grow<T extends Data>(data: T, length: number): T {
  const grown = new (data.constructor as new (n: number) => T)(length);
  grown.set(data as never);
  return grown;
}

export class ColumnBuffer {
  data: Data;
  /** 1 where the value is NULL. */
  nulls: Uint8Array;
  /** Texts only. */
  readonly dictionary?: Dictionary;

  constructor(readonly column: Column, capacity: number) {
    this.data = STORAGE[column.type].create(capacity);
    this.nulls = new Uint8Array(capacity);
    if (column.type === 'string' || column.type === 'text') this.dictionary = new Dictionary();
  }

  put(row: number, value: Value): void {
    if (row >= this.data.length) {
      this.data = grow(this.data, this.data.length * 2);
      this.nulls = grow(this.nulls, this.data.length);
    }
    if (value === null) {
      this.nulls[row] = 1;
    } else {
      this.nulls[row] = 0;
      this.data[row] = (this.dictionary ? this.dictionary.code(value as string) : value === true ? 1 : value === false ? 0 : value) as never;
    }
  }
}

export class TableBuffer {
  readonly columns: ColumnBuffer[];
  rows = 0;

  constructor(readonly table: TableName, capacity: number) {
    this.columns = stagedColumns(table).map((column) => new ColumnBuffer(column, capacity));
  }

  /** Appends a row: its values in the staged column order. */
  append(values: readonly Value[]): void {
    const row = this.rows++;
    for (let i = 0; i < this.columns.length; i++) this.columns[i].put(row, values[i]);
  }
}
