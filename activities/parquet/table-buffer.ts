import * as aq from 'arquero';
import { TABLES, stagedColumns, type Column, type ColumnType, type TableName } from '../../core/schema';

/**
 * The rows of one staged table in a chunk, as typed columns derived from the schema: what the rules fill and the
 * Parquet writer reads, never an object per row. Texts are dictionary-coded (a code per row, each distinct text
 * held once), money is bigint cents, instants are microseconds and dates days since the epoch, UTC.
 */

/** A value as the transform hands it: text, number (int, µs, days), cents, flag, or NULL. */
export type Value = string | number | bigint | boolean | null;

/**
 * The texts of a column, each with its code (its index). A column of repeating texts (users, skus, currencies) holds
 * each once; a key column (order ids) only shares a text with the row before it, as an order's lines do.
 */
export class Dictionary {
  private readonly codes = new Map<string, number>();
  readonly values: string[] = [];
  // An order's lines repeat its texts row after row: the last one is looked up without the map.
  private lastValue: string | undefined;
  private lastCode = 0;

  constructor(private readonly distinct: boolean) {}

  code(value: string): number {
    if (value === this.lastValue) return this.lastCode;
    let code = this.distinct ? this.codes.get(value) : undefined;
    if (code === undefined) {
      code = this.values.length;
      this.values.push(value);
      if (this.distinct) this.codes.set(value, code);
    }
    this.lastValue = value;
    this.lastCode = code;
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
  double: { create: (n) => new Float64Array(n) },
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

  constructor(readonly column: Column, capacity: number, isKey: boolean) {
    this.data = STORAGE[column.type].create(capacity);
    this.nulls = new Uint8Array(capacity);
    if (column.type === 'string' || column.type === 'text') this.dictionary = new Dictionary(!isKey);
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
    this.columns = stagedColumns(table).map((column) => new ColumnBuffer(column, capacity, TABLES[table].key.includes(column.name)));
  }

  /** Appends a row: its values in the staged column order. */
  append(values: readonly Value[]): void {
    const row = this.rows++;
    for (let i = 0; i < this.columns.length; i++) this.columns[i].put(row, values[i]);
  }

  /**
   * The rows as an arquero table over the same typed arrays (no copy): a column per staged column, in order, and
   * its NULL flags as `<column>:null`. Texts are their dictionary codes (see `columns[i].dictionary`).
   */
  toTable(): aq.ColumnTable {
    const data: Record<string, Data> = {};
    for (const { column, data: values, nulls } of this.columns) {
      data[column.name] = values.subarray(0, this.rows);
      data[nullsColumn(column.name)] = nulls.subarray(0, this.rows);
    }
    return aq.table(data);
  }
}

/** The name of a column's NULL flags in `toTable()`. */
export const nullsColumn = (name: string): string => `${name}:null`;
