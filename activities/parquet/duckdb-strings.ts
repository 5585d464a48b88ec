import duckdb from '@duckdb/node-bindings';
import type { Dictionary } from './table-buffer';

/**
 * A dictionary's texts as DuckDB's C API holds a VARCHAR value (`duckdb_string_t`, duckdb.h): 16 bytes, the
 * UTF-8 length (uint32, little-endian) and, up to 12 bytes, the text itself inlined and zero-padded. Ids, skus and
 * currencies fit, so a vector of them is one memory copy, built from a row's code without a call per value; a
 * longer text needs DuckDB's own heap and is assigned one by one.
 */

/** Bytes of one `duckdb_string_t`. */
export const STRING_BYTES = 16;
const INLINE_BYTES = 12;
const INTS_PER_STRING = STRING_BYTES / 4;

const encoder = new TextEncoder();

export class DictionaryStrings {
  /** Each code's `duckdb_string_t` as four int32 (zero for a text too long to inline). */
  private readonly structs: Int32Array;
  /** 1 where the code's text does not fit inline. */
  private readonly long: Uint8Array;
  private readonly anyLong: boolean;

  constructor(private readonly dictionary: Dictionary) {
    const { values } = dictionary;
    const bytes = new Uint8Array(values.length * STRING_BYTES);
    const view = new DataView(bytes.buffer);
    this.long = new Uint8Array(values.length);
    let anyLong = false;
    for (let code = 0; code < values.length; code++) {
      const offset = code * STRING_BYTES;
      const value = values[code];
      // A UTF-8 text of more than 12 bytes has at least 5 UTF-16 units: shorter ones are encoded to find out.
      const { read, written } = value.length <= INLINE_BYTES ? encoder.encodeInto(value, bytes.subarray(offset + 4, offset + STRING_BYTES)) : { read: -1, written: 0 };
      if (read === value.length) {
        view.setUint32(offset, written, true);
      } else {
        bytes.fill(0, offset, offset + STRING_BYTES);
        this.long[code] = 1;
        anyLong = true;
      }
    }
    this.structs = new Int32Array(bytes.buffer);
    this.anyLong = anyLong;
  }

  /** Fills rows [start, start + count) of a VARCHAR vector with the texts of `codes` (NULL rows are left as they are). */
  copyToVector(vector: duckdb.Vector, codes: Int32Array, nulls: Uint8Array, start: number, count: number): void {
    const out = new Int32Array(count * INTS_PER_STRING);
    const { structs } = this;
    for (let row = 0; row < count; row++) {
      if (nulls[row] === 1) continue;
      const from = codes[start + row] * INTS_PER_STRING;
      const to = row * INTS_PER_STRING;
      out[to] = structs[from];
      out[to + 1] = structs[from + 1];
      out[to + 2] = structs[from + 2];
      out[to + 3] = structs[from + 3];
    }
    duckdb.copy_data_to_vector(vector, 0, out.buffer, 0, out.byteLength);
    if (!this.anyLong) return;
    for (let row = 0; row < count; row++) {
      const code = codes[start + row];
      if (nulls[row] === 0 && this.long[code] === 1) duckdb.vector_assign_string_element(vector, row, this.dictionary.values[code]);
    }
  }
}
